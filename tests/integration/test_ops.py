"""What ops watch: /metrics read back by Prometheus's own parser, and /healthz and /readyz."""

import asyncio
import json
import time
import uuid

import psutil
import pytest
import requests
import websockets
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.stack


def scrape(stack) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, by name and sorted labels."""
    response = requests.get(f"{stack.base_url}/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_count_what_the_test_did(stack):
    quick = stack.add_demo(f"t-quick-{uuid.uuid4().hex[:8]}", function="identity_text")
    slow = stack.add_demo(
        f"t-slow-{uuid.uuid4().hex[:8]}",
        function="slow_steps",
        concurrency_count=1,
        max_size=1,
        max_jobs_per_visitor=None,
    )
    visitor = requests.Session()
    for n in range(5):
        done = visitor.post(
            f"{stack.base_url}/api/v1/demos/{quick}/predict/", json={"data": [f"hello {n}"]}
        )
        assert done.json()["status"] == "completed"
    jobs = f"{stack.base_url}/api/v1/demos/{slow}/jobs/"
    running = visitor.post(jobs, json={"data": [4]}).json()
    deadline = time.monotonic() + 20
    while visitor.get(stack.base_url + running["links"]["self"]).json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert requests.Session().post(jobs, json={"data": [1]}).status_code == 202
    assert requests.Session().post(jobs, json={"data": [1]}).status_code == 429

    samples = scrape(stack)

    def value(name: str, **labels) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("lineup_jobs_total", demo=quick, event="admitted") == 5
    assert value("lineup_jobs_total", demo=quick, event="completed") == 5
    assert value("lineup_wait_seconds_count", demo=quick) == 5
    assert value("lineup_wait_seconds_bucket", demo=quick, le="+Inf") == 5
    assert value("lineup_run_seconds_count", demo=quick) == 5
    assert value("lineup_batch_size_sum", demo=quick) == 5
    assert value("lineup_batch_size_bucket", demo=quick, le="1") == 5
    # A job that a waiting worker takes before its ETA is even noted has no ETA error.
    assert 1 <= value("lineup_eta_error_seconds_count", demo=quick) <= 5
    assert 0 < value("lineup_wait_seconds_sum", demo=quick) < 5
    assert value("lineup_waiting", demo=slow) == 1
    assert value("lineup_running", demo=slow) == 1
    assert value("lineup_rejections_total", demo=slow, reason="full") == 1
    assert value("lineup_jobs_total", demo=slow, event="admitted") == 2
    assert value("lineup_live_workers", pool="default") >= 1
    # The same by lane: visitors without a tier share the default lane.
    lane = "default"
    assert value("lineup_lane_jobs_total", demo=quick, lane=lane, event="admitted") == 5
    assert value("lineup_lane_jobs_total", demo=quick, lane=lane, event="started") == 5
    assert value("lineup_lane_wait_seconds_count", demo=quick, lane=lane) == 5
    assert value("lineup_lane_gpu_seconds_total", demo=quick, lane=lane) > 0
    assert value("lineup_lane_waiting", demo=slow, lane=lane) == 1
    assert value("lineup_lane_jobs_total", demo=slow, lane=lane, event="rejected") == 1


def test_health_and_readiness(stack):
    assert requests.get(f"{stack.base_url}/healthz").json() == {"status": "ok"}
    stack.add_demo(
        f"t-orphan-{uuid.uuid4().hex[:8]}", function="identity_text", worker_pool="nobody-here"
    )
    response = requests.get(f"{stack.base_url}/readyz")
    checks = response.json()["checks"]
    assert checks["database"] == "ok" and checks["redis"] == "ok"
    assert checks["pool default"] == "1 live worker(s)"
    assert checks["pool nobody-here"] == "no live worker"
    assert response.status_code == 503 and response.json()["ready"] is False


def test_runstack_serves_one_port_with_several_web_processes(stack):
    port = int(stack.base_url.rsplit(":", 1)[1])
    runstack = psutil.Process(stack.process.pid)
    web = [p for p in runstack.children(recursive=True) if "daphne" in " ".join(p.cmdline())]
    assert len(web) == 2  # LINEUP_WEB_PROCESSES of the stack
    for process in web:
        listening = [c for c in process.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        assert [c.laddr.port for c in listening] == [port]

    async def crowd() -> list[dict]:
        async def hello() -> dict:
            async with websockets.connect(stack.ws_url, origin=stack.base_url) as socket:
                return json.loads(await socket.recv())

        return await asyncio.gather(*(hello() for _ in range(50)))

    assert all(frame["msg"] == "hello" for frame in asyncio.run(crowd()))
