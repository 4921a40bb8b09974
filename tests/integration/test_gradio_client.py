"""Gradio's own Python client (`gradio_client`, the real package) calls Lineup demos at the
URL a visitor sees, through the same line as every other way in."""

import hashlib
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import redis
import requests
from gradio_client import handle_file
from gradio_client.exceptions import ValidationError
from gradio_client.utils import QueueError, Status
from PIL import Image as PILImage

from models_registry.builtin_demos import BUILTIN_DEMOS
from models_registry.registry import get_function
from queueapp.store import key
from tests.conftest import EXAMPLE_IMAGE, ROOT
from tests.support.gradio import gradio_client

pytestmark = pytest.mark.stack


def client(stack, slug: str):
    return gradio_client(f"{stack.base_url}/demos/{slug}/")


def test_the_client_reads_the_demo_s_api(stack):
    api = client(stack, "trim-words").view_api(print_info=False, return_format="dict")
    endpoint = api["named_endpoints"]["/trim_words"]
    assert [p["parameter_name"] for p in endpoint["parameters"]] == ["word", "length"]
    assert [p["python_type"]["type"] for p in endpoint["parameters"]] == ["str", "float"]
    assert [r["label"] for r in endpoint["returns"]] == ["Trimmed word"]


def test_predict_runs_a_job_through_the_line(stack):
    assert client(stack, "trim-words").predict("lineup", 4, api_name="/trim_words") == "line"
    assert client(stack, "text-echo").predict("hello", api_name="/text_echo") == "hello"


def test_every_built_in_demo_answers_its_example(stack):
    listed = requests.get(f"{stack.base_url}/api/v1/demos/", timeout=30).json()
    loaded = {demo["slug"] for demo in listed["demos"]}
    demos = [demo for demo in BUILTIN_DEMOS if demo["slug"] in loaded]
    assert len(demos) >= len(BUILTIN_DEMOS) - 1  # all, less the real model without its extra
    for demo in demos:
        function = get_function(demo["function"])
        inputs = [
            handle_file(str(ROOT / value.lstrip("/"))) if component.holds_files else value
            for component, value in zip(function.inputs, demo["examples"][0])
        ]
        endpoint = "/" + demo["slug"].replace("-", "_")
        result = client(stack, demo["slug"]).predict(*inputs, api_name=endpoint)
        results = result if len(function.outputs) > 1 else (result,)
        assert len(results) == len(function.outputs), demo["slug"]
        for component, value in zip(function.outputs, results):
            if component.kind == "image":
                assert PILImage.open(value).width > 0, demo["slug"]
            elif component.kind in ("audio", "file"):
                assert os.path.getsize(value) > 0, demo["slug"]
            else:
                assert value not in (None, "", []), demo["slug"]


def test_images_go_in_as_uploads_and_come_back_as_files(stack, tmp_path):
    sent = PILImage.open(EXAMPLE_IMAGE).convert("RGB")
    got = client(stack, "image-echo").predict(
        handle_file(str(EXAMPLE_IMAGE)), api_name="/image_echo"
    )
    back = PILImage.open(got).convert("RGB")
    assert back.size == sent.size and back.tobytes() == sent.tobytes()  # pixel for pixel

    inputs = [handle_file(str(EXAMPLE_IMAGE)), "basic", 2, 0, False, "a note"]
    label, details, swatches = client(stack, "colour-report").predict(
        *inputs, api_name="/colour_report"
    )
    assert details["size"] == [sent.width, sent.height] and details["note"] == "a note"
    assert PILImage.open(swatches).size == (80, 40)


def test_tables_galleries_files_and_markdown_both_ways(stack, tmp_path):
    table = {"headers": ["x", "y"], "data": [[1, 2], [3, 5], [6, 9]]}
    overview, summary, gallery, csv = client(stack, "table-stats").predict(
        table, api_name="/table_stats"
    )
    assert overview.startswith("**3 rows**")  # Markdown reaches Gradio's clients as its text
    assert summary["headers"][:2] == ["column", "count"] and len(summary["data"]) == 2
    assert [item["caption"] for item in gallery] == ["x", "y"]
    assert all(PILImage.open(item["image"]).size == (320, 240) for item in gallery)
    assert open(csv).read().startswith("column,count,mean")

    data = tmp_path / "numbers.csv"
    data.write_text("n\n1\n2\n")
    slug = stack.add_demo(f"t-digest-{uuid.uuid4().hex[:8]}", function="file_digest", api_open=True)
    digest = client(stack, slug).predict(
        handle_file(str(data)), api_name="/" + slug.replace("-", "_")
    )
    assert digest.endswith(hashlib.sha256(data.read_bytes()).hexdigest())
    wrong = tmp_path / "numbers.png"
    wrong.write_text("n\n1\n")
    with pytest.raises(Exception, match="only .csv files"):
        client(stack, slug).predict(handle_file(str(wrong)), api_name="/" + slug.replace("-", "_"))


def test_choices_colours_and_long_text_both_ways(stack):
    slug = stack.add_demo(f"t-choices-{uuid.uuid4().hex[:8]}", function="choices_echo")
    got = client(stack, slug).predict(
        "large", ["basil", "cheese"], "#ABC", "two\nlines", api_name="/" + slug.replace("-", "_")
    )
    assert list(got) == ["large", ["cheese", "basil"], "#aabbcc", "two\nlines"]
    with pytest.raises(Exception, match="choose among"):
        client(stack, slug).predict(
            "large", ["ham"], "#abc", "", api_name="/" + slug.replace("-", "_")
        )


def test_a_chat_takes_and_gives_the_conversation(stack):
    earlier = [
        {"role": "user", "content": "What is Lineup?"},
        {"role": "assistant", "content": "A queue for demos."},
    ]
    job = client(stack, "ask-the-docs").submit(
        "How do I limit how many visitors wait?", earlier, api_name="/ask_the_docs"
    )
    conversation = job.result(timeout=120)
    assert conversation[:2] == earlier
    assert conversation[2] == {"role": "user", "content": "How do I limit how many visitors wait?"}
    assert conversation[3]["role"] == "assistant" and "(from " in conversation[3]["content"]
    partials = [output[0] for output in job.outputs()][:-1]
    assert len(partials) >= 2  # the reply streamed


def test_only_signed_paths_of_the_store_can_be_read_or_sent(stack):
    prefix = f"{stack.base_url}/demos/image-echo/gradio_api"
    with open(EXAMPLE_IMAGE, "rb") as image:
        uploaded = requests.post(f"{prefix}/upload", files={"files": image}, timeout=30)
    (path,) = uploaded.json()
    assert requests.get(f"{prefix}/file={path}", timeout=30).content == EXAMPLE_IMAGE.read_bytes()
    expires, signature, name = path.split("/", 2)
    forged = [
        "../../etc/passwd",
        "/etc/passwd",
        f"{expires}/{signature}/../../settings.py",
        f"{expires}/{'0' * len(signature)}/{name}",
        f"{int(expires) + 1}/{signature}/{name}",
        f"{expires}/{signature}/inputs/{name.split('/')[1]}",
        name,
    ]
    for attempt in forged:
        assert requests.get(f"{prefix}/file={attempt}", timeout=30).status_code == 404, attempt
    join = {"fn_index": 0, "session_hash": "forger"}
    for attempt in [*forged, path.replace("uploads", "results")]:
        data = [{"path": attempt, "meta": {"_type": "gradio.FileData"}}]
        refused = requests.post(f"{prefix}/queue/join", json={**join, "data": data}, timeout=30)
        assert refused.status_code == 422, attempt
        assert refused.json()["detail"][0]["parameter_name"] == "image"


def test_what_a_function_logs_reaches_the_client_as_log_messages(stack):
    caller = requests.Session()
    prefix = f"{stack.base_url}/demos/slow-steps"
    assert caller.get(f"{prefix}/config", timeout=30).ok
    join = {"data": [3], "fn_index": 0, "session_hash": "logs"}
    event_id = caller.post(f"{prefix}/gradio_api/queue/join", json=join, timeout=30).json()[
        "event_id"
    ]
    stream = caller.get(f"{prefix}/gradio_api/queue/data?session_hash=logs", timeout=120)
    messages = [
        json.loads(chunk.removeprefix("data: ")) for chunk in stream.text.split("\n\n")[:-1]
    ]
    kinds = [message["msg"] for message in messages]
    logs = [message for message in messages if message["msg"] == "log"]
    assert [(m["log"], m["level"], m["event_id"]) for m in logs] == [
        ("Halfway: 2 of 3 steps done.", "success", event_id)
    ]
    assert kinds.index("process_starts") < kinds.index("log") < kinds.index("process_completed")


def test_gradio_s_curl_route_runs_jobs_through_the_line(stack):
    call = f"{stack.base_url}/demos/trim-words/gradio_api/call/trim_words"
    event_id = requests.post(call, json={"data": ["lineup", 4]}, timeout=30).json()["event_id"]
    assert requests.get(f"{call}/{event_id}", timeout=60).text == (
        'event: complete\ndata: ["line"]\n\n'
    )
    # A generator's partial outputs come whole, then the result.
    story = f"{stack.base_url}/demos/story/gradio_api/call/story"
    event_id = requests.post(story, json={"data": ["a fox"]}, timeout=30).json()["event_id"]
    chunks = requests.get(f"{story}/{event_id}", timeout=60).text.split("\n\n")[:-1]
    events = [(chunk.split("\n")[0], json.loads(chunk.split("\ndata: ")[1])) for chunk in chunks]
    assert {event for event, _ in events[:-1]} == {"event: generating"}
    assert events[-1][0] == "event: complete"
    assert all(events[-1][1][0].startswith(data[0]) for _, data in events[:-1])
    # A bad input names its parameter; an event id nobody was given, or another session's
    # request for it, finds nothing.
    refused = requests.post(call, json={"data": ["lineup", "four"]}, timeout=30)
    assert refused.status_code == 422 and refused.json()["detail"][0]["parameter_name"] == "length"
    assert requests.get(f"{call}/never-given", timeout=30).status_code == 404
    event_id = requests.post(call, json={"data": ["lineup", 2]}, timeout=30).json()["event_id"]
    stranger = requests.Session()
    assert stranger.get(f"{stack.base_url}/demos/trim-words/config", timeout=30).ok
    assert stranger.get(f"{call}/{event_id}", timeout=30).status_code == 404
    assert requests.get(f"{call}/{event_id}", timeout=60).text.endswith('data: ["li"]\n\n')


def test_a_generator_s_partial_outputs_reach_the_job(stack):
    job = client(stack, "story").submit("a cat", api_name="/story")
    story = job.result(timeout=60)
    assert story.startswith("Once") or "a cat" in story
    outputs = job.outputs()
    assert len(outputs) > 1 and outputs[-1] == story
    assert all(story.startswith(partial) for partial in outputs)


def test_a_bad_input_is_refused_naming_the_parameter(stack):
    with pytest.raises(ValidationError) as refused:
        client(stack, "trim-words").predict("x" * 10_000, 2, api_name="/trim_words")
    assert "- word: " in str(refused.value)


def test_a_demo_closed_to_scripts_is_refused(stack):
    slug = stack.add_demo(
        f"t-closed-{uuid.uuid4().hex[:8]}", function="identity_text", api_open=False
    )
    with pytest.raises(ValueError):
        client(stack, slug)


@pytest.fixture
def paused_line(stack):
    """A fresh demo whose line is paused (jobs wait, none starts), at most 2 waiting."""
    return stack.add_demo(
        f"t-paused-{uuid.uuid4().hex[:8]}",
        function="slow_steps",
        max_size=2,
        max_jobs_per_visitor=None,
        expected_seconds=1,
        paused=True,
    )


def until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"after {timeout} s: {what}"
        time.sleep(0.05)


def test_a_waiting_job_shows_its_rank_and_eta_and_can_be_cancelled(stack, paused_line):
    caller = client(stack, paused_line)
    endpoint = f"/{paused_line.replace('-', '_')}"
    jobs = [caller.submit(1, api_name=endpoint) for _ in range(2)]

    def told_their_places() -> bool:
        statuses = [job.status() for job in jobs]
        waiting = all(status.code == Status.IN_QUEUE for status in statuses)
        return waiting and sorted(status.rank for status in statuses) == [0, 1]

    until(told_their_places, "the jobs were never told their places")
    assert all(job.status().eta > 0 for job in jobs)
    second = next(job for job in jobs if job.status().rank == 1)
    assert second.cancel()
    stack.resume_demo(paused_line)
    (first,) = [job for job in jobs if job is not second]
    assert first.result(timeout=60) == "finished 1 steps"
    stats = redis.Redis.from_url(stack.redis_url, decode_responses=True).hgetall(
        key(paused_line, "stats")
    )
    assert (stats.get("completed"), stats.get("cancelled")) == ("1", "1")


def test_a_full_line_raises_and_keeps_the_line(stack, paused_line):
    caller = client(stack, paused_line)
    endpoint = f"/{paused_line.replace('-', '_')}"
    jobs = [caller.submit(1, api_name=endpoint) for _ in range(2)]
    until(
        lambda: all(job.status().code == Status.IN_QUEUE for job in jobs),
        "the line never filled",
    )
    with pytest.raises(QueueError):
        caller.predict(1, api_name=endpoint)
    stack.resume_demo(paused_line)
    assert [job.result(timeout=60) for job in jobs] == ["finished 1 steps"] * 2


def run_gradio_snippet(stack, slug: str, folder) -> str:
    """Run the API page's Gradio snippet as shown, in `folder`; the last line it printed."""
    page = requests.get(f"{stack.base_url}/demos/{slug}/api/", timeout=30).text
    shown = re.search(r"<pre><code>(from gradio_client.*?)</code></pre>", page, re.S)
    snippet = html.unescape(shown.group(1))
    ran = subprocess.run(
        [sys.executable, "-c", snippet], capture_output=True, text=True, timeout=120, cwd=folder
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout.strip().splitlines()[-1]


def test_the_api_page_s_gradio_snippet_runs_as_shown(stack, tmp_path):
    assert run_gradio_snippet(stack, "text-echo", tmp_path) == "Hello, Lineup!"
    # With a file: the snippet names one the reader has at hand.
    shutil.copy(EXAMPLE_IMAGE, tmp_path / "your-image.png")
    downloaded = run_gradio_snippet(stack, "image-echo", tmp_path)
    assert PILImage.open(downloaded).size == PILImage.open(EXAMPLE_IMAGE).size


def test_another_session_can_neither_read_nor_cancel_a_job(stack, paused_line):
    prefix = f"{stack.base_url}/demos/{paused_line}"
    owner, stranger = requests.Session(), requests.Session()
    for visitor in (owner, stranger):
        assert visitor.get(f"{prefix}/config", timeout=30).ok  # each gets its session cookie
    joined = [
        owner.post(
            f"{prefix}/gradio_api/queue/join",
            json={"data": [4], "fn_index": 0, "session_hash": "mine"},
            timeout=30,
        ).json()["event_id"]
        for _ in range(2)
    ]
    # The stranger knows the session hash and the job's id, and still sees and stops nothing.
    refused = stranger.post(
        f"{prefix}/gradio_api/cancel", json={"session_hash": "mine", "event_id": joined[1]}
    )
    assert refused.status_code == 404
    stream = stranger.get(f"{prefix}/gradio_api/queue/data?session_hash=mine", timeout=30)
    assert stream.text == 'data: {"msg": "close_stream", "event_id": null}\n\n'
    jobs = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    assert jobs.zrank(key(paused_line, "waiting"), joined[1]) == 1
    # Its owner can.
    cancelled = owner.post(
        f"{prefix}/gradio_api/cancel", json={"session_hash": "mine", "event_id": joined[1]}
    )
    assert cancelled.json() == {"success": True}
    assert jobs.zrank(key(paused_line, "waiting"), joined[1]) is None
