from models_registry.models import Demo
from queueapp.line import WITHDRAWN, LineConfig


def test_settings_survive_the_trip_through_redis():
    demo = Demo(
        slug="d",
        function="trim_words",
        batch=True,
        max_batch_size=8,
        max_size=None,
        max_wait_seconds=30,
        expected_seconds=0.25,
        paused=True,
        api_open=False,
    )
    config = LineConfig.from_demo(demo)
    stored = config.to_redis()
    # What the Lua scripts read: flags as "1"/"0", no limit as "".
    assert (stored["batch"], stored["paused"], stored["api_open"]) == ("1", "1", "0")
    assert (stored["max_size"], stored["max_wait_seconds"]) == ("", "30")
    assert LineConfig.from_redis(stored | {"version": "4"}) == LineConfig(
        **{**config.__dict__, "version": 4}
    )


def test_an_unbatched_demo_runs_one_job_per_batch():
    demo = Demo(slug="d", function="identity_text", batch=False, max_batch_size=8)
    assert LineConfig.from_demo(demo).max_batch_size == 1


def test_a_hash_without_settings_is_none():
    assert LineConfig.from_redis({}) is None
    assert LineConfig.from_redis(WITHDRAWN) is None
