"""The queue's invariants with real Celery worker processes on one real Redis."""

import asyncio
import contextlib
import random
import threading
import time
from collections import Counter

import pytest
from channels.layers import get_channel_layer

from queueapp.errors import QueueError
from queueapp.line import quota_day
from queueapp.store import get_store, job_key, key
from tests.support.functions import busy_key, read_runs
from tests.support.loop import submit

from .cluster import Cluster, max_overlap, wait_until_delivered, wait_until_ended

pytestmark = pytest.mark.stack


@pytest.fixture
def cluster(tmp_path):
    cluster = Cluster(tmp_path, LINEUP_SLOT_LEASE_SECONDS="1")
    yield cluster
    cluster.stop()


def submit_many(
    slug: str, count: int, seconds: float, channel: str = "", owner=lambda n: f"v{n}"
) -> list[str]:
    """Jobs of visitor `owner(n)` for n in 0..count-1 (each a visitor of their own by default)."""
    return [
        submit(slug=slug, data=[f"{slug}/{n}", seconds], owner=owner(n), channel=channel).job_id
        for n in range(count)
    ]


@pytest.mark.parametrize("limit", [1, 2])
def test_concurrency_count_holds_across_worker_processes(cluster, slug, publish, limit):
    publish(
        function="recorded_sleep",
        concurrency_count=limit,
        worker_pool=slug,
        max_jobs_per_visitor=None,
    )
    for _ in range(4):
        cluster.worker(slug)
    jobs = submit_many(slug, 24, 0.1)
    wait_until_ended(slug, jobs, timeout=60)

    runs = read_runs(slug)
    assert len(runs) == 24
    # Reaching the limit shows the line was worked in parallel; never passing it is the promise.
    assert max_overlap(runs) == limit


def test_batches_hold_at_most_max_batch_size_in_fifo_order(cluster, slug, publish):
    publish(
        function="recorded_sleep_batch",
        batch=True,
        max_batch_size=4,
        concurrency_count=2,
        worker_pool=slug,
    )
    for _ in range(4):
        cluster.worker(slug)
    jobs = submit_many(slug, 30, 0.05)
    wait_until_ended(slug, jobs, timeout=60)

    batches = [[int(label.split("/")[1]) for label in run["labels"]] for run in read_runs(slug)]
    assert all(1 <= len(batch) <= 4 for batch in batches)
    assert max(len(batch) for batch in batches) == 4
    for batch in batches:
        assert batch == list(range(batch[0], batch[0] + len(batch)))
    assert sorted(n for batch in batches for n in batch) == list(range(30))


def test_a_lone_job_starts_at_once(cluster, slug, publish):
    """A batched demo's lone job starts without company. The second job is sent only once
    the first has started: a worker that held a lone job back for a fuller batch would keep
    it waiting, and the first job would never start on its own."""
    publish(function="recorded_sleep_batch", batch=True, max_batch_size=16, worker_pool=slug)
    cluster.worker(slug)
    until(lambda: get_store().pool_alive(slug), 60, "the worker did not come up")
    first = submit(slug=slug, data=[f"{slug}/0", 0], owner="v")
    until(
        lambda: get_store().statuses(slug, [first.job_id]) != ["waiting"],
        30,
        "a lone job was held back",
    )
    second = submit(slug=slug, data=[f"{slug}/1", 0], owner="v")
    wait_until_ended(slug, [first.job_id, second.job_id], timeout=30)
    assert [run["labels"] for run in read_runs(slug)] == [[f"{slug}/0"], [f"{slug}/1"]]


def test_a_batch_waiting_for_more_jobs_starts_as_soon_as_it_is_full(cluster, slug, publish):
    """With batch_wait_ms, a partial batch waits for company, up to a minute here; the job
    that fills it starts it at once."""
    publish(
        function="recorded_sleep_batch",
        batch=True,
        max_batch_size=3,
        batch_wait_ms=60_000,
        worker_pool=slug,
    )
    cluster.worker(slug)
    store = get_store()
    until(lambda: store.pool_alive(slug), 60, "the worker did not come up")
    jobs = [submit(slug=slug, data=[f"{slug}/0", 0], owner="v0").job_id]
    # The worker has taken a look at the line and waits, its slot marked idle.
    until(lambda: store.redis.scard(key(slug, "idle")) == 1, 30, "the worker did not wait")
    jobs += [submit(slug=slug, data=[f"{slug}/{n}", 0], owner=f"v{n}").job_id for n in (1, 2)]
    wait_until_ended(slug, jobs, timeout=30)
    assert [run["labels"] for run in read_runs(slug)] == [[f"{slug}/{n}" for n in range(3)]]


def test_killing_workers_mid_batch_loses_no_job(cluster, slug, publish, settings):
    """20 kill -9s across 500 jobs of 5 users: every job ends exactly once, delivered exactly
    once, and is charged to its user's quota once."""
    publish(
        function="recorded_sleep_batch",
        batch=True,
        max_batch_size=4,
        concurrency_count=4,
        worker_pool=slug,
        max_jobs_per_visitor=None,
    )
    settings.LINEUP_JOINS_PER_MINUTE_PER_VISITOR = 0  # each user sends 100 jobs at once
    days = {quota_day(time.time())}
    workers = [cluster.worker(slug) for _ in range(4)]

    layer = get_channel_layer()
    loop = asyncio.new_event_loop()
    channel = loop.run_until_complete(layer.new_channel())
    deliveries: Counter = Counter()

    async def drain() -> None:
        # One receive after another, never timed out: a consumer's receive is cancelled only
        # when it leaves, and the layer then drops its channel.
        while True:
            frame = (await layer.receive(channel))["frame"]
            if frame["msg"] == "process_completed":
                deliveries[frame["job"]] += 1

    draining = loop.create_task(drain())

    def receive() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(draining)

    receiver = threading.Thread(target=receive)
    receiver.start()
    store = get_store()
    mid_batch = 0  # kills that landed while the victim ran a batch
    try:
        jobs = submit_many(slug, 500, 0.2, channel=channel, owner=user_of)
        rng = random.Random(7)
        for _ in range(20):
            time.sleep(rng.uniform(0.2, 0.6))  # spacing between kills, not a wait
            victim = busy_worker(workers, rng)
            if victim is None:
                break  # the line has run dry
            cluster.kill(victim)
            # A dead process cannot clear its mark: still there, the batch was cut short.
            mid_batch += store.redis.delete(busy_key(victim.pid))
            workers.remove(victim)
            workers.append(cluster.worker(slug))
        wait_until_ended(slug, jobs, timeout=180)
        wait_until_delivered(slug, timeout=30)
        until(lambda: all(deliveries[job] for job in jobs), 30, "endings still in flight")
    finally:
        loop.call_soon_threadsafe(draining.cancel)
        receiver.join()
        loop.close()

    store = get_store()
    outcomes = [
        store.resume(slug, job_id=job, owner=user_of(n), channel="") for n, job in enumerate(jobs)
    ]
    statuses = Counter(outcome.status for outcome in outcomes)
    assert set(statuses) <= {"completed", "failed"}, statuses
    assert all(o.error["code"] == "worker_lost" for o in outcomes if o.status == "failed")
    assert statuses["completed"] >= 450
    # Every visitor is told; a worker killed between telling and noting it may tell twice,
    # which the consumer drops, so a browser sees each ending once.
    assert all(deliveries[job] in (1, 2) for job in jobs), Counter(deliveries.values())
    # Each batch cut short went back to the line (or failed, past its attempts).
    assert mid_batch > 0
    assert int(store.counters(slug)["requeued"]) + statuses["failed"] > 0

    # Each job its function completed was charged its batch's share once, in the step that
    # recorded its ending; a job lost with its worker was charged nothing; and each user's
    # use of the day is the sum of their jobs' charges.
    days.add(quota_day(time.time()))  # the run may cross midnight, UTC
    charges = [store.redis.hget(job_key(slug, job), "charged") for job in jobs]
    for outcome, charged in zip(outcomes, charges):
        assert (charged is not None) == (outcome.status == "completed")
    for user in range(USERS):
        charged = sum(
            float(charge or 0) for n, charge in enumerate(charges) if user_of(n) == user_of(user)
        )
        used = sum(store.usage(user_of(user), day).get(slug, 0.0) for day in days)
        assert used == pytest.approx(charged, rel=0.01)
        assert used > 0


USERS = 5


def user_of(n: int) -> str:
    """The owner of job n when jobs are spread over USERS users."""
    return f"user:{n % USERS}"


def busy_worker(workers: list, rng: random.Random, timeout: float = 30):
    """One of the workers that is running a batch now (None once no batch runs for long)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [w for w in workers if get_store().redis.exists(busy_key(w.pid))]
        if busy:
            return rng.choice(busy)
        time.sleep(0.01)
    return None


def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"after {timeout} s: {what}"
        time.sleep(0.05)


def test_a_job_past_its_timeout_fails_and_frees_its_slot(cluster, slug, publish):
    publish(function="recorded_sleep", job_timeout_seconds=1, concurrency_count=1, worker_pool=slug)
    cluster.worker(slug, concurrency=2)
    submitted = time.time()
    stuck = submit(slug=slug, data=[f"{slug}/0", 6], owner="a")
    quick = submit(slug=slug, data=[f"{slug}/1", 0], owner="b")
    wait_until_ended(slug, [stuck.job_id, quick.job_id], timeout=30)

    store = get_store()
    failed = store.resume(slug, job_id=stuck.job_id, owner="a", channel="")
    assert failed.status == "failed"
    assert failed.error == {
        "code": "timeout",
        "message": "The job ran longer than its time limit of 1 s.",
    }
    assert store.resume(slug, job_id=quick.job_id, owner="b", channel="").status == "completed"
    # The quick job ran while the stuck one still slept: the timeout had freed the slot.
    (quick_run,) = read_runs(slug)
    assert quick_run["labels"] == [f"{slug}/1"]
    assert quick_run["end"] < submitted + 6


def admin_form(demo, **changes) -> dict:
    """The admin's change form for `demo`, as a browser would post it, with `changes`."""
    from django.forms.models import model_to_dict

    fields = model_to_dict(demo) | changes
    form = {}
    for name, value in fields.items():
        if name == "id" or value is False:
            continue  # unchecked boxes are not posted
        if value is True:
            value = "on"
        elif value is None:
            value = ""
        elif name == "examples":
            value = "[]"
        form[name] = value
    # The tiers' terms in the demo (an inline of the same page): none.
    return form | {"tier_terms-TOTAL_FORMS": "0", "tier_terms-INITIAL_FORMS": "0"}


def wait_for_status(slug: str, job_id: str, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while get_store().redis.hget(job_key(slug, job_id), "status") != status:
        assert time.monotonic() < deadline, f"job {job_id} never became {status}"
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_admin_changes_apply_to_the_next_join_and_batch(cluster, slug, admin_client):
    from models_registry.models import Demo

    url = "/admin/models_registry/demo/"
    created = admin_client.post(
        url + "add/",
        admin_form(
            Demo(
                slug=slug,
                title="Live",
                function="recorded_sleep_batch",
                batch=True,
                max_batch_size=2,
                concurrency_count=1,
                max_size=2,
                max_jobs_per_visitor=None,
                worker_pool=slug,
            )
        ),
    )
    assert created.status_code == 302
    demo = Demo.objects.get(slug=slug)

    def change(**fields) -> None:
        response = admin_client.post(
            f"{url}{demo.pk}/change/", admin_form(Demo.objects.get(pk=demo.pk), **fields)
        )
        assert response.status_code == 302

    def join(n: int, seconds: float) -> str:
        return submit(slug=slug, data=[f"{slug}/{n}", seconds], owner="v").job_id

    cluster.worker(slug, concurrency=2)
    blocker = join(0, 3)
    wait_for_status(slug, blocker, "running")

    # max_size: 2, then 5, while the one slot is busy.
    join(1, 0.2), join(2, 0.2)
    with pytest.raises(QueueError) as refused:
        join(3, 0.2)
    assert refused.value.code == "queue_full"
    change(max_size=5)
    later = [join(n, 0.2) for n in (3, 4, 5)]

    # max_batch_size: 2, then 4, for the batch after the running one.
    change(max_batch_size=4)
    wait_until_ended(slug, [blocker, *later], timeout=30)
    batches = [[int(label.split("/")[1]) for label in run["labels"]] for run in read_runs(slug)]
    assert batches == [[0], [1, 2, 3, 4], [5]]

    # concurrency_count: 1, then 2 (with room in the line for all eight jobs at once).
    change(concurrency_count=2, max_size=20)
    jobs = [join(n, 0.5) for n in range(6, 14)]
    wait_until_ended(slug, jobs, timeout=30)
    assert max_overlap(read_runs(slug)[3:]) == 2
