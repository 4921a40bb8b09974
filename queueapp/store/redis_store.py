"""The queue's storage on Redis: every change of a job's state is one Lua script
(scripts.py), so the invariants of docs/architecture.md hold across every web process and
worker node; reads are plain commands, pipelined."""

import asyncio
import json
import secrets
import time
from collections import Counter
from dataclasses import replace
from functools import cache
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from django.conf import settings
from redis.exceptions import NoScriptError

from ..eta import Pace
from ..line import (
    DEFAULT_LANE,
    NO_LIMITS,
    WITHDRAWN,
    DemoStats,
    Lane,
    LineConfig,
    QuotaCheck,
    VisitorLimits,
)
from . import scripts
from .base import (
    LANE_SAMPLE,
    Admission,
    Ending,
    JobRecord,
    OwnerLine,
    QueueStore,
    Reaped,
    Resumed,
    Taken,
    Undelivered,
)
from .keys import (
    DEMOS_KEY,
    REVOCATIONS_KEY,
    job_key,
    key,
    pool_key,
    requests_key,
    session_key,
    usage_key,
    worker_key,
)

# Redis connections: no socket timeout (redis-py 8 defaults to 5 s), and no client name
# (looking up redis-py's version costs about a millisecond per new connection).
CONNECTION_OPTIONS = {"decode_responses": True, "socket_timeout": None, "driver_info": None}
# Connections of a web process's event loop for admissions.
ASYNC_CONNECTIONS = 32
# A sweep looks at most at this many departed visitors' jobs of a line (the next sweep at the
# rest).
REAP_DETACHED = 200
# How often a worker reads the head of a line again when other workers keep taking it.
MAX_READS_OF_THE_HEAD = 100
# The histograms the scripts keep per demo.
HISTOGRAMS = ("wait", "run", "eta_error", "batch")
JOB_FIELDS = ("status", "owner", "outputs", "error", "progress", "partial", "logs")


def _float(value: str | None) -> float | None:
    return float(value) if value else None


def _json(value: str | None) -> Any:
    return json.loads(value) if value else None


def _record(fields: list, rank: int | None) -> JobRecord | None:
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
        logs=_json(found["logs"]) or [],
    )


class RedisQueueStore(QueueStore):
    def __init__(self, client: redis.Redis):
        self.redis = client
        self._head_lengths: dict[str, int] = {}  # how much of each line's head to read
        self._heads_seen: dict[tuple[str, str], list[str]] = {}  # (line, slot) -> its head
        self.scripts = {
            name: client.register_script(scripts.source(name)) for name in scripts.NAMES
        }

    def _run(self, name: str, call: scripts.Call) -> Any:
        return self.scripts[name](keys=call.keys, args=call.args)

    def _run_replicated(self, name: str, call: scripts.Call) -> tuple[Any, bool]:
        """Run a script, then wait (on the same connection, as WAIT asks) until
        LINEUP_REDIS_MIN_REPLICAS replicas have its writes; the reply, and whether they do."""
        if not settings.LINEUP_REDIS_MIN_REPLICAS:
            return self._run(name, call), True
        (reply,), replicated = self._run_in_one_trip([(name, call)])
        return reply, replicated

    def _run_in_one_trip(
        self, calls: list[tuple[str, scripts.Call]], *, load_missing: bool = True
    ) -> tuple[list[Any], bool]:
        """Run scripts one after the other in one round trip, then wait for the replicas as
        _run_replicated does: the replies, and whether the replicas have the writes. A
        script Redis no longer holds (after a restart) is loaded and run again on its own,
        once.

        The scripts are not one transaction: when one fails, the others' writes stand, and
        its error is raised. finish_and_take is the one caller with two scripts; a take that
        ran after a finish that failed is left to its lease, as a dead worker's batch is."""
        wanted = settings.LINEUP_REDIS_MIN_REPLICAS
        # EVALSHA itself: a pipeline of redis-py's Script objects first asks whether the
        # scripts exist, a round trip of its own every time.
        with self.redis.pipeline(transaction=False) as pipe:
            for name, call in calls:
                pipe.evalsha(self.scripts[name].sha, len(call.keys), *call.keys, *call.args)
            if wanted:
                pipe.wait(wanted, settings.LINEUP_REDIS_REPLICA_WAIT_MS)
            answers = pipe.execute(raise_on_error=False)
        for answer in answers:
            if isinstance(answer, Exception) and not isinstance(answer, NoScriptError):
                raise answer
        replicated = not wanted or answers[-1] >= wanted
        replies = answers[: len(calls)]
        for i, (name, call) in enumerate(calls):
            if isinstance(replies[i], NoScriptError):
                if not load_missing:
                    raise replies[i]
                self.redis.script_load(scripts.source(name))
                (replies[i],), again = self._run_in_one_trip([(name, call)], load_missing=False)
                replicated = replicated and again
        return replies, replicated

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

    def server_settings(self, names: list[str]) -> dict[str, str]:
        found = {}
        for name in names:
            found.update(self.redis.config_get(name))
        return found

    def demos(self) -> list[str]:
        return sorted(self.redis.smembers(DEMOS_KEY))

    def note_revocation(self) -> None:
        self.redis.set(REVOCATIONS_KEY, secrets.token_hex(8))

    def usage(self, owner: str, day: int) -> dict[str, float]:
        slugs = self.demos()
        with self.redis.pipeline(transaction=False) as pipe:
            for slug in slugs:
                pipe.hget(usage_key(slug, day), owner)
            used = pipe.execute()
        return {slug: float(seconds) for slug, seconds in zip(slugs, used) if seconds}

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
        lane: Lane = DEFAULT_LANE,
        quota: QuotaCheck | None = None,
        several_lanes: bool = True,
    ) -> Admission:
        call = scripts.join_call(
            slug,
            job_id=job_id,
            owner=owner,
            channel=channel,
            inputs=inputs,
            max_rank=max_rank,
            version=version,
            address=address,
            limits=limits,
            pace=pace,
            lane=lane,
            quota=quota,
            several_lanes=several_lanes,
        )
        return scripts.join_reply(self._run("join", call))

    def take_batch(self, slug: str, *, slot: str, linger: float = 0) -> Taken:
        # The script takes only jobs it was given in KEYS: name the head of the line as this
        # slot last saw it (its last batch's reply, or the bell), else read it (as much of it
        # as the script last asked for), and read it again if the script says so.
        head = self._heads_seen.pop((slug, slot), None)
        for _ in range(MAX_READS_OF_THE_HEAD):
            if not head:
                count = self._head_lengths.get(slug, 1)
                head = self.redis.zrange(key(slug, "waiting"), 0, count - 1)
            call = self._take_batch_call(slug, slot=slot, linger=linger, head=head)
            taken = self._taken(slug, slot, *self._run_replicated("take_batch", call))
            if taken.status != "retry":
                return taken
            head = None
        raise RuntimeError(f"the head of {slug}'s line kept changing while it was read")

    def _take_batch_call(
        self, slug: str, *, slot: str, linger: float, head: list[str]
    ) -> scripts.Call:
        return scripts.take_batch_call(
            slug, slot=slot, lease=settings.LINEUP_SLOT_LEASE_SECONDS, linger=linger, head=head
        )

    def _taken(self, slug: str, slot: str, reply: list, replicated: bool) -> Taken:
        """What take_batch.lua replied; the head of the line it names is kept for the slot's
        next take, and how much of the head to read when it asks for more."""
        taken, head = scripts.take_batch_reply(reply)
        if head:
            self._heads_seen[slug, slot] = head
        if taken.status in ("retry", "wait"):
            self._head_lengths[slug] = taken.size
        return taken if replicated else replace(taken, replicated=False)

    def wait_for_bell(self, slug: str, *, slot: str, timeout: float, filling: bool = False) -> bool:
        rung = self.redis.blpop([key(slug, "bell")], timeout=timeout)
        if rung is not None and not filling:
            self._heads_seen[slug, slot] = [rung[1]]  # the job that rang it
        return rung is not None

    def renew(self, slug: str, *, slot: str) -> bool:
        call = scripts.renew_call(slug, slot=slot, lease=settings.LINEUP_SLOT_LEASE_SECONDS)
        return bool(self._run("renew", call))

    def finish_batch(
        self, slug: str, *, slot: str, endings: list[Ending], duration: float
    ) -> list[str | None]:
        call = self._finish_batch_call(slug, slot=slot, endings=endings, duration=duration)
        return scripts.finish_batch_reply(self._run("finish_batch", call))

    def finish_and_take(
        self, slug: str, *, slot: str, endings: list[Ending], duration: float, linger: float = 0
    ) -> tuple[list[str | None], Taken]:
        # Both scripts in one round trip; the take names the head of the line as the slot
        # last saw it, and reads it the usual way when that is no longer the head.
        finish = self._finish_batch_call(slug, slot=slot, endings=endings, duration=duration)
        head = self._heads_seen.pop((slug, slot), [])
        take = self._take_batch_call(slug, slot=slot, linger=linger, head=head)
        (finished, reply), replicated = self._run_in_one_trip(
            [("finish_batch", finish), ("take_batch", take)]
        )
        taken = self._taken(slug, slot, reply, replicated)
        if taken.status == "retry":
            taken = self.take_batch(slug, slot=slot, linger=linger)
        return scripts.finish_batch_reply(finished), taken

    def _finish_batch_call(
        self, slug: str, *, slot: str, endings: list[Ending], duration: float
    ) -> scripts.Call:
        return scripts.finish_batch_call(
            slug,
            slot=slot,
            endings=endings,
            duration=duration,
            keep_seconds=settings.LINEUP_RESULT_TTL_SECONDS,
        )

    def reap(self, slug: str) -> Reaped:
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(key(slug, "running"), 0, -1)
            pipe.zrange(key(slug, "detached"), 0, REAP_DETACHED - 1)
            running, detached = pipe.execute()
        call = scripts.reap_call(
            slug,
            running=running,
            detached=detached,
            max_attempts=settings.LINEUP_MAX_ATTEMPTS,
            keep_seconds=settings.LINEUP_RESULT_TTL_SECONDS,
        )
        return scripts.reap_reply(self._run("reap", call))

    def delivered(self, slug: str, job_ids: list[str]) -> None:
        if job_ids:
            self.redis.zrem(key(slug, "outbox"), *job_ids)

    def undelivered(self, slug: str, *, older_than: float) -> list[Undelivered]:
        job_ids = self._run("claim_outbox", scripts.claim_outbox_call(slug, older_than=older_than))
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
        keep = settings.LINEUP_RESULT_TTL_SECONDS
        call = scripts.cancel_call(slug, job_id=job_id, owner=owner, keep_seconds=keep)
        return scripts.cancel_reply(self._run("cancel", call))

    def detach(self, slug: str, job_ids: list[str], *, channel: str, grace_seconds: float) -> None:
        call = scripts.detach_call(slug, job_ids, channel=channel, grace_seconds=grace_seconds)
        self._run("detach", call)

    def resume(self, slug: str, *, job_id: str, owner: str, channel: str) -> Resumed:
        call = scripts.resume_call(slug, job_id=job_id, owner=owner, channel=channel)
        return scripts.resume_reply(self._run("resume", call))

    def note_live(self, slug: str, job_ids: list[str], field: str, values: list[Any]) -> list[str]:
        return self._run("live", scripts.live_call(slug, job_ids, field, values))

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

    def lane_waiting(self, slug: str, limit: int = LANE_SAMPLE) -> dict[str, int]:
        ids = self.redis.zrange(key(slug, "waiting"), 0, limit - 1)
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(job_key(slug, job_id), "lane")
            lanes = pipe.execute()
        return dict(Counter(lane or DEFAULT_LANE.name for lane in lanes))

    def samples(self, slug: str) -> dict[str, list[float]]:
        sizes = sorted(int(size) for size in self.redis.smembers(key(slug, "batch_sizes")))
        names = ["waits", "eta_errors"] + [f"runs:{size}" for size in sizes]
        with self.redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.lrange(key(slug, name), 0, -1)
            values = pipe.execute()
        return {name: [float(v) for v in found] for name, found in zip(names, values)}

    def clear(self, slug: str, *, error: dict[str, str]) -> tuple[int, list[tuple[str, int, str]]]:
        keep = settings.LINEUP_RESULT_TTL_SECONDS
        job_ids = self.redis.zrange(key(slug, "waiting"), 0, -1)
        call = scripts.clear_call(slug, job_ids=job_ids, error=error, keep_seconds=keep)
        return scripts.clear_reply(self._run("clear", call))

    def histograms(self, slug: str) -> dict[str, dict[str, float]]:
        found: dict[str, dict[str, float]] = {name: {} for name in HISTOGRAMS}
        for field, value in self.redis.hgetall(key(slug, "hist")).items():
            name, _, bucket = field.partition(":")
            found.setdefault(name, {})[bucket] = float(value)
        return found

    def minutes(self, slug: str, count: int) -> list[tuple[int, dict[str, float]]]:
        now, _ = self.redis.time()
        minutes = [now // 60 - n for n in range(count - 1, -1, -1)]
        found: dict[int, dict[str, float]] = {minute: {} for minute in minutes}
        for field, value in self.redis.hgetall(key(slug, "minutes")).items():
            minute, _, name = field.partition(":")
            if name and int(minute) in found:
                found[int(minute)][name] = float(value)
        return [(minute * 60, found[minute]) for minute in minutes]

    def job(self, slug: str, job_id: str) -> "JobRecord | None":
        return self.jobs(slug, [job_id])[0]

    def jobs(self, slug: str, job_ids: list[str]) -> "list[JobRecord | None]":
        with self.redis.pipeline(transaction=True) as pipe:
            for job_id in job_ids:
                pipe.hmget(job_key(slug, job_id), *JOB_FIELDS)
                pipe.zrank(key(slug, "waiting"), job_id)
            found = pipe.execute()
        return [_record(fields, rank) for fields, rank in zip(found[::2], found[1::2])]

    def count_request(self, name: str, *, window: int = 60) -> tuple[int, int]:
        counter = requests_key(name)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(counter)
            pipe.expire(counter, window, nx=True)
            pipe.ttl(counter)
            count, _, left = pipe.execute()
        return count, max(1, left)

    def session_follow(self, slug: str, session: str, job_id: str, ttl: float) -> None:
        events = session_key(slug, session)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(events, {job_id: time.time()})
            pipe.expire(events, int(ttl))
            pipe.execute()

    def session_events(self, slug: str, session: str) -> list[str]:
        return self.redis.zrange(session_key(slug, session), 0, -1)

    def session_forget(self, slug: str, session: str, job_ids: list[str]) -> None:
        self.redis.zrem(session_key(slug, session), *job_ids)

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


class ScriptTrips:
    """Calls of one script made in the same turn of the event loop go to Redis in one round
    trip. A burst of arrivals costs a few round trips rather than one a visitor, and Redis
    runs the turn's joins one after another: a worker woken by the first of them finds the
    others in the line when it takes its batch. A lone call waits for nothing but the end of
    the turn it was made in."""

    def __init__(self, client: redis.asyncio.Redis, name: str):
        self.client = client
        self.name = name
        self.sha = client.register_script(scripts.source(name)).sha
        self.calls: list[tuple[scripts.Call, asyncio.Future]] = []
        self.trips: set[asyncio.Task] = set()  # the round trips under way

    def __call__(self, call: scripts.Call) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        if not self.calls:
            # Runs once the calls already due in this turn have been made.
            trip = loop.create_task(self._send())
            self.trips.add(trip)
            trip.add_done_callback(self.trips.discard)
        reply = loop.create_future()
        self.calls.append((call, reply))
        return reply

    async def _send(self) -> None:
        calls, self.calls = self.calls, []
        try:
            answers = await self._run([call for call, _ in calls])
            missing = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
            if missing:  # Redis restarted since the script was loaded
                await self.client.script_load(scripts.source(self.name))
                again = await self._run([calls[i][0] for i in missing])
                for i, answer in zip(missing, again):
                    answers[i] = answer
        except Exception as error:  # the connection failed: every call of the trip did
            answers = [error] * len(calls)
        for (_, reply), answer in zip(calls, answers):
            if reply.done():  # its caller went away
                continue
            if isinstance(answer, Exception):
                reply.set_exception(answer)
            else:
                reply.set_result(answer)

    async def _run(self, calls: list[scripts.Call]) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for call in calls:
                pipe.evalsha(self.sha, len(call.keys), *call.keys, *call.args)
            return await pipe.execute(raise_on_error=False)


class AsyncRedisQueueStore:
    """The admission path of a web process, on its event loop (no thread hop per join).
    Same keys and scripts as RedisQueueStore."""

    def __init__(self, client: redis.asyncio.Redis):
        self.redis = client
        self.join_script = ScriptTrips(client, "join")

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
        lane: Lane = DEFAULT_LANE,
        quota: QuotaCheck | None = None,
        several_lanes: bool = True,
    ) -> Admission:
        call = scripts.join_call(
            slug,
            job_id=job_id,
            owner=owner,
            channel=channel,
            inputs=inputs,
            max_rank=max_rank,
            version=version,
            address=address,
            limits=limits,
            pace=pace,
            lane=lane,
            quota=quota,
            several_lanes=several_lanes,
        )
        return scripts.join_reply(await self.join_script(call))

    async def owner_lines(self, owner: str, day: int) -> list[OwnerLine]:
        """The lines `owner` was charged in on `day` or has jobs in: one round trip, and a
        second for the settings and averages of the lines where they have jobs."""
        slugs = sorted(await self.redis.smembers(DEMOS_KEY))
        async with self.redis.pipeline(transaction=False) as pipe:
            for slug in slugs:
                pipe.hget(usage_key(slug, day), owner)
                pipe.hget(key(slug, "active"), f"owner:{owner}")
            found = await pipe.execute()
        lines = [
            OwnerLine(slug, float(used or 0), int(active or 0))
            for slug, used, active in zip(slugs, found[::2], found[1::2])
            if used or active
        ]
        busy = [line for line in lines if line.active]
        async with self.redis.pipeline(transaction=False) as pipe:
            for line in busy:
                pipe.hgetall(key(line.slug, "config"))
                pipe.hmget(key(line.slug, "stats"), "avg_run", "avg_batch")
            found = await pipe.execute()
        known = {
            line.slug: replace(
                line, config=LineConfig.from_redis(config), stats=DemoStats(*map(_float, stats))
            )
            for line, config, stats in zip(busy, found[::2], found[1::2])
        }
        return [known.get(line.slug, line) for line in lines]

    async def revocations(self) -> str | None:
        """A value that changes each time an API key is revoked (None: none noted). A socket
        showing a key keeps the value it saw when it last checked the key, and checks again
        when it differs: one Redis read a frame instead of a database query."""
        return await self.redis.get(REVOCATIONS_KEY)

    async def pool_alive(self, pool: str) -> bool:
        seconds, micros = await self.redis.time()  # Redis's clock, as the heartbeats use
        return await self.redis.zcount(pool_key(pool), seconds + micros / 1e6, "+inf") > 0


_async_stores: dict[asyncio.AbstractEventLoop, AsyncRedisQueueStore] = {}


def get_async_store() -> AsyncRedisQueueStore:
    """The running event loop's async store (async connections belong to one loop)."""
    loop = asyncio.get_running_loop()
    if loop not in _async_stores:
        if settings.REDIS_SENTINELS:
            sentinels = redis.asyncio.sentinel.Sentinel(settings.REDIS_SENTINELS)
            client = sentinels.master_for(settings.REDIS_MASTER, **CONNECTION_OPTIONS)
        else:
            # A burst of joins waits for one of a few connections rather than opening hundreds.
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                settings.REDIS_URL,
                max_connections=ASYNC_CONNECTIONS,
                timeout=None,
                **CONNECTION_OPTIONS,
            )
            client = redis.asyncio.Redis(connection_pool=pool)
        _async_stores[loop] = AsyncRedisQueueStore(client)
    return _async_stores[loop]


@cache
def get_store() -> QueueStore:
    """This process's store: on the master the sentinels name (following it across a
    failover), or on the Redis of settings.REDIS_URL."""
    if settings.REDIS_SENTINELS:
        sentinels = redis.sentinel.Sentinel(settings.REDIS_SENTINELS)
        client = sentinels.master_for(
            settings.REDIS_MASTER, max_connections=1000, **CONNECTION_OPTIONS
        )
    else:
        client = redis.Redis.from_url(
            settings.REDIS_URL, max_connections=1000, **CONNECTION_OPTIONS
        )
    return RedisQueueStore(client)
