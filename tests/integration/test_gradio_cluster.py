"""Gradio's protocol across web processes: a client's `queue/join` reaches one daphne
process and its `queue/data` stream another, as a round-robin balancer would route them."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from gradio_client.utils import QueueError

from queueapp.store import get_store, key
from tests.conftest import resume_code
from tests.support.gradio import gradio_client

from .cluster import ROOT, Cluster

pytestmark = pytest.mark.stack


def manage_shell(cluster: Cluster, code: str) -> None:
    """Run Python in the cluster's Django (its database, its Redis), as an admin would."""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, **cluster.env},
        check=True,
    )


def create_demo(cluster: Cluster, slug: str, **fields) -> None:
    manage_shell(
        cluster,
        "from models_registry.models import Demo\n"
        f"Demo.objects.create(slug={slug!r}, title={slug!r}, **{fields!r})",
    )


def test_join_on_one_web_process_and_listen_on_the_other(tmp_path, slug):
    cluster = Cluster(tmp_path)
    try:
        sites = [f"http://127.0.0.1:{cluster.daphne()}" for _ in range(2)]
        # Both processes share the cluster's database: the demo, and the caller's session.
        create_demo(cluster, slug, function="tell_story")
        cluster.worker("default")
        caller = requests.Session()
        assert caller.get(f"{sites[0]}/demos/{slug}/config", timeout=30).ok
        joined = caller.post(
            f"{sites[0]}/demos/{slug}/gradio_api/queue/join",
            json={"data": ["a cat"], "fn_index": 0, "session_hash": "s1"},
            timeout=30,
        )
        event_id = joined.json()["event_id"]
        stream = caller.get(
            f"{sites[1]}/demos/{slug}/gradio_api/queue/data?session_hash=s1", timeout=120
        )
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        chunks = stream.text.split("\n\n")
        assert chunks[-1] == "" and all(chunk.startswith("data: ") for chunk in chunks[:-1])
        messages = [json.loads(chunk.removeprefix("data: ")) for chunk in chunks[:-1]]
        kinds = [message["msg"] for message in messages]
        # Every message of the event, in order, once; then the stream closes.
        assert kinds[-2:] == ["process_completed", "close_stream"]
        assert kinds.count("process_starts") == 1 and kinds.count("process_completed") == 1
        assert kinds.index("process_starts") < kinds.index("process_generating")
        assert all(kind != "estimation" for kind in kinds[kinds.index("process_starts") :])
        assert {m["event_id"] for m in messages[:-1]} == {event_id}
        completed = messages[-2]
        assert completed["success"] is True
        assert "a cat" in completed["output"]["data"][0]
    finally:
        cluster.stop()


def test_two_hundred_jobs_from_twenty_threads_through_a_line_of_fifty(tmp_path, slug):
    # One address for every caller here: no limit per address, as behind a shared gateway.
    cluster = Cluster(tmp_path, LINEUP_MAX_JOBS_PER_ADDRESS="0")
    try:
        site = f"http://127.0.0.1:{cluster.daphne()}"
        # Paused: nothing starts, so exactly the line's fifty places are taken.
        create_demo(
            cluster,
            slug,
            function="identity_text",
            max_size=50,
            max_jobs_per_visitor=None,
            paused=True,
        )
        cluster.worker("default")
        endpoint = f"/{slug.replace('-', '_')}"

        def caller(n: int) -> list:
            mine = gradio_client(f"{site}/demos/{slug}/")
            return [(f"{n}/{k}", mine.submit(f"{n}/{k}", api_name=endpoint)) for k in range(10)]

        with ThreadPoolExecutor(max_workers=20) as pool:
            sent = dict(pair for found in pool.map(caller, range(20)) for pair in found)
        deadline = time.monotonic() + 60
        while sum(job.done() for job in sent.values()) < 150:
            assert time.monotonic() < deadline, "the refusals did not all come"
            time.sleep(0.05)
        refused = [job for job in sent.values() if job.done()]
        for job in refused:
            with pytest.raises(QueueError):
                job.result()
        assert get_store().queue_size(slug) == 50
        manage_shell(cluster, resume_code(slug))
        for label, job in sent.items():
            if job not in refused:
                assert job.result(timeout=120) == label
        stats = get_store().redis.hgetall(key(slug, "stats"))
        assert (stats["completed"], stats["rejected_full"]) == ("50", "150")
        assert get_store().queue_size(slug) == 0
    finally:
        cluster.stop()
