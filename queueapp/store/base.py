"""What the engine needs from its storage: one small interface, and the typed replies of
its operations. Redis implements it (redis_store.py)."""

from dataclasses import dataclass, field
from typing import Any

from ..eta import Pace
from ..line import (
    DEFAULT_LANE,
    NO_LIMITS,
    DemoStats,
    Lane,
    LineConfig,
    QuotaCheck,
    VisitorLimits,
)

# A job record that never finishes (its demo deleted, say) is forgotten after a day.
UNFINISHED_JOB_TTL = 24 * 3600
# How much of a line is read to count its waiting jobs by lane (the dashboard, /metrics).
LANE_SAMPLE = 5000


@dataclass(frozen=True)
class Admission:
    """The outcome of a join: `status` is "ok", "full", "too_long", "owner_limit",
    "disabled", "no_config" or "stale"; `detail` is the line's length or the owner's
    active jobs."""

    status: str
    ticket: int = 0
    rank: int = 0
    wake: bool = False  # whether to wake a worker of the demo's pool
    stats: DemoStats = DemoStats()
    created: float = 0.0
    detail: int = 0
    seq: int = 0
    ahead: int = 0  # how many waiting jobs it was placed ahead of (a heavier lane's job)
    eta: float | None = None  # its ETA, as join.lua recorded it (None: no pace was given)
    room: int = 0  # how many jobs other lanes may still place ahead of it
    rate: float = 0.0  # how fast those lanes send jobs (joins a second)


@dataclass(frozen=True)
class TakenJob:
    id: str
    ticket: int
    channel: str
    inputs: list[Any]


@dataclass(frozen=True)
class Taken:
    """What a worker got: `status` is "batch", "wait", "idle", "busy", "paused" or "empty"
    ("retry" only inside the store: read `size` jobs of the head of the line again). "wait":
    a partial batch waits up to `wait_ms` for more jobs; `size` jobs of the head are read
    when it takes again."""

    status: str
    function: str = ""
    jobs: list[TakenJob] = field(default_factory=list)
    wait_ms: int = 0
    size: int = 0
    seq: int = 0
    stats: DemoStats = DemoStats()
    # False when the replicas asked for (LINEUP_REDIS_MIN_REPLICAS) did not confirm the take
    # in time: a failover could then hand the batch out again, so it must not run.
    replicated: bool = True

    @property
    def runnable(self) -> bool:
        """A batch that its worker runs now."""
        return self.status == "batch" and self.replicated and bool(self.jobs)


@dataclass(frozen=True)
class Ending:
    job_id: str
    status: str  # "completed" or "failed"
    payload: Any


@dataclass(frozen=True)
class Change:
    """A job the reaper moved: "requeued", or ended as "failed" or "expired"."""

    what: str
    job_id: str
    ticket: int
    channel: str
    error: Any


@dataclass(frozen=True)
class Undelivered:
    job_id: str
    status: str
    channel: str
    outputs: Any
    error: Any


@dataclass(frozen=True)
class Reaped:
    wake: bool
    seq: int
    changes: list[Change]


@dataclass(frozen=True)
class Resumed:
    """A job as its owner finds it again: status, ticket, rank (-1 unless waiting), outcome,
    and while it runs, its latest progress and partial output (None when there is none)."""

    status: str
    ticket: int = 0
    rank: int = -1
    outputs: Any = None
    error: Any = None
    seq: int = 0
    progress: Any = None
    partial: Any = None


@dataclass(frozen=True)
class OwnerLine:
    """What an owner has in one demo's line today: the GPU seconds charged to them, their
    jobs waiting or running there, and (where they have any) the line's settings and
    averages, to tell what those jobs will use."""

    slug: str
    used: float
    active: int
    config: LineConfig | None = None
    stats: DemoStats = DemoStats()


@dataclass(frozen=True)
class JobRecord:
    """A job as stored: its status and owner, its rank while it waits (else None), its
    outcome once ended, and while it runs its latest progress and partial output, and the
    last lines its function logged (`{n, log, level}`, numbered from 1)."""

    status: str
    owner: str
    rank: int | None
    outputs: Any = None
    error: Any = None
    progress: Any = None
    partial: Any = None
    logs: list = field(default_factory=list)


class QueueStore:
    """What the engine needs from its storage."""

    def publish_config(self, slug: str, config: LineConfig) -> None:
        raise NotImplementedError

    def withdraw_config(self, slug: str) -> None:
        """Switch the demo's line off: it takes no more jobs."""
        raise NotImplementedError

    def config(self, slug: str) -> LineConfig | None:
        """The demo's published settings; None when there are none."""
        raise NotImplementedError

    def ping(self) -> None:
        """Raise unless the storage answers."""
        raise NotImplementedError

    def server_settings(self, names: list[str]) -> dict[str, str]:
        """The storage server's own settings of these names (those it has)."""
        raise NotImplementedError

    def usage(self, owner: str, day: int) -> dict[str, float]:
        """The GPU seconds `owner` was charged on `day`, by demo (those with any)."""
        raise NotImplementedError

    def demos(self) -> list[str]:
        """Every demo whose settings were published."""
        raise NotImplementedError

    def note_revocation(self) -> None:
        """Mark that an API key was revoked (`AsyncRedisQueueStore.revocations` changes)."""
        raise NotImplementedError

    def stats(self, slug: str) -> DemoStats:
        raise NotImplementedError

    def join(
        self,
        slug: str,
        *,
        job_id: str,
        owner: str,
        channel: str,
        inputs: list[Any],
        max_rank: int | None = None,
        version: int | None = None,
        address: str | None = None,
        limits: VisitorLimits = NO_LIMITS,
        pace: Pace | None = None,
        lane: Lane = DEFAULT_LANE,
        quota: QuotaCheck | None = None,
        several_lanes: bool = True,
    ) -> Admission:
        """Admit a job, or say why not; "stale" when the settings are no longer `version`
        (None: do not check). `several_lanes` False spares the estimate of what other lanes
        may place ahead, where the site has no tiers."""
        raise NotImplementedError

    def take_batch(self, slug: str, *, slot: str, linger: float = 0) -> Taken:
        raise NotImplementedError

    def wait_for_bell(self, slug: str, *, slot: str, timeout: float, filling: bool = False) -> bool:
        """Wait until a join rings the line's bell for the worker holding `slot`; False on
        timeout. On an empty line the job that rings is the head of the line; `filling`: the
        slot's partial batch waits for more jobs, and the job that rings is its last."""
        raise NotImplementedError

    def renew(self, slug: str, *, slot: str) -> bool:
        raise NotImplementedError

    def finish_batch(
        self, slug: str, *, slot: str, endings: list[Ending], duration: float
    ) -> list[str | None]:
        """Record the endings of a batch this slot runs. Per job, its reply channel ("" for a
        job without one) when its ending was recorded here; None when it was recorded
        elsewhere (cancelled, timed out, or given to another worker)."""
        raise NotImplementedError

    def finish_and_take(
        self, slug: str, *, slot: str, endings: list[Ending], duration: float, linger: float = 0
    ) -> tuple[list[str | None], Taken]:
        """finish_batch, then take_batch for the same slot, in one step: the batch's reply
        channels, and what the slot takes next."""
        raise NotImplementedError

    def reap(self, slug: str) -> Reaped:
        raise NotImplementedError

    def delivered(self, slug: str, job_ids: list[str]) -> None:
        """The visitors were told how these jobs ended: take them out of the outbox."""
        raise NotImplementedError

    def undelivered(self, slug: str, *, older_than: float) -> list[Undelivered]:
        """Endings in the outbox for longer than `older_than` seconds (their sender died),
        claimed: another call finds them only after `older_than` seconds more, so two
        sweepers at once do not both send them."""
        raise NotImplementedError

    def cancel(self, slug: str, *, job_id: str, owner: str) -> tuple[str, int | str, int, str]:
        """("cancelled", ticket, line seq, the job's reply channel), ("not_waiting", status,
        0, "") or ("unknown", "", 0, "")."""
        raise NotImplementedError

    def detach(self, slug: str, job_ids: list[str], *, channel: str, grace_seconds: float) -> None:
        """Start the reconnect grace of the jobs whose updates still go to `channel`."""
        raise NotImplementedError

    def resume(self, slug: str, *, job_id: str, owner: str, channel: str) -> Resumed:
        raise NotImplementedError

    def note_live(self, slug: str, job_ids: list[str], field: str, values: list[Any]) -> list[str]:
        """Keep running jobs' latest `progress` or `partial` output; return each job's reply
        channel now ("" for a job that no longer runs)."""
        raise NotImplementedError

    def ranks(self, slug: str, job_ids: list[str]) -> tuple[list[int | None], int]:
        """The jobs' ranks (None: not waiting) and the line's seq, read at one instant."""
        raise NotImplementedError

    def statuses(self, slug: str, job_ids: list[str]) -> list[str | None]:
        raise NotImplementedError

    def queue_size(self, slug: str) -> int:
        raise NotImplementedError

    def counters(self, slug: str) -> dict[str, str]:
        raise NotImplementedError

    def lane_waiting(self, slug: str, limit: int = LANE_SAMPLE) -> dict[str, int]:
        """Jobs waiting by lane, among the first `limit` of the line."""
        raise NotImplementedError

    def samples(self, slug: str) -> dict[str, list[float]]:
        """Recent waits, ETA errors, and run times by batch size ("runs:<size>")."""
        raise NotImplementedError

    def clear(self, slug: str, *, error: dict[str, str]) -> tuple[int, list[tuple[str, int, str]]]:
        """End every waiting job of the line with `error`; return the line's seq and the
        cleared jobs as (id, ticket, reply channel)."""
        raise NotImplementedError

    def histograms(self, slug: str) -> dict[str, dict[str, float]]:
        """The demo's histograms (wait, run, eta_error, batch): count per bucket upper
        bound ("+Inf" for the last), and "sum"."""
        raise NotImplementedError

    def minutes(self, slug: str, count: int) -> list[tuple[int, dict[str, float]]]:
        """The demo's counters of each of the last `count` minutes, oldest first, as
        (the minute's start in Unix seconds, counters)."""
        raise NotImplementedError

    def jobs(self, slug: str, job_ids: list[str]) -> "list[JobRecord | None]":
        """`job` for several jobs, read at one instant."""
        raise NotImplementedError

    def job(self, slug: str, job_id: str) -> "JobRecord | None":
        """A job as stored, with its rank while it waits; None when there is no such job."""
        raise NotImplementedError

    def count_request(self, name: str, *, window: int = 60) -> tuple[int, int]:
        """Count one request against the counter `name`, which lasts `window` seconds from
        its first request; return the count and the seconds left in the window."""
        raise NotImplementedError

    def session_follow(self, slug: str, session: str, job_id: str, ttl: float) -> None:
        """A client session (Gradio's `session_hash`) has the job among its events; the
        session is kept `ttl` seconds after its last job."""
        raise NotImplementedError

    def session_events(self, slug: str, session: str) -> list[str]:
        """The session's jobs whose endings it has not been told yet, oldest first."""
        raise NotImplementedError

    def session_forget(self, slug: str, session: str, job_ids: list[str]) -> None:
        """The session was told these jobs' endings."""
        raise NotImplementedError

    def worker_heartbeat(self, name: str, about: dict[str, Any], *, ttl: float) -> None:
        """A worker process is alive, for `ttl` seconds more; `about` says what it is."""
        raise NotImplementedError

    def worker_gone(self, name: str, pools: list[str]) -> None:
        raise NotImplementedError

    def live_workers(self, pool: str) -> list[dict[str, Any]]:
        """What the pool's live workers said of themselves in their last heartbeat."""
        raise NotImplementedError

    def pool_alive(self, pool: str) -> bool:
        """Whether a worker of the pool has a heartbeat that has not expired."""
        raise NotImplementedError
