"""What a demo's line is made of: its settings, its measured pace, and the site's limits on
one visitor. Plain values, shared by every layer; LineConfig is the one place settings are
encoded for Redis (the scripts read the same fields)."""

import json
from dataclasses import dataclass, fields
from typing import Any

# How far one job moves a lane of weight 1 along the line's clock (docs/architecture.md,
# "Lanes"): a lane of weight w moves by TICKS_PER_JOB // w, so it gets w turns for each turn
# of a lane of weight 1 while both have jobs waiting.
TICKS_PER_JOB = 65536


@dataclass(frozen=True)
class Lane:
    """A tier's lane in a line: its weight there (its share of the turns while the line is
    busy), the most jobs one visitor of the tier may have waiting or running in one line
    (None: the demo's own limit), the GPU seconds a day one visitor may use (None: no
    quota), and whether the demo refuses the tier."""

    name: str
    weight: int = 1
    max_active: int | None = None
    daily_seconds: float | None = None
    refused: bool = False  # its visitors may not use this demo

    @property
    def step(self) -> int:
        return max(TICKS_PER_JOB // self.weight, 1)


# The lane of every visitor when the site defines no tiers.
DEFAULT_LANE = Lane("default")

# Quotas are counted by the day, in UTC.
DAY_SECONDS = 86400


def quota_day(now: float) -> int:
    """The number of the day (since 1970, UTC) that `now` falls in."""
    return int(now // DAY_SECONDS)


@dataclass(frozen=True)
class QuotaCheck:
    """What a join checks of its owner's quota: the GPU seconds they may still use today in
    this line (their quota, less what they used in other lines), and the share of a batch's
    run time one job is expected to take."""

    day: int
    budget: float
    job_seconds: float


@dataclass(frozen=True)
class LineConfig:
    """A demo's queue settings, as every join and batch reads them (docs/architecture.md).

    `version` counts the settings' publications: a join made with older settings is
    refused as stale by join.lua and made again with the new ones."""

    function: str
    enabled: bool = True
    paused: bool = False
    max_size: int | None = None
    max_wait_seconds: int | None = None
    max_per_owner: int | None = None
    concurrency: int = 1
    batch: bool = False
    max_batch_size: int = 1
    batch_wait_ms: int = 0
    timeout: int = 60
    expected_seconds: float = 1.0
    pool: str = "default"
    api_open: bool = True
    # The site's tiers (queueapp.models.Tier) on the demo's terms, and the lanes of visitors
    # not signed in and of signed-in users without a tier of their own.
    lanes: tuple[Lane, ...] = ()
    anonymous_lane: str = ""
    signed_in_lane: str = ""
    version: int = 0

    def lane(self, name: str) -> Lane:
        """The lane called `name`; the default lane if there is none such."""
        return next((lane for lane in self.lanes if lane.name == name), DEFAULT_LANE)

    @classmethod
    def from_demo(
        cls,
        demo: Any,
        lanes: tuple[Lane, ...] = (),
        anonymous_lane: str = "",
        signed_in_lane: str = "",
    ) -> "LineConfig":
        """The settings of a `models_registry.models.Demo`, with the site's lanes."""
        return cls(
            lanes=lanes,
            anonymous_lane=anonymous_lane,
            signed_in_lane=signed_in_lane or anonymous_lane,
            function=demo.function,
            enabled=demo.enabled,
            paused=demo.paused,
            max_size=demo.max_size,
            max_wait_seconds=demo.max_wait_seconds,
            max_per_owner=demo.max_jobs_per_visitor,
            concurrency=demo.concurrency_count,
            batch=demo.batch,
            max_batch_size=demo.max_batch_size if demo.batch else 1,
            batch_wait_ms=demo.batch_wait_ms,
            timeout=demo.job_timeout_seconds,
            expected_seconds=demo.expected_seconds,
            pool=demo.worker_pool,
            api_open=demo.api_open,
        )

    def to_redis(self) -> dict[str, str]:
        """The fields of the demo's config hash (its version is counted by Redis)."""
        return {
            field.name: _encode(getattr(self, field.name))
            for field in fields(self)
            if field.name != "version"
        }

    @classmethod
    def from_redis(cls, stored: dict[str, str]) -> "LineConfig | None":
        """The settings in a config hash; None when it holds none (never published, or lost)."""
        if not stored.get("function"):
            return None
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name in stored:
                values[field.name] = _decode(stored[field.name], field.type)
        return cls(**values)


# Withdrawing a deleted demo switches its line off, whatever else its hash holds.
WITHDRAWN = {"enabled": "0"}


def _encode(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):  # the lanes
        return json.dumps(
            [
                [lane.name, lane.weight, lane.max_active, lane.daily_seconds, lane.refused]
                for lane in value
            ]
        )
    return str(value)


def _decode(text: str, kind: Any) -> Any:
    """A field's value from its text; `kind` is the field's type (numbers may be None)."""
    if kind is bool:
        return text == "1"
    if kind is str:
        return text
    if kind == tuple[Lane, ...]:
        return tuple(Lane(*fields) for fields in json.loads(text or "[]"))
    if text == "":
        return None
    return float(text) if kind is float else int(text)


@dataclass(frozen=True)
class DemoStats:
    """Running averages of a demo's batches: duration in seconds and jobs per batch."""

    avg_run: float | None = None
    avg_batch: float | None = None


@dataclass(frozen=True)
class VisitorLimits:
    """Limits on one visitor in a demo's line besides the demo's own (None or 0: no limit):
    active jobs per network address, and joins a minute per owner and per address."""

    address_active: int | None = None
    owner_rate: int | None = None
    address_rate: int | None = None


NO_LIMITS = VisitorLimits()
