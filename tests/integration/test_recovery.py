"""Limits and recovery in the queue's scripts, on a real Redis: per-visitor limits, dead
workers, timeouts and visitors who leave."""

import time

import pytest

from queueapp.errors import QueueError
from queueapp.line import quota_day
from queueapp.store import Ending, get_store, key
from tests.support.loop import submit


def join(slug, job_id, owner=None):
    return get_store().join(
        slug, job_id=job_id, owner=owner or job_id, channel=f"ch-{job_id}", inputs=["v"]
    )


def test_a_visitor_may_have_only_so_many_active_jobs(slug, publish):
    publish(max_jobs_per_visitor=2)
    store = get_store()
    assert [join(slug, j, owner="me").status for j in ("a", "b", "c")] == [
        "ok",
        "ok",
        "owner_limit",
    ]
    assert join(slug, "d", owner="someone else").status == "ok"
    taken = store.take_batch(slug, slot="s")
    store.finish_batch(
        slug, slot="s", endings=[Ending(taken.jobs[0].id, "completed", [])], duration=0.1
    )
    assert join(slug, "c", owner="me").status == "ok"
    assert store.counters(slug)["rejected_owner_limit"] == "1"


def test_max_wait_refuses_a_join_and_says_the_eta(slug, publish):
    publish(expected_seconds=10, max_wait_seconds=25, max_jobs_per_visitor=None)
    for _ in range(2):  # ETAs 10 s and 20 s
        submit(slug=slug, data=["x"], owner="o")
    with pytest.raises(QueueError) as refused:
        submit(slug=slug, data=["x"], owner="o")
    assert refused.value.code == "wait_too_long"
    assert refused.value.details["eta"] == 30
    assert "about 30 s" in refused.value.message
    assert get_store().queue_size(slug) == 2


def test_jobs_of_a_dead_worker_go_back_to_the_front(slug, publish, settings):
    settings.LINEUP_SLOT_LEASE_SECONDS = 0.2
    publish(function="trim_words", batch=True, max_batch_size=2)
    for job_id in ("a", "b", "c"):
        join(slug, job_id)
    store = get_store()
    assert [job.id for job in store.take_batch(slug, slot="doomed").jobs] == ["a", "b"]
    time.sleep(0.3)  # the worker died: its lease runs out
    reaped = store.reap(slug)
    assert sorted((c.what, c.job_id) for c in reaped.changes) == [
        ("requeued", "a"),
        ("requeued", "b"),
    ]
    assert reaped.wake is True
    assert store.ranks(slug, ["a", "b", "c"]) == ([0, 1, 2], 2)
    # The dead worker's late results are not taken; the new worker's are.
    assert store.finish_batch(
        slug, slot="doomed", endings=[Ending("a", "completed", [])], duration=1
    ) == [None]
    retaken = store.take_batch(slug, slot="alive")
    assert [job.id for job in retaken.jobs] == ["a", "b"]
    assert store.finish_batch(
        slug, slot="alive", endings=[Ending("a", "completed", [])], duration=1
    ) == ["ch-a"]


def test_a_job_whose_workers_keep_dying_fails_after_the_attempt_limit(slug, publish, settings):
    settings.LINEUP_SLOT_LEASE_SECONDS = 0.1
    settings.LINEUP_MAX_ATTEMPTS = 2
    publish()
    join(slug, "cursed")
    store = get_store()
    outcomes = []
    for attempt in range(2):
        assert store.take_batch(slug, slot=f"w{attempt}").status == "batch"
        time.sleep(0.15)
        outcomes += [c.what for c in store.reap(slug).changes]
    assert outcomes == ["requeued", "failed"]
    resumed = store.resume(slug, job_id="cursed", owner="cursed", channel="")
    assert resumed.status == "failed"
    assert resumed.error["code"] == "worker_lost"
    assert "stopped 2 times" in resumed.error["message"]
    assert store.queue_size(slug) == 0


def test_a_batch_past_its_timeout_fails_and_frees_its_slot(slug, publish):
    publish(job_timeout_seconds=1, concurrency_count=1)
    join(slug, "slow")
    join(slug, "next")
    store = get_store()
    store.take_batch(slug, slot="stuck")
    assert store.take_batch(slug, slot="other").status == "busy"
    time.sleep(1.1)
    store.renew(slug, slot="stuck")
    changes = store.reap(slug).changes
    assert [(c.what, c.job_id, c.error["code"]) for c in changes] == [("failed", "slow", "timeout")]
    assert "time limit of 1 s" in changes[0].error["message"]
    assert store.renew(slug, slot="stuck") is False
    assert [job.id for job in store.take_batch(slug, slot="other").jobs] == ["next"]
    # Its batch held the slot for the whole time limit: the job is charged that, once; the
    # stuck worker's late ending changes nothing.
    day = quota_day(time.time())
    assert store.usage("slow", day) == {slug: pytest.approx(1.0, abs=0.001)}
    store.finish_batch(slug, slot="stuck", endings=[Ending("slow", "completed", [])], duration=5)
    assert store.usage("slow", day) == {slug: pytest.approx(1.0, abs=0.001)}
    assert store.resume(slug, job_id="slow", owner="slow", channel="").error["code"] == "timeout"


def test_a_visitor_who_does_not_come_back_loses_the_place(slug, publish):
    publish()
    for job_id in ("gone", "back", "behind"):
        join(slug, job_id)
    store = get_store()
    for job_id in ("gone", "back"):
        store.detach(slug, [job_id], channel=f"ch-{job_id}", grace_seconds=0.2)
    store.resume(slug, job_id="back", owner="back", channel="new-tab")
    time.sleep(0.3)
    changes = store.reap(slug).changes
    assert [(c.what, c.job_id) for c in changes] == [("expired", "gone")]
    assert store.ranks(slug, ["back", "behind"]) == ([0, 1], 1)
    assert store.resume(slug, job_id="gone", owner="gone", channel="").error["code"] == "expired"


def test_renewing_keeps_a_long_batch_slot(slug, publish, settings):
    settings.LINEUP_SLOT_LEASE_SECONDS = 1.0
    publish(concurrency_count=1)
    join(slug, "long")
    join(slug, "next")
    store = get_store()
    store.take_batch(slug, slot="busy")
    for _ in range(4):  # longer than a lease in all, each renewal well within one
        time.sleep(0.4)
        assert store.renew(slug, slot="busy") is True
    assert store.reap(slug).changes == []
    assert store.take_batch(slug, slot="other").status == "busy"


def test_waits_and_eta_errors_are_sampled(slug, publish):
    publish(expected_seconds=0.05)
    joined = submit(slug=slug, data=["x"], owner="o")
    time.sleep(0.1)
    get_store().take_batch(slug, slot="s")
    samples = get_store().samples(slug)
    assert len(samples["waits"]) == 1 and samples["waits"][0] >= 0.1
    # Predicted to start after 0.05 s, it started after at least 0.1 s: late by >= 0.05 s.
    assert joined.eta == 0.05
    assert samples["eta_errors"][0] >= 0.05


def test_a_job_another_connection_resumed_is_not_detached_when_the_first_one_closes(slug, publish):
    publish()
    join(slug, "mine")  # on channel ch-mine
    store = get_store()
    store.resume(slug, job_id="mine", owner="mine", channel="second-tab")
    store.detach(slug, ["mine"], channel="ch-mine", grace_seconds=0)
    assert store.redis.zscore(key(slug, "detached"), "mine") is None
    store.detach(slug, ["mine"], channel="second-tab", grace_seconds=0)
    assert store.redis.zscore(key(slug, "detached"), "mine") is not None
