"""Gradio's protocol across web processes: a client's `queue/join` reaches one daphne
process and its `queue/data` stream another, as a round-robin balancer would route them."""

import json
import os
import subprocess
import sys

import pytest
import requests

from .cluster import ROOT, Cluster

pytestmark = pytest.mark.stack


def test_join_on_one_web_process_and_listen_on_the_other(tmp_path, slug):
    cluster = Cluster(tmp_path)
    try:
        sites = [f"http://127.0.0.1:{cluster.daphne()}" for _ in range(2)]
        # Both processes share the cluster's database: the demo, and the caller's session.
        create = f"from models_registry.models import Demo; Demo.objects.create(slug={slug!r}, title='Story', function='tell_story')"
        subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", create],
            cwd=ROOT,
            env={**os.environ, **cluster.env},
            check=True,
        )
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
