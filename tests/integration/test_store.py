"""The queue's scripts against a real Redis."""

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis.asyncio
from redis.asyncio.connection import AbstractConnection as AsyncConnection

from demo_site.embedded_redis import free_port
from queueapp.eta import Pace, lane_eta
from queueapp.line import Lane, QuotaCheck, quota_day
from queueapp.store import Ending, get_async_store, get_store, key
from queueapp.store.redis_store import AsyncRedisQueueStore

from .trips import counted_round_trips


def join(slug, n=1):
    """Join `n` jobs: job<i> of owner o<i>, replying on channel ch<i>."""
    return [
        get_store().join(slug, job_id=f"job{i}", owner=f"o{i}", channel=f"ch{i}", inputs=[f"v{i}"])
        for i in range(n)
    ]


def finish(slug, slot, jobs, status="completed", payload=("x",), duration=0.1):
    endings = [Ending(job.id, status, list(payload)) for job in jobs]
    return get_store().finish_batch(slug, slot=slot, endings=endings, duration=duration)


def test_join_rejects_when_queue_full(slug, publish):
    publish(max_size=2)
    statuses = [a.status for a in join(slug, 3)]
    assert statuses == ["ok", "ok", "full"]
    assert get_store().queue_size(slug) == 2


def test_concurrent_joins_admit_exactly_max_size(slug, publish):
    publish(max_size=50)
    store = get_store()

    def one(i):
        return store.join(slug, job_id=f"j{i}", owner=f"o{i}", channel="c", inputs=[]).status

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(pool.map(one, range(1000)))
    assert statuses.count("ok") == 50
    assert statuses.count("full") == 950
    assert store.queue_size(slug) == 50


async def join_at_once(store, slug, jobs):
    """`jobs` joins made in the same turn of the event loop: their admissions, or the error
    each raised."""
    return await asyncio.gather(
        *(
            store.join(slug, job_id=f"j{i}", owner=f"o{i}", channel=f"c{i}", inputs=[f"v{i}"])
            for i in range(jobs)
        ),
        return_exceptions=True,
    )


def test_a_web_process_sends_the_joins_of_one_turn_in_one_round_trip(slug, publish):
    publish(max_size=50)

    async def burst():
        store = get_async_store()
        await store.config(slug)  # the connection is open
        with counted_round_trips(AsyncConnection) as counted:
            admissions = await join_at_once(store, slug, 200)
        return [admission.status for admission in admissions], len(counted)

    statuses, round_trips = asyncio.run(burst())
    assert statuses.count("ok") == 50 and statuses.count("full") == 150
    assert round_trips == 1
    assert get_store().queue_size(slug) == 50
    assert [job.id for job in get_store().take_batch(slug, slot="a").jobs] == ["j0"]


def test_a_web_process_loads_the_join_script_again_after_redis_lost_it(slug, publish):
    publish()
    get_store().redis.script_flush()  # as after a restart of Redis without its scripts

    async def burst():
        return await join_at_once(get_async_store(), slug, 3)

    assert [admission.status for admission in asyncio.run(burst())] == ["ok"] * 3


def test_every_join_of_a_round_trip_that_fails_is_told_why(slug):
    async def burst():
        nowhere = redis.asyncio.Redis(port=free_port(), decode_responses=True)
        return await join_at_once(AsyncRedisQueueStore(nowhere), slug, 3)

    errors = asyncio.run(burst())
    assert [type(error) for error in errors] == [redis.exceptions.ConnectionError] * 3


def test_a_join_whose_visitor_left_does_not_hold_up_the_others(slug, publish):
    publish()

    async def burst():
        store = get_async_store()
        calls = [
            asyncio.ensure_future(
                store.join(slug, job_id=f"j{i}", owner=f"o{i}", channel="", inputs=[])
            )
            for i in range(3)
        ]
        await asyncio.sleep(0)  # each has made its call
        calls[1].cancel()
        # A join left unanswered would otherwise hang the test.
        return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 60)

    first, left, last = asyncio.run(burst())
    assert isinstance(left, asyncio.CancelledError)
    assert (first.status, last.status) == ("ok", "ok")
    assert get_store().queue_size(slug) == 3  # sent before the visitor left, and admitted


def test_ranks_count_waiting_jobs_ahead(slug, publish):
    publish()
    admissions = join(slug, 3)
    assert [a.rank for a in admissions] == [0, 1, 2]
    assert [a.ticket for a in admissions] == sorted(a.ticket for a in admissions)


def test_disabled_and_unknown_demos_refuse_joins(slug, publish):
    assert join(slug)[0].status == "no_config"
    publish(enabled=False)
    assert join(slug)[0].status == "disabled"


def test_batches_are_fifo_and_never_exceed_max_batch_size(slug, publish):
    publish(function="trim_words", batch=True, max_batch_size=4)
    join(slug, 10)
    store = get_store()
    sizes, order = [], []
    while (taken := store.take_batch(slug, slot="s1")).status == "batch":
        sizes.append(len(taken.jobs))
        order += [job.id for job in taken.jobs]
        finish(slug, "s1", taken.jobs)
    assert sizes == [4, 4, 2]
    assert order == [f"job{i}" for i in range(10)]
    assert taken.status == "empty"


def test_a_lone_job_starts_at_once_without_batch_wait(slug, publish):
    publish(function="trim_words", batch=True, max_batch_size=8)
    join(slug, 1)
    taken = get_store().take_batch(slug, slot="s1")
    assert taken.status == "batch"
    assert [job.id for job in taken.jobs] == ["job0"]
    assert taken.jobs[0].inputs == ["v0"]
    assert taken.function == "trim_words"


def test_batch_wait_holds_a_partial_batch_until_the_wait_is_over(slug, publish):
    publish(function="trim_words", batch=True, max_batch_size=8, batch_wait_ms=60_000)
    join(slug, 2)
    taken = get_store().take_batch(slug, slot="s1")
    assert taken.status == "wait"
    assert 0 < taken.wait_ms <= 60_000
    publish(function="trim_words", batch=True, max_batch_size=2, batch_wait_ms=60_000)
    assert len(get_store().take_batch(slug, slot="s1").jobs) == 2


def test_a_partial_batch_waiting_for_more_is_rung_by_the_join_that_fills_it(slug, publish):
    publish(function="trim_words", batch=True, max_batch_size=3, batch_wait_ms=60_000)
    store = get_store()
    bell = key(slug, "bell")
    join(slug, 1)
    assert store.take_batch(slug, slot="w").status == "wait"
    second = store.join(slug, job_id="second", owner="x", channel="c", inputs=["v"])
    assert second.wake is False  # the waiting worker takes it: no other is woken
    assert store.redis.llen(bell) == 0  # nor is the waiting one, for a batch still partial
    store.join(slug, job_id="third", owner="y", channel="c", inputs=["v"])
    assert store.redis.lrange(bell, 0, -1) == ["third"]
    assert store.wait_for_bell(slug, slot="w", timeout=1) is True
    assert [job.id for job in store.take_batch(slug, slot="w").jobs] == ["job0", "second", "third"]


def test_concurrency_slots_limit_batches_running_at_once(slug, publish):
    publish(concurrency_count=2)
    join(slug, 5)
    store = get_store()
    assert store.take_batch(slug, slot="a").status == "batch"
    assert store.take_batch(slug, slot="b").status == "batch"
    assert store.take_batch(slug, slot="c").status == "busy"
    # The holder of a slot keeps draining; a lowered limit takes effect on its next batch.
    assert store.take_batch(slug, slot="a").status == "batch"
    publish(concurrency_count=1)
    assert store.take_batch(slug, slot="a").status == "busy"
    assert store.take_batch(slug, slot="b").status == "batch"


def test_empty_line_releases_the_slot(slug, publish):
    publish(concurrency_count=1)
    join(slug, 1)
    store = get_store()
    assert store.take_batch(slug, slot="a").status == "batch"
    assert store.take_batch(slug, slot="a").status == "empty"
    # A join after the release finds a free slot, so it wakes a worker.
    admission = store.join(slug, job_id="late", owner="o", channel="c", inputs=[])
    assert admission.wake is True
    assert store.take_batch(slug, slot="b").status == "batch"


def finish_and_take(slug, slot, taken, linger=0, trips=None):
    """Finish the batch and take the next; `trips` gets the round trips to Redis it took."""
    endings = [Ending(job.id, "completed", ["x"]) for job in taken.jobs]
    with counted_round_trips() as counted:
        result = get_store().finish_and_take(
            slug, slot=slot, endings=endings, duration=0.1, linger=linger
        )
    if trips is not None:
        trips.append(len(counted))
    return result


def test_finishing_a_batch_takes_the_next_in_the_same_step(slug, publish):
    publish(function="trim_words", batch=True, max_batch_size=4)
    join(slug, 10)
    store = get_store()
    taken = store.take_batch(slug, slot="s1")
    sizes, order, trips = [], [], []
    while taken.status == "batch":
        sizes.append(len(taken.jobs))
        order += [job.id for job in taken.jobs]
        channels, taken = finish_and_take(slug, "s1", taken, linger=5, trips=trips)
        assert channels == [f"ch{job_id[3:]}" for job_id in order[-len(channels) :]]
    assert sizes == [4, 4, 2]
    assert trips == [1, 1, 1]  # the head of the line each take named was the one it last saw
    assert order == [f"job{i}" for i in range(10)]
    assert taken.status == "idle"  # lingering on the empty line, slot kept
    assert store.resume(slug, job_id="job9", owner="o9", channel="c").status == "completed"
    # Not lingering: the slot is given back in the same step.
    join(slug, 1)
    taken = store.take_batch(slug, slot="s1", linger=5)
    assert finish_and_take(slug, "s1", taken)[1].status == "empty"
    assert store.join(slug, job_id="later", owner="y", channel="c", inputs=[]).wake is True


def test_finish_and_take_reads_the_head_again_when_it_moved(slug, publish):
    publish(concurrency_count=2)
    join(slug, 4)
    store = get_store()
    mine = store.take_batch(slug, slot="a")  # job0; the head it saw: job1, job2
    assert [job.id for job in store.take_batch(slug, slot="b").jobs] == ["job1"]
    assert store.cancel(slug, job_id="job2", owner="o2")[0] == "cancelled"
    trips = []
    channels, taken = finish_and_take(slug, "a", mine, trips=trips)
    assert channels == ["ch0"]
    assert [job.id for job in taken.jobs] == ["job3"]
    assert trips == [3]  # finish and take; the head read again; the take again


def test_finish_and_take_loads_scripts_redis_lost(slug, publish):
    publish()
    join(slug, 2)
    store = get_store()
    taken = store.take_batch(slug, slot="a")
    store.redis.script_flush()  # as after a restart of Redis without its scripts
    channels, taken = finish_and_take(slug, "a", taken)
    assert channels == ["ch0"]
    assert [job.id for job in taken.jobs] == ["job1"]


def test_each_job_ends_exactly_once(slug, publish):
    publish()
    join(slug, 1)
    store = get_store()
    taken = store.take_batch(slug, slot="a")
    assert finish(slug, "b", taken.jobs) == [None]  # not the slot that runs it
    assert finish(slug, "a", taken.jobs, payload=["a"]) == ["ch0"]
    assert finish(slug, "a", taken.jobs, status="failed") == [None]
    resumed = store.resume(slug, job_id="job0", owner="o0", channel="new")
    assert (resumed.status, resumed.outputs, resumed.error) == ("completed", ["a"], None)


def test_finish_keeps_running_averages(slug, publish):
    publish(function="trim_words", batch=True, max_batch_size=4)
    join(slug, 4)
    store = get_store()
    taken = store.take_batch(slug, slot="a")
    finish(slug, "a", taken.jobs, duration=0.4)
    stats = store.stats(slug)
    assert (stats.avg_run, stats.avg_batch) == (0.4, 4)


def test_cancel_only_by_owner_and_only_while_waiting(slug, publish):
    publish()
    admissions = join(slug, 3)
    store = get_store()
    assert store.cancel(slug, job_id="job1", owner="intruder") == ("unknown", "", 0, "")
    cancelled = ("cancelled", admissions[1].ticket, 1, "ch1")
    assert store.cancel(slug, job_id="job1", owner="o1") == cancelled
    assert store.ranks(slug, ["job2"]) == ([1], 1)
    assert store.cancel(slug, job_id="job1", owner="o1") == ("not_waiting", "cancelled", 0, "")
    taken = store.take_batch(slug, slot="a")
    assert [job.id for job in taken.jobs] == ["job0"]
    assert store.cancel(slug, job_id="job0", owner="o0") == ("not_waiting", "running", 0, "")


def test_resume_is_for_the_owner_and_moves_the_reply_channel(slug, publish):
    publish()
    join(slug, 2)
    store = get_store()
    assert store.resume(slug, job_id="job1", owner="intruder", channel="evil").status == "unknown"
    resumed = store.resume(slug, job_id="job1", owner="o1", channel="tab2")
    assert (resumed.status, resumed.rank) == ("waiting", 1)
    store.take_batch(slug, slot="a")
    taken = store.take_batch(slug, slot="a")
    assert taken.jobs[0].channel == "tab2"


def test_a_lingering_worker_is_rung_instead_of_waking_another(slug, publish):
    publish(concurrency_count=2)
    store = get_store()
    join(slug, 1)
    assert store.take_batch(slug, slot="w", linger=5).status == "batch"
    assert store.take_batch(slug, slot="w", linger=5).status == "idle"
    admission = store.join(slug, job_id="next", owner="x", channel="c", inputs=[])
    assert admission.wake is False  # rang the bell: no new worker needed
    assert store.wait_for_bell(slug, slot="w", timeout=1) is True
    assert [job.id for job in store.take_batch(slug, slot="w", linger=5).jobs] == ["next"]
    # Not lingering: the empty line gives the slot back, and the next join wakes a worker.
    assert store.take_batch(slug, slot="w", linger=0).status == "empty"
    assert store.join(slug, job_id="later", owner="y", channel="c", inputs=[]).wake is True


def test_one_wake_up_at_a_time_until_a_worker_takes(slug, publish):
    publish(concurrency_count=4)
    store = get_store()
    wakes = [a.wake for a in join(slug, 3)]
    assert wakes == [True, False, False]
    store.take_batch(slug, slot="w")
    assert store.join(slug, job_id="after", owner="z", channel="c", inputs=[]).wake is True


def join_lane(slug, lane: Lane, n: int) -> list:
    return [
        get_store().join(
            slug,
            job_id=f"{lane.name}{i}",
            owner=f"{lane.name}-o{i}",
            channel="",
            inputs=[],
            lane=lane,
        )
        for i in range(n)
    ]


def taken_order(slug, n: int) -> list[str]:
    """The ids of the next `n` jobs to start, one batch (of one job) at a time."""
    store = get_store()
    order = []
    for _ in range(n):
        taken = store.take_batch(slug, slot="s")
        order += [job.id for job in taken.jobs]
        finish(slug, "s", taken.jobs)
    return order


def test_lanes_take_turns_by_weight_and_each_is_first_come_first_served(slug, publish):
    publish(concurrency_count=1)
    light, heavy = Lane("light", weight=1), Lane("heavy", weight=4)
    join_lane(slug, light, 100)
    later = join_lane(slug, heavy, 100)  # joins after the light lane's 100: goes ahead of most
    assert all(a.status == "ok" for a in later)
    assert later[0].ahead == 99 and later[0].rank == 1  # behind the head of the line only
    order = taken_order(slug, 100)
    heavies = [job for job in order if job.startswith("heavy")]
    lights = [job for job in order if job.startswith("light")]
    assert len(heavies) == 80 and len(lights) == 20  # 4:1 while both wait
    assert heavies == [f"heavy{i}" for i in range(80)]  # first come, first served
    assert lights == [f"light{i}" for i in range(20)]
    # Whatever is left, the line's ranks are the order it is taken in.
    store = get_store()
    waiting = [f"heavy{i}" for i in range(80, 100)] + [f"light{i}" for i in range(20, 100)]
    ranks, _ = store.ranks(slug, waiting)
    by_rank = [job for _, job in sorted(zip(ranks, waiting))]
    assert taken_order(slug, 100) == by_rank


def test_a_lane_that_was_idle_does_not_bank_turns(slug, publish):
    # A lane's clock never lags behind the head of the line: a lane that had nothing to do
    # for a while gets its share from now on, not a burst for the time it was away.
    publish(concurrency_count=1)
    light, heavy = Lane("light", weight=1), Lane("heavy", weight=4)
    join_lane(slug, heavy, 200)
    taken_order(slug, 150)
    join_lane(slug, light, 10)
    order = taken_order(slug, 25)
    assert sum(job.startswith("light") for job in order) == 5


def test_a_lanes_limit_on_active_jobs_applies_with_the_demos(slug, publish):
    publish(max_jobs_per_visitor=3)
    store = get_store()

    def statuses(lane: Lane, owner: str) -> list[str]:
        return [
            store.join(
                slug, job_id=f"{owner}{i}", owner=owner, channel="", inputs=[], lane=lane
            ).status
            for i in range(4)
        ]

    assert statuses(Lane("strict", max_active=1), "a") == ["ok"] + ["owner_limit"] * 3
    assert statuses(Lane("loose", max_active=10), "b") == ["ok"] * 3 + ["owner_limit"]


def test_a_quota_refuses_the_join_it_cannot_cover_and_each_ending_is_charged_once(slug, publish):
    publish(function="trim_words", batch=True, max_batch_size=4, max_jobs_per_visitor=None)
    store = get_store()
    day = quota_day(time.time())
    check = QuotaCheck(day=day, budget=10.0, job_seconds=3.0)

    def join_as(owner: str, n: int, first: int = 0) -> list:
        return [
            store.join(slug, job_id=f"{owner}{i}", owner=owner, channel="", inputs=[], quota=check)
            for i in range(first, first + n)
        ]

    ada = join_as("ada", 4)  # three jobs of 3 s fit in 10 s; a fourth would need 12
    assert [a.status for a in ada] == ["ok", "ok", "ok", "quota"]
    assert ada[3].detail == 1  # seconds left
    assert [a.status for a in join_as("bob", 1)] == ["ok"]
    taken = store.take_batch(slug, slot="s")
    assert len(taken.jobs) == 4
    finish(slug, "s", taken.jobs, duration=0.8)  # 0.2 s each
    finish(slug, "s", taken.jobs, duration=0.8)  # the same endings again: recorded once, so
    assert store.usage("ada", day) == {slug: pytest.approx(0.6)}  # charged once
    assert store.usage("bob", day) == {slug: pytest.approx(0.2)}
    assert store.usage("cy", day) == {}
    # Ada's jobs ended: what is left of her 10 s (9.4) holds three more jobs of 3 s.
    assert [a.status for a in join_as("ada", 4, first=10)] == ["ok", "ok", "ok", "quota"]


def test_a_batch_records_the_wait_of_each_of_its_jobs_once(slug, publish):
    publish(function="trim_words", batch=True, max_batch_size=4, max_jobs_per_visitor=None)
    store = get_store()
    pace = Pace(jobs=1, seconds=1.0)
    for i in range(3):
        store.join(slug, job_id=f"d{i}", owner=f"o{i}", channel="", inputs=[], pace=pace)
    join_lane(slug, Lane("heavy", weight=4), 1)
    assert len(store.take_batch(slug, slot="s").jobs) == 4
    histograms = store.redis.hgetall(key(slug, "hist"))

    def observed(name: str) -> int:
        """How many values the histogram counts: the sum of its buckets ("<name>:<bound>")."""
        buckets = [
            (field.rsplit(":", 1), int(count))
            for field, count in histograms.items()
            if not field.endswith(":sum")
        ]
        return sum(count for (histogram, _), count in buckets if histogram == name)

    assert observed("wait") == 4
    assert (observed("wait@default"), observed("wait@heavy")) == (3, 1)
    assert float(histograms["wait:sum"]) == pytest.approx(
        float(histograms["wait@default:sum"]) + float(histograms["wait@heavy:sum"])
    )
    assert observed("eta_error") == store.redis.llen(key(slug, "eta_errors")) == 3
    stats = store.redis.hgetall(key(slug, "stats"))
    assert (stats["started@default"], stats["started@heavy"]) == ("3", "1")
    assert store.redis.llen(key(slug, "waits")) == 4
    assert store.redis.zcard(key(slug, "running")) == 4


def test_a_job_of_a_lane_with_a_backlog_is_told_of_the_other_lanes_arrivals(slug, publish):
    publish(concurrency_count=1, expected_seconds=1.0, max_jobs_per_visitor=None)
    store = get_store()
    pace = Pace(jobs=1, seconds=1.0)
    light, heavy = Lane("light", weight=1), Lane("heavy", weight=4)
    join_lane(slug, heavy, 8)  # the heavy lane has been sending jobs...
    taken_order(slug, 8)  # ...and is idle now
    joined = [
        store.join(slug, job_id=f"l{n}", owner="o", channel="", inputs=[], lane=light, pace=pace)
        for n in range(5)
    ]
    first, last = joined[0], joined[-1]
    assert first.room == 0 and first.eta == 1.0  # at the head: nothing can pass it
    # The last light job is 4 light steps past the head: the heavy lane may place up to 16
    # jobs before it, at the rate it sent its 8.
    assert last.rank == 4 and last.room == 16 and last.rate > 0
    assert last.eta == lane_eta(pace, last.rank, last.room, last.rate) > pace.eta(4)


def test_no_two_waiting_jobs_share_a_ticket_and_ranks_are_the_lines_order(slug, publish):
    # Idle lanes are placed just after the head of the line, and the clocks of lanes whose
    # steps add up to another's meet: each takes the next free ticket.
    publish(concurrency_count=1, max_jobs_per_visitor=None)
    store = get_store()
    lanes = [Lane("p"), Lane("a"), Lane("s"), Lane("one"), Lane("three", weight=3)]
    admissions = {}
    for n in range(40):
        lane = lanes[n % len(lanes)]
        job_id = f"{lane.name}{n}"
        admissions[job_id] = store.join(
            slug, job_id=job_id, owner=f"o{n}", channel="", inputs=[], lane=lane
        )
    tickets = [admission.ticket for admission in admissions.values()]
    assert len(set(tickets)) == len(tickets)
    ranks, _ = store.ranks(slug, list(admissions))
    by_ticket = sorted(admissions, key=lambda job: admissions[job].ticket)
    assert [job for _, job in sorted(zip(ranks, admissions))] == by_ticket


def test_two_sweeps_at_once_claim_an_ending_left_in_the_outbox_once(slug, publish):
    publish()
    store = get_store()
    join(slug)
    finish(slug, "dead", store.take_batch(slug, slot="dead").jobs)  # never sent: its worker died
    store.redis.zincrby(key(slug, "outbox"), -10, "job0")  # left there 10 s ago
    first = store.undelivered(slug, older_than=3)
    assert [(lost.job_id, lost.channel) for lost in first] == [("job0", "ch0")]
    assert store.undelivered(slug, older_than=3) == []  # claimed by the first sweep
    assert store.redis.zscore(key(slug, "outbox"), "job0") is not None  # until it is sent
