"""The queue's storage: one small interface, with Redis as its implementation.

Every change of a job's state is one call here, and in Redis one Lua script, so the
invariants of docs/architecture.md hold across every web process and worker node. Key
names carry the demo's slug as a hash tag (`{slug}`) so each script's keys live on one
Redis Cluster slot.
"""

import asyncio
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import redis
import redis.asyncio
from django.conf import settings

from .eta import Pace
from .line import NO_LIMITS, WITHDRAWN, DemoStats, LineConfig, VisitorLimits

LUA_DIR = Path(__file__).parent / "lua"
PREFIX = "lineup"
DEMOS_KEY = f"{PREFIX}:demos"

# Weight of the newest batch in the running averages of batch duration and batch size.
AVERAGE_WEIGHT = 0.2
# A job record that never finishes (its demo deleted, say) is forgotten after a day.
UNFINISHED_JOB_TTL = 24 * 3600
# Redis connections: no socket timeout (redis-py 8 defaults to 5 s), and no client name
# (looking up redis-py's version costs about a millisecond per new connection).
CONNECTION_OPTIONS = {"decode_responses": True, "socket_timeout": None, "driver_info": None}
# Connections of a web process's event loop for admissions.
ASYNC_CONNECTIONS = 32


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


@dataclass(frozen=True)
class TakenJob:
    id: str
    ticket: int
    channel: str
    inputs: list[Any]


@dataclass(frozen=True)
class Taken:
    """What a worker got: `status` is "batch", "wait", "idle", "busy" or "empty"."""

    status: str
    function: str = ""
    jobs: list[TakenJob] = field(default_factory=list)
    wait_ms: int = 0
    seq: int = 0
    stats: DemoStats = DemoStats()


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


# The histograms the scripts keep per demo (lua/_metrics.lua).
HISTOGRAMS = ("wait", "run", "eta_error", "batch")
JOB_FIELDS = ("status", "owner", "outputs", "error", "progress", "partial")


@dataclass(frozen=True)
class JobRecord:
    """A job as stored: its status and owner, its rank while it waits (else None), its
    outcome once ended, and while it runs its latest progress and partial output."""

    status: str
    owner: str
    rank: int | None
    outputs: Any = None
    error: Any = None
    progress: Any = None
    partial: Any = None


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

    def demos(self) -> list[str]:
        """Every demo whose settings were published."""
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
    ) -> Admission:
        """Admit a job, or say why not; "stale" when the settings are no longer `version`
        (None: do not check)."""
        raise NotImplementedError

    def take_batch(self, slug: str, *, slot: str, linger: float = 0) -> Taken:
        raise NotImplementedError

    def wait_for_bell(self, slug: str, *, timeout: float) -> bool:
        """Wait until a join rings the line's bell; False on timeout."""
        raise NotImplementedError

    def renew(self, slug: str, *, slot: str) -> bool:
        raise NotImplementedError

    def finish_batch(
        self, slug: str, *, slot: str, endings: list[Ending], duration: float
    ) -> list[str]:
        raise NotImplementedError

    def reap(self, slug: str) -> Reaped:
        raise NotImplementedError

    def delivered(self, slug: str, job_ids: list[str]) -> None:
        """The visitors were told how these jobs ended: take them out of the outbox."""
        raise NotImplementedError

    def undelivered(self, slug: str, *, older_than: float) -> list[Undelivered]:
        """Endings in the outbox for longer than `older_than` seconds (their sender died)."""
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

    def job(self, slug: str, job_id: str) -> "JobRecord | None":
        """A job as stored, with its rank while it waits; None when there is no such job."""
        raise NotImplementedError

    def count_request(self, name: str, *, window: int = 60) -> tuple[int, int]:
        """Count one request against the counter `name`, which lasts `window` seconds from
        its first request; return the count and the seconds left in the window."""
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


def lua_source(name: str) -> str:
    """A script of lua/, after the helpers every script shares (lua/_metrics.lua)."""
    return (LUA_DIR / "_metrics.lua").read_text() + (LUA_DIR / f"{name}.lua").read_text()


def key(slug: str, name: str) -> str:
    return f"{PREFIX}:{{{slug}}}:{name}"


def job_key(slug: str, job_id: str) -> str:
    return key(slug, f"job:{job_id}")


def worker_key(name: str) -> str:
    return f"{PREFIX}:worker:{name}"


def pool_key(pool: str) -> str:
    """The pool's live workers, by the time their last heartbeat expires."""
    return f"{PREFIX}:pool:{pool}"


def _float(value: str | None) -> float | None:
    return float(value) if value else None


def _json(value: str | None) -> Any:
    return json.loads(value) if value else None


def _join_call(
    slug: str,
    job_id: str,
    owner: str,
    channel: str,
    inputs: list[Any],
    max_rank: int | None,
    version: int | None,
    address: str | None,
    limits: VisitorLimits,
    pace: Pace | None,
) -> tuple[list[str], list[Any]]:
    keys = [
        key(slug, "config"),
        key(slug, "waiting"),
        key(slug, "ticket"),
        job_key(slug, job_id),
        key(slug, "slots"),
        key(slug, "stats"),
        key(slug, f"owner:{owner}"),
        key(slug, f"address:{address}"),
        key(slug, f"rate:owner:{owner}"),
        key(slug, f"rate:address:{address}"),
    ]

    def limit(value: int | None, needs_address: bool = False) -> int | str:
        return "" if not value or (needs_address and address is None) else value

    args = [
        job_id,
        owner,
        channel,
        json.dumps(inputs),
        UNFINISHED_JOB_TTL,
        "" if max_rank is None else max_rank,
        key(slug, ""),
        "" if version is None else version,
        limit(limits.address_active, needs_address=True),
        limit(limits.owner_rate),
        limit(limits.address_rate, needs_address=True),
        "" if pace is None else pace.jobs,
        "" if pace is None else pace.seconds,
    ]
    return keys, args


def _admission(reply: list) -> Admission:
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
    )


class RedisQueueStore(QueueStore):
    def __init__(self, client: redis.Redis):
        self.redis = client
        self.scripts = {
            path.stem: client.register_script(lua_source(path.stem))
            for path in LUA_DIR.glob("*.lua")
            if not path.stem.startswith("_")
        }

    def publish_config(self, slug: str, config: LineConfig) -> None:
        self._publish(slug, config.to_redis())

    def withdraw_config(self, slug: str) -> None:
        self._publish(slug, WITHDRAWN)

    def _publish(self, slug: str, fields: dict[str, str]) -> None:
        with self.redis.pipeline() as pipe:
            pipe.hset(key(slug, "config"), mapping=fields)
            pipe.hincrby(key(slug, "config"), "version", 1)
            pipe.sadd(DEMOS_KEY, slug)
            pipe.execute()

    def config(self, slug: str) -> LineConfig | None:
        return LineConfig.from_redis(self.redis.hgetall(key(slug, "config")))

    def ping(self) -> None:
        self.redis.ping()

    def demos(self) -> list[str]:
        return sorted(self.redis.smembers(DEMOS_KEY))

    def stats(self, slug: str) -> DemoStats:
        return DemoStats(*map(_float, self.redis.hmget(key(slug, "stats"), "avg_run", "avg_batch")))

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
    ) -> Admission:
        keys, args = _join_call(
            slug, job_id, owner, channel, inputs, max_rank, version, address, limits, pace
        )
        return _admission(self.scripts["join"](keys=keys, args=args))

    def take_batch(self, slug: str, *, slot: str, linger: float = 0) -> Taken:
        reply = self.scripts["take_batch"](
            keys=[
                key(slug, "config"),
                key(slug, "waiting"),
                key(slug, "slots"),
                key(slug, "running"),
                key(slug, "stats"),
                key(slug, "detached"),
                key(slug, "idle"),
            ],
            args=[slot, settings.LINEUP_SLOT_LEASE_SECONDS, key(slug, ""), linger],
        )
        status = reply[0]
        if status == "wait":
            return Taken(status, wait_ms=int(reply[1]))
        if status != "batch":
            return Taken(status)
        jobs = [
            TakenJob(
                id=reply[i],
                ticket=int(reply[i + 1]),
                channel=reply[i + 2],
                inputs=json.loads(reply[i + 3]),
            )
            for i in range(5, len(reply), 4)
        ]
        stats = DemoStats(_float(reply[3]), _float(reply[4]))
        return Taken(status, function=reply[1], jobs=jobs, seq=int(reply[2]), stats=stats)

    def wait_for_bell(self, slug: str, *, timeout: float) -> bool:
        return self.redis.blpop([key(slug, "bell")], timeout=timeout) is not None

    def renew(self, slug: str, *, slot: str) -> bool:
        return bool(
            self.scripts["renew"](
                keys=[key(slug, "slots")], args=[slot, settings.LINEUP_SLOT_LEASE_SECONDS]
            )
        )

    def finish_batch(
        self, slug: str, *, slot: str, endings: list[Ending], duration: float
    ) -> list[str]:
        args: list[Any] = [
            settings.LINEUP_RESULT_TTL_SECONDS,
            duration,
            AVERAGE_WEIGHT,
            slot,
            key(slug, ""),
        ]
        for ending in endings:
            args += [ending.job_id, ending.status, json.dumps(ending.payload)]
        return self.scripts["finish_batch"](
            keys=[key(slug, "running"), key(slug, "stats")]
            + [job_key(slug, e.job_id) for e in endings],
            args=args,
        )

    def reap(self, slug: str) -> Reaped:
        reply = self.scripts["reap"](
            keys=[
                key(slug, "config"),
                key(slug, "waiting"),
                key(slug, "slots"),
                key(slug, "running"),
                key(slug, "detached"),
                key(slug, "stats"),
            ],
            args=[key(slug, ""), settings.LINEUP_MAX_ATTEMPTS, settings.LINEUP_RESULT_TTL_SECONDS],
        )
        changes = [
            Change(
                what=reply[i],
                job_id=reply[i + 1],
                ticket=int(reply[i + 2]),
                channel=reply[i + 3],
                error=_json(reply[i + 4]),
            )
            for i in range(2, len(reply), 5)
        ]
        return Reaped(wake=reply[0] == 1, seq=int(reply[1]), changes=changes)

    def delivered(self, slug: str, job_ids: list[str]) -> None:
        if job_ids:
            self.redis.zrem(key(slug, "outbox"), *job_ids)

    def undelivered(self, slug: str, *, older_than: float) -> list[Undelivered]:
        seconds, micros = self.redis.time()
        job_ids = self.redis.zrangebyscore(
            key(slug, "outbox"), "-inf", seconds + micros / 1e6 - older_than
        )
        if not job_ids:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hmget(job_key(slug, job_id), "status", "channel", "outputs", "error")
            found = pipe.execute()
        return [
            Undelivered(job_id, status or "", channel or "", _json(outputs), _json(error))
            for job_id, (status, channel, outputs, error) in zip(job_ids, found)
        ]

    def cancel(self, slug: str, *, job_id: str, owner: str) -> tuple[str, int | str, int, str]:
        reply = self.scripts["cancel"](
            keys=[
                key(slug, "waiting"),
                job_key(slug, job_id),
                key(slug, "stats"),
                key(slug, "detached"),
            ],
            args=[job_id, owner, settings.LINEUP_RESULT_TTL_SECONDS, key(slug, "")],
        )
        if reply[0] == "cancelled":
            return "cancelled", int(reply[1]), int(reply[2]), reply[3]
        return reply[0], reply[1] if len(reply) > 1 else "", 0, ""

    def detach(self, slug: str, job_ids: list[str], *, channel: str, grace_seconds: float) -> None:
        self.scripts["detach"](
            keys=[key(slug, "detached"), *(job_key(slug, job_id) for job_id in job_ids)],
            args=[grace_seconds, channel, *job_ids],
        )

    def resume(self, slug: str, *, job_id: str, owner: str, channel: str) -> Resumed:
        reply = self.scripts["resume"](
            keys=[key(slug, "waiting"), job_key(slug, job_id), key(slug, "detached")],
            args=[job_id, owner, channel, key(slug, "seq")],
        )
        if reply[0] == "unknown":
            return Resumed("unknown")
        return Resumed(
            status=reply[0],
            ticket=int(reply[1]),
            rank=int(reply[2]),
            outputs=_json(reply[3]),
            error=_json(reply[4]),
            seq=int(reply[5]),
            progress=_json(reply[6]),
            partial=_json(reply[7]),
        )

    def note_live(self, slug: str, job_ids: list[str], field: str, values: list[Any]) -> list[str]:
        return self.scripts["live"](
            keys=[job_key(slug, job_id) for job_id in job_ids],
            args=[field, *(json.dumps(value) for value in values)],
        )

    def ranks(self, slug: str, job_ids: list[str]) -> tuple[list[int | None], int]:
        with self.redis.pipeline(transaction=True) as pipe:
            for job_id in job_ids:
                pipe.zrank(key(slug, "waiting"), job_id)
            pipe.get(key(slug, "seq"))
            *ranks, seq = pipe.execute()
        return ranks, int(seq or 0)

    def statuses(self, slug: str, job_ids: list[str]) -> list[str | None]:
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(job_key(slug, job_id), "status")
            return pipe.execute()

    def queue_size(self, slug: str) -> int:
        return self.redis.zcard(key(slug, "waiting"))

    def counters(self, slug: str) -> dict[str, str]:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(key(slug, "stats"))
            pipe.zcard(key(slug, "waiting"))
            pipe.zcard(key(slug, "running"))
            stats, waiting, running = pipe.execute()
        return stats | {"waiting": str(waiting), "running": str(running)}

    def samples(self, slug: str) -> dict[str, list[float]]:
        sizes = sorted(int(size) for size in self.redis.smembers(key(slug, "batch_sizes")))
        names = ["waits", "eta_errors"] + [f"runs:{size}" for size in sizes]
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.lrange(key(slug, name), 0, -1)
            values = pipe.execute()
        return {name: [float(v) for v in found] for name, found in zip(names, values)}

    def clear(self, slug: str, *, error: dict[str, str]) -> tuple[int, list[tuple[str, int, str]]]:
        reply = self.scripts["clear"](
            keys=[key(slug, "waiting"), key(slug, "detached"), key(slug, "stats")],
            args=[key(slug, ""), json.dumps(error), settings.LINEUP_RESULT_TTL_SECONDS],
        )
        rest = reply[1:]
        cleared = [(rest[i], int(rest[i + 1]), rest[i + 2]) for i in range(0, len(rest), 3)]
        return int(reply[0]), cleared

    def histograms(self, slug: str) -> dict[str, dict[str, float]]:
        with self.redis.pipeline(transaction=False) as pipe:
            for name in HISTOGRAMS:
                pipe.hgetall(key(slug, f"hist:{name}"))
            found = pipe.execute()
        return {
            name: {bucket: float(value) for bucket, value in values.items()}
            for name, values in zip(HISTOGRAMS, found)
        }

    def minutes(self, slug: str, count: int) -> list[tuple[int, dict[str, float]]]:
        now, _ = self.redis.time()
        starts = [(now // 60 - n) * 60 for n in range(count - 1, -1, -1)]
        with self.redis.pipeline(transaction=False) as pipe:
            for start in starts:
                pipe.hgetall(key(slug, f"minute:{start // 60}"))
            found = pipe.execute()
        return [
            (start, {name: float(value) for name, value in values.items()})
            for start, values in zip(starts, found)
        ]

    def job(self, slug: str, job_id: str) -> "JobRecord | None":
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(job_key(slug, job_id), *JOB_FIELDS)
            pipe.zrank(key(slug, "waiting"), job_id)
            fields, rank = pipe.execute()
        found = dict(zip(JOB_FIELDS, fields))
        if not found["status"]:
            return None
        return JobRecord(
            status=found["status"],
            owner=found["owner"],
            rank=rank,
            outputs=_json(found["outputs"]),
            error=_json(found["error"]),
            progress=_json(found["progress"]),
            partial=_json(found["partial"]),
        )

    def count_request(self, name: str, *, window: int = 60) -> tuple[int, int]:
        counter = f"{PREFIX}:requests:{name}"
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.expire(counter, window, nx=True)
            pipe.ttl(counter)
            count, _, left = pipe.execute()
        return count, max(1, left)

    def worker_heartbeat(self, name: str, about: dict[str, Any], *, ttl: float) -> None:
        seconds, micros = self.redis.time()
        expires = seconds + micros / 1e6 + ttl
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(worker_key(name), json.dumps(about), px=int(ttl * 1000))
            for pool in about["pools"]:
                pipe.zremrangebyscore(pool_key(pool), "-inf", expires - ttl)  # the dead
                pipe.zadd(pool_key(pool), {name: expires})
                pipe.expire(pool_key(pool), int(ttl) + 1)
            pipe.execute()

    def worker_gone(self, name: str, pools: list[str]) -> None:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.delete(worker_key(name))
            for pool in pools:
                pipe.zrem(pool_key(pool), name)
            pipe.execute()

    def pool_alive(self, pool: str) -> bool:
        seconds, micros = self.redis.time()  # Redis's clock, as the heartbeats use
        return self.redis.zcount(pool_key(pool), seconds + micros / 1e6, "+inf") > 0

    def live_workers(self, pool: str) -> list[dict[str, Any]]:
        seconds, micros = self.redis.time()
        names = self.redis.zrangebyscore(pool_key(pool), seconds + micros / 1e6, "+inf")
        if not names:
            return []
        return [json.loads(about) for about in self.redis.mget(map(worker_key, names)) if about]


class AsyncRedisQueueStore:
    """The admission path of a web process, on its event loop (no thread hop per join).
    Same keys and scripts as RedisQueueStore."""

    def __init__(self, client: redis.asyncio.Redis):
        self.redis = client
        self.join_script = client.register_script(lua_source("join"))

    async def config(self, slug: str) -> LineConfig | None:
        return LineConfig.from_redis(await self.redis.hgetall(key(slug, "config")))

    async def join(
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
    ) -> Admission:
        keys, args = _join_call(
            slug, job_id, owner, channel, inputs, max_rank, version, address, limits, pace
        )
        return _admission(await self.join_script(keys=keys, args=args))

    async def pool_alive(self, pool: str) -> bool:
        seconds, micros = await self.redis.time()  # Redis's clock, as the heartbeats use
        return await self.redis.zcount(pool_key(pool), seconds + micros / 1e6, "+inf") > 0


_async_stores: dict[asyncio.AbstractEventLoop, AsyncRedisQueueStore] = {}


def get_async_store() -> AsyncRedisQueueStore:
    """The running event loop's async store (async connections belong to one loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _async_stores:
        # A burst of joins waits for one of a few connections rather than opening hundreds.
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings.REDIS_URL,
            max_connections=ASYNC_CONNECTIONS,
            timeout=None,
            **CONNECTION_OPTIONS,
        )
        _async_stores[loop] = AsyncRedisQueueStore(redis.asyncio.Redis(connection_pool=pool))
    return _async_stores[loop]


@cache
def get_store() -> QueueStore:
    """This process's store, on the Redis of settings.REDIS_URL."""
    client = redis.Redis.from_url(settings.REDIS_URL, max_connections=1000, **CONNECTION_OPTIONS)
    return RedisQueueStore(client)
