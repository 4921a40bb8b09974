"""The queue's services and the worker's batch runner, on a real Redis."""

import asyncio
import time
import uuid

import pytest
from django.contrib.auth.models import Group, User

from models_registry.models import Demo
from queueapp import access, selectors, worker
from queueapp.errors import QueueError
from queueapp.line import LineConfig, quota_day
from queueapp.models import DemoTier, Tier
from queueapp.selectors import demo_stats
from queueapp.services import jobs
from queueapp.store import get_store, job_key
from queueapp.store.keys import usage_key
from tests.support.loop import on_loop
from tests.support.loop import submit as submit_job


def submit(slug, data, owner=None):
    """Submit as `owner`, by default a new visitor each time."""
    owner = owner or f"visitor-{uuid.uuid4().hex[:8]}"
    return submit_job(slug=slug, data=data, owner=owner)


def outcome(slug, joined, owner):
    return get_store().resume(slug, job_id=joined.job_id, owner=owner, channel="")


def test_submit_admits_and_estimates_from_expected_seconds(slug, publish):
    publish(expected_seconds=2.0)
    first = submit(slug, ["a"])
    second = submit(slug, ["b"])
    assert (first.rank, second.rank) == (0, 1)
    assert (first.eta, second.eta) == (2.0, 4.0)


def test_a_thousand_concurrent_joins_admit_exactly_max_size(slug, publish):
    publish(max_size=50)

    async def join(n: int) -> str:
        try:
            await jobs.job_submit(slug=slug, data=[f"visitor {n}"], owner=f"visitor {n}")
            return "admitted"
        except QueueError as error:
            return error.code

    async def crowd() -> list[str]:
        return await asyncio.gather(*(join(n) for n in range(1000)))

    outcomes = on_loop(crowd())
    assert outcomes.count("admitted") == 50
    assert outcomes.count("queue_full") == 950
    assert get_store().queue_size(slug) == 50


def test_bad_input_is_refused_and_leaves_the_line_untouched(slug, publish):
    publish()
    submit(slug, ["first"])
    with pytest.raises(QueueError) as refused:
        submit(slug, [42])
    assert refused.value.code == "invalid_input"
    with pytest.raises(QueueError) as refused:
        submit(slug, ["a", "b"])
    assert refused.value.code == "invalid_input"
    assert get_store().queue_size(slug) == 1


def test_full_line_says_so_and_stores_no_upload(slug, publish, image_data_url, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    publish(function="identity_image", max_size=1)
    submit(slug, [image_data_url])
    with pytest.raises(QueueError) as refused:
        submit(slug, [image_data_url])
    assert refused.value.code == "queue_full"
    assert refused.value.details["queue_size"] == 1
    assert len(list((tmp_path / "inputs").iterdir())) == 1


@pytest.mark.django_db
def test_unknown_and_disabled_demos_are_refused(slug, publish):
    with pytest.raises(QueueError) as refused:
        submit(slug, ["a"])
    assert refused.value.code == "unknown_demo"
    publish(enabled=False)
    with pytest.raises(QueueError) as refused:
        submit(slug, ["a"])
    assert refused.value.code == "demo_disabled"


def test_live_settings_apply_to_the_next_join(slug, publish):
    publish(max_size=1)
    submit(slug, ["a"])
    with pytest.raises(QueueError):
        submit(slug, ["b"])
    publish(max_size=2)
    assert submit(slug, ["b"]).rank == 1


def test_drain_runs_every_batch_and_records_outputs(slug, publish):
    publish(function="trim_words", batch=True, max_batch_size=3)
    jobs = [submit(slug, [word, 2], owner=word) for word in ("alpha", "beta", "gamma", "delta")]
    assert worker.drain_demo(slug) == 2
    outputs = [
        outcome(slug, job, word).outputs
        for job, word in zip(jobs, ("alpha", "beta", "gamma", "delta"))
    ]
    assert outputs == [["al"], ["be"], ["ga"], ["de"]]


def test_a_failing_function_fails_its_batch_with_a_clear_message(slug, publish):
    from models_registry.components import Text
    from models_registry.registry import register

    @register(name="test_always_fails", inputs=[Text("t")], outputs=[Text("t")])
    def always_fails(text):
        raise RuntimeError("model exploded")

    publish(function="test_always_fails")
    job = submit(slug, ["x"], owner="o1")
    worker.drain_demo(slug)
    resumed = outcome(slug, job, "o1")
    assert resumed.status == "failed"
    assert resumed.error == {"code": "function_error", "message": "model exploded"}


def test_a_batch_function_returning_the_wrong_shape_fails_the_batch(slug, publish):
    from models_registry.components import Text
    from models_registry.registry import register

    @register(name="test_wrong_shape", inputs=[Text("t")], outputs=[Text("t")], batch=True)
    def wrong_shape(texts):
        return [texts[:1]]

    publish(function="test_wrong_shape", batch=True, max_batch_size=4)
    jobs = [submit(slug, [t], owner=t) for t in "abc"]
    worker.drain_demo(slug)
    errors = [outcome(slug, job, t).error for job, t in zip(jobs, "abc")]
    assert all("one value per job" in e["message"] for e in errors)


def test_cancel_by_owner_only(slug, publish):
    publish()
    job = submit(slug, ["a"], owner="o1")
    with pytest.raises(QueueError) as refused:
        jobs.job_cancel(slug=slug, job_id=job.job_id, owner="someone else")
    assert refused.value.code == "unknown_job"
    jobs.job_cancel(slug=slug, job_id=job.job_id, owner="o1")
    assert get_store().queue_size(slug) == 0


def test_stats_count_what_happened_in_the_line(slug, publish):
    publish(function="trim_words", batch=True, max_batch_size=2, max_size=3)
    owners = ["a", "b", "c"]
    joined = [submit(slug, ["word", 1], owner=o) for o in owners]
    with pytest.raises(QueueError):
        submit(slug, ["word", 1], owner="d")
    jobs.job_cancel(slug=slug, job_id=joined[2].job_id, owner="c")
    worker.drain_demo(slug)
    stats = demo_stats(slug=slug)
    assert (stats["admitted"], stats["completed"], stats["cancelled"]) == (3, 2, 1)
    assert stats["rejected"] == {
        "full": 1,
        "too_long": 0,
        "owner_limit": 0,
        "address_limit": 0,
        "rate_limit": 0,
        "quota": 0,
    }
    assert (stats["batches"], stats["mean_batch_size"]) == (1, 2)
    assert list(stats["run_seconds_by_batch_size"]) == [2]
    assert stats["wait_seconds"]["count"] == 2
    assert stats["eta_error_seconds"]["count"] == 2


@pytest.mark.django_db(transaction=True)
def test_a_users_tier_direct_or_through_a_group_gives_their_jobs_its_lane(slug):
    team = Tier.objects.create(name="Team", slug="team", weight=4)
    Tier.objects.create(name="Everyone", slug="everyone", default_for=Tier.ANONYMOUS)
    ada, bob, cy = (User.objects.create_user(name) for name in ("ada", "bob", "cy"))
    team.users.add(ada)
    supporters = Group.objects.create(name="supporters")
    team.groups.add(supporters)
    cy.groups.add(supporters)
    demo = Demo(slug=slug, title=slug, function="identity_text", worker_pool="nowhere")
    get_store().publish_config(slug, LineConfig.from_demo(demo, **selectors.demo_lanes(demo)))

    anonymous = [submit(slug, [f"a{n}"]) for n in range(4)]
    assert [joined.rank for joined in anonymous] == [0, 1, 2, 3]
    # Ada's tier is heavier: her job goes ahead of all but the head of the line...
    assert submit(slug, ["ada"], owner=access.user_owner(ada.pk)).rank == 1
    # ...Bob, signed in without a tier, waits with the visitors who are not...
    assert submit(slug, ["bob"], owner=access.user_owner(bob.pk)).rank == 5
    # ...and Cy has the team's lane through his group: behind Ada, ahead of the others.
    assert submit(slug, ["cy"], owner=access.user_owner(cy.pk)).rank == 2


@pytest.mark.django_db(transaction=True)
def test_a_tiers_quota_counts_every_demos_use_and_refuses_with_what_is_left(slug):
    Tier.objects.create(name="Free", slug="free", default_for=Tier.SIGNED_IN, daily_gpu_seconds=14)
    ada = User.objects.create_user("ada")
    owner = access.user_owner(ada.pk)
    elsewhere = f"{slug}-other"
    for name in (slug, elsewhere):
        demo = Demo(slug=name, title=name, function="identity_text", worker_pool="nowhere")
        demo.expected_seconds, demo.max_jobs_per_visitor = 4, None
        get_store().publish_config(name, LineConfig.from_demo(demo, **selectors.demo_lanes(demo)))
    store = get_store()
    # Ada used 3 s in another demo today and has a job of 4 s waiting there: 7 s are left,
    # room for one job of 4 s here.
    day = quota_day(time.time())
    store.redis.hincrbyfloat(usage_key(elsewhere, day), owner, 3)
    submit(elsewhere, ["there"], owner=owner)
    submit(slug, ["one"], owner=owner)
    with pytest.raises(QueueError) as refused:
        submit(slug, ["two"], owner=owner)
    error = refused.value
    assert error.code == "quota_exhausted"
    assert error.details["seconds_left"] == 3  # 14 - 3 used and 4 waiting there - 4 here
    assert error.details["resets_at"].endswith("T00:00:00+00:00")
    assert 0 < error.details["retry_after"] <= 86400
    assert store.queue_size(slug) == 1  # nothing was queued for the refused join
    # Visitors who are not signed in have no tier here, so no quota.
    assert submit(slug, ["anyone"]).rank == 1


@pytest.mark.django_db(transaction=True)
def test_a_demos_terms_refuse_a_tier_and_keep_a_share_of_turns_for_another(slug):
    team = Tier.objects.create(name="Team", slug="team", weight=8)
    fans = Tier.objects.create(name="Fans", slug="fans")
    everyone = Tier.objects.create(name="Everyone", slug="everyone", default_for=Tier.ANONYMOUS)
    demo = Demo.objects.create(
        slug=slug, title=slug, function="identity_text", worker_pool="nowhere"
    )  # published on save, as an admin's save is
    DemoTier.objects.create(demo=demo, tier=fans, min_share=50)
    DemoTier.objects.create(demo=demo, tier=everyone, refused=True)

    lanes = {lane.name: lane for lane in get_store().config(slug).lanes}
    # Half of the busy line's turns for the fans: a weight of 9 against the others' 8 + 1.
    assert lanes["fans"].weight == 9 and lanes["team"].weight == team.weight
    assert lanes["everyone"].refused and not lanes["fans"].refused
    with pytest.raises(QueueError) as refused:
        submit(slug, ["anyone"])  # not signed in: the refused tier
    assert refused.value.code == "tier_not_allowed"
    assert get_store().queue_size(slug) == 0
    # A user whose heaviest tier the demo refuses waits in another of their tiers' lanes.
    vip = Tier.objects.create(name="VIP", slug="vip", weight=20)
    DemoTier.objects.create(demo=demo, tier=vip, refused=True)
    cy = User.objects.create_user("cy")
    cy.tiers.add(vip, fans)
    joined = submit(slug, ["cy"], owner=access.user_owner(cy.pk))
    assert get_store().redis.hget(job_key(slug, joined.job_id), "lane") == "fans"
    # Given a tier that the demo takes, a user's very next join is admitted in its lane.
    bob = User.objects.create_user("bob")
    with pytest.raises(QueueError) as refused:
        submit(slug, ["bob"], owner=access.user_owner(bob.pk))  # signed in: everyone's lane
    assert refused.value.code == "tier_not_allowed"
    team.users.add(bob)
    joined = submit(slug, ["bob"], owner=access.user_owner(bob.pk))
    assert get_store().redis.hget(job_key(slug, joined.job_id), "lane") == "team"
