"""The Lua scripts that change a line (lua/), one per change of a job's state. Per script:
the KEYS and ARGV it is called with, built from typed arguments, and the reading of its
reply into a typed value, next to each other and in the order of the script's header.

Every script is loaded after the prelude every script shares (lua/_prelude.lua), and after
the constants that Python and Lua must agree on, written here once.
"""

import json
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..eta import Pace
from ..line import DemoStats, Lane, QuotaCheck, VisitorLimits, quota_day
from .base import (
    UNFINISHED_JOB_TTL,
    Admission,
    Change,
    Ending,
    Reaped,
    Resumed,
    Taken,
    TakenJob,
)
from .keys import job_key, key, rate_key, usage_key

LUA_DIR = Path(__file__).parent / "lua"
NAMES = ("join", "take_batch", "renew", "finish_batch", "reap", "cancel", "detach", "resume")
NAMES += ("live", "clear", "claim_outbox")

# The histograms' bucket bounds, in seconds and in jobs (the metrics endpoint reads them too).
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
SIZES = (1, 2, 4, 8, 16, 32, 64, 128)
# How long a wake-up stays pending: no other worker is woken meanwhile, in milliseconds.
WAKE_MARK_MS = 2000
# Weight of the newest batch in the running averages of batch duration and batch size.
AVERAGE_WEIGHT = 0.2


def _lua_list(values: tuple) -> str:
    return "{" + ", ".join(f"{value:g}" for value in values) + "}"


CONSTANTS = f"""local SECONDS = {_lua_list(SECONDS)}
local SIZES = {_lua_list(SIZES)}
local WAKE_MARK_MS = {WAKE_MARK_MS}
"""


@cache
def source(name: str) -> str:
    """A script of lua/ as Redis runs it: constants, prelude, then the script (read once per
    process)."""
    return (
        CONSTANTS + (LUA_DIR / "_prelude.lua").read_text() + (LUA_DIR / f"{name}.lua").read_text()
    )


@dataclass(frozen=True)
class Call:
    """A script's KEYS and ARGV."""

    keys: list[str]
    args: list[Any]


def _float(value: str | None) -> float | None:
    return float(value) if value else None


def _json(value: str | None) -> Any:
    return json.loads(value) if value else None


def _blank(value: Any) -> Any:
    """None as the scripts' "not given": an empty string."""
    return "" if value is None else value


# --- join.lua --------------------------------------------------------------------------


def join_call(
    slug: str,
    *,
    job_id: str,
    owner: str,
    channel: str,
    inputs: list[Any],
    max_rank: int | None,
    version: int | None,
    address: str | None,
    limits: VisitorLimits,
    pace: Pace | None,
    lane: Lane,
    quota: QuotaCheck | None,
    several_lanes: bool,
) -> Call:
    def limit(value: int | None, needs_address: bool = False) -> int | str:
        return "" if not value or (needs_address and address is None) else value

    keys = [
        key(slug, "config"),
        key(slug, "waiting"),
        key(slug, "ticket"),
        job_key(slug, job_id),
        key(slug, "slots"),
        key(slug, "stats"),
        key(slug, "active"),
        rate_key(slug, "owner", owner),
        rate_key(slug, "address", address),
        key(slug, "idle"),
        key(slug, "bell"),
        key(slug, "woken"),
        key(slug, "seq"),
        key(slug, "minutes"),
        key(slug, "lanes"),
        usage_key(slug, quota.day if quota else quota_day(time.time())),
    ]
    args = [
        job_id,
        owner,
        channel,
        json.dumps(inputs),
        UNFINISHED_JOB_TTL,
        _blank(max_rank),
        _blank(address),
        _blank(version),
        limit(limits.address_active, needs_address=True),
        limit(limits.owner_rate),
        limit(limits.address_rate, needs_address=True),
        "" if pace is None else pace.jobs,
        "" if pace is None else pace.seconds,
        lane.name,
        lane.step,
        _blank(lane.max_active),
        "" if quota is None else quota.budget,
        "" if quota is None else quota.job_seconds,
        "1" if several_lanes else "",
    ]
    return Call(keys, args)


def join_reply(reply: list) -> Admission:
    status = reply[0]
    if status != "ok":
        if len(reply) < 4:
            return Admission(status)
        return Admission(
            status, detail=int(reply[1]), stats=DemoStats(_float(reply[2]), _float(reply[3]))
        )
    return Admission(
        status,
        ticket=int(reply[1]),
        rank=int(reply[2]),
        wake=reply[3] == 1,
        stats=DemoStats(_float(reply[4]), _float(reply[5])),
        created=float(reply[6]),
        seq=int(reply[7]),
        ahead=int(reply[8]),
        eta=_float(reply[9]),
        room=int(reply[10]),
        rate=float(reply[11]),
    )


# --- take_batch.lua --------------------------------------------------------------------


def take_batch_call(slug: str, *, slot: str, lease: float, linger: float, head: list[str]) -> Call:
    """`head`: the ids at the head of the line, as the caller just read them."""
    keys = [
        key(slug, "config"),
        key(slug, "waiting"),
        key(slug, "slots"),
        key(slug, "running"),
        key(slug, "stats"),
        key(slug, "detached"),
        key(slug, "idle"),
        key(slug, "woken"),
        key(slug, "seq"),
        key(slug, "waits"),
        key(slug, "eta_errors"),
        key(slug, "hist"),
        key(slug, "minutes"),
    ]
    keys += [job_key(slug, job_id) for job_id in head]
    return Call(keys, [slot, lease, linger, *head])


def take_batch_reply(reply: list) -> tuple[Taken, list[str]]:
    """What the worker got, and the head of the line left after its batch."""
    status = reply[0]
    if status == "wait":
        return Taken(status, wait_ms=int(reply[1]), size=int(reply[2])), []
    if status == "retry":
        return Taken(status, size=int(reply[1])), []
    if status != "batch":
        return Taken(status), []
    function, seq, avg_run, avg_batch, count, *rest = reply[1:]
    rows, head = rest[: 4 * count], rest[4 * count :]
    jobs = [
        TakenJob(
            id=rows[i], ticket=int(rows[i + 1]), channel=rows[i + 2], inputs=json.loads(rows[i + 3])
        )
        for i in range(0, len(rows), 4)
    ]
    stats = DemoStats(_float(avg_run), _float(avg_batch))
    return Taken(status, function=function, jobs=jobs, seq=int(seq), stats=stats), head


# --- renew.lua -------------------------------------------------------------------------


def renew_call(slug: str, *, slot: str, lease: float) -> Call:
    return Call([key(slug, "slots")], [slot, lease])


# --- finish_batch.lua ------------------------------------------------------------------


def finish_batch_call(
    slug: str, *, slot: str, endings: list[Ending], duration: float, keep_seconds: int
) -> Call:
    keys = [
        key(slug, "running"),
        key(slug, "stats"),
        key(slug, "outbox"),
        key(slug, "active"),
        key(slug, "hist"),
        key(slug, "minutes"),
        key(slug, f"runs:{len(endings)}"),
        key(slug, "batch_sizes"),
        usage_key(slug, quota_day(time.time())),
    ]
    keys += [job_key(slug, ending.job_id) for ending in endings]
    args: list[Any] = [keep_seconds, duration, AVERAGE_WEIGHT, slot]
    for ending in endings:
        args += [ending.job_id, ending.status, json.dumps(ending.payload)]
    return Call(keys, args)


def finish_batch_reply(reply: list[str]) -> list[str | None]:
    """Per job, its reply channel ("" for none) when its ending was recorded; else None."""
    return [entry[1:] if entry.startswith("+") else None for entry in reply]


# --- reap.lua --------------------------------------------------------------------------


def reap_call(
    slug: str, *, running: list[str], detached: list[str], max_attempts: int, keep_seconds: int
) -> Call:
    """`running`, `detached`: the jobs to look at, as the caller just read them."""
    keys = [
        key(slug, "config"),
        key(slug, "waiting"),
        key(slug, "slots"),
        key(slug, "running"),
        key(slug, "detached"),
        key(slug, "stats"),
        key(slug, "outbox"),
        key(slug, "active"),
        key(slug, "woken"),
        key(slug, "seq"),
        usage_key(slug, quota_day(time.time())),
    ]
    named = running + detached
    keys += [job_key(slug, job_id) for job_id in named]
    return Call(keys, [max_attempts, keep_seconds, len(running), *named])


def reap_reply(reply: list) -> Reaped:
    wake, seq, *rows = reply
    changes = [
        Change(
            what=rows[i],
            job_id=rows[i + 1],
            ticket=int(rows[i + 2]),
            channel=rows[i + 3],
            error=_json(rows[i + 4]),
        )
        for i in range(0, len(rows), 5)
    ]
    return Reaped(wake=wake == 1, seq=int(seq), changes=changes)


# --- cancel.lua ------------------------------------------------------------------------


def cancel_call(slug: str, *, job_id: str, owner: str, keep_seconds: int) -> Call:
    keys = [
        key(slug, "waiting"),
        job_key(slug, job_id),
        key(slug, "stats"),
        key(slug, "detached"),
        key(slug, "outbox"),
        key(slug, "active"),
        key(slug, "seq"),
    ]
    return Call(keys, [job_id, owner, keep_seconds])


def cancel_reply(reply: list) -> tuple[str, int | str, int, str]:
    if reply[0] == "cancelled":
        return "cancelled", int(reply[1]), int(reply[2]), reply[3]
    return reply[0], reply[1] if len(reply) > 1 else "", 0, ""


# --- detach.lua ------------------------------------------------------------------------


def detach_call(slug: str, job_ids: list[str], *, channel: str, grace_seconds: float) -> Call:
    keys = [key(slug, "detached"), *(job_key(slug, job_id) for job_id in job_ids)]
    return Call(keys, [grace_seconds, channel, *job_ids])


# --- resume.lua ------------------------------------------------------------------------


def resume_call(slug: str, *, job_id: str, owner: str, channel: str) -> Call:
    keys = [key(slug, "waiting"), job_key(slug, job_id), key(slug, "detached"), key(slug, "seq")]
    return Call(keys, [job_id, owner, channel])


def resume_reply(reply: list) -> Resumed:
    if reply[0] == "unknown":
        return Resumed("unknown")
    status, ticket, rank, outputs, error, seq, progress, partial = reply
    return Resumed(
        status=status,
        ticket=int(ticket),
        rank=int(rank),
        outputs=_json(outputs),
        error=_json(error),
        seq=int(seq),
        progress=_json(progress),
        partial=_json(partial),
    )


# --- live.lua --------------------------------------------------------------------------


def live_call(slug: str, job_ids: list[str], field: str, values: list[Any]) -> Call:
    keys = [job_key(slug, job_id) for job_id in job_ids]
    return Call(keys, [field, *(json.dumps(value) for value in values)])


# --- clear.lua -------------------------------------------------------------------------


def clear_call(slug: str, *, job_ids: list[str], error: dict[str, str], keep_seconds: int) -> Call:
    """`job_ids`: the waiting jobs, as the caller just read them."""
    keys = [
        key(slug, "waiting"),
        key(slug, "detached"),
        key(slug, "stats"),
        key(slug, "outbox"),
        key(slug, "active"),
        key(slug, "seq"),
    ]
    keys += [job_key(slug, job_id) for job_id in job_ids]
    return Call(keys, [json.dumps(error), keep_seconds, *job_ids])


def clear_reply(reply: list) -> tuple[int, list[tuple[str, int, str]]]:
    seq, *rows = reply
    cleared = [(rows[i], int(rows[i + 1]), rows[i + 2]) for i in range(0, len(rows), 3)]
    return int(seq), cleared


def claim_outbox_call(slug: str, *, older_than: float) -> Call:
    return Call([key(slug, "outbox")], [older_than])
