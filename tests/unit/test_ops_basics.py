import json
import logging

from demo_site.logs import JSONFormatter


def test_json_logs_carry_the_job_ids_and_the_demo():
    record = logging.LogRecord(
        "queueapp.worker", logging.ERROR, __file__, 1, "a batch of %d failed", (2,), None
    )
    record.demo, record.jobs = "trim-words", ["a1", "b2"]
    entry = json.loads(JSONFormatter().format(record))
    assert entry["message"] == "a batch of 2 failed"
    assert entry["level"] == "ERROR" and entry["logger"] == "queueapp.worker"
    assert (entry["demo"], entry["jobs"]) == ("trim-words", ["a1", "b2"])


def test_metrics_ask_for_their_token_when_one_is_set(client, settings):
    settings.LINEUP_METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
