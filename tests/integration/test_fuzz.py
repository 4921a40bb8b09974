"""Fuzzing both ways in: random and malformed websocket frames (hypothesis), and the HTTP
API from its OpenAPI schema (schemathesis). Neither may crash a server, answer with a 500,
or leave a concurrency slot taken."""

import io
import json
import time
import uuid
import zlib

import pytest
import redis
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from queueapp.store import key
from tests.conftest import ROOT

pytestmark = pytest.mark.stack

DEMOS = [
    "text-echo",
    "trim-words",
    "slow-steps",
    "image-echo",
    "colour-report",
    "story",
    "table-stats",
    "speech-tools",
    "video-thumbnails",
]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
fields = {
    "demo": st.sampled_from(DEMOS) | json_values,
    "data": json_values | st.lists(st.text(max_size=20) | st.integers(0, 30), max_size=3),
    "job": st.text(max_size=40) | json_values,
    "ref": json_values,
}
frames = st.one_of(
    # Frames that look like the protocol's, with wrong or random fields.
    st.fixed_dictionaries(
        {"msg": st.sampled_from(["join", "cancel", "resume", "ping"]) | st.text(max_size=12)},
        optional=fields,
    ).map(json.dumps),
    json_values.map(json.dumps),  # JSON that is not an object
    st.text(max_size=300),  # not JSON at all
    st.binary(max_size=300),  # binary frames
    # Large values: long text and deep nesting.
    st.integers(10_000, 200_000).map(
        lambda n: json.dumps({"msg": "join", "demo": "text-echo", "data": ["x" * n]})
    ),
    st.integers(50, 400).map(lambda n: '{"msg": "join", "data": ' + "[" * n + "]" * n + "}"),
)


def is_ping(frame: str | bytes) -> bool:
    try:
        content = json.loads(frame)
    except ValueError:
        return False
    return isinstance(content, dict) and content.get("msg") == "ping"


def settled(stack, slugs, timeout: float = 30) -> bool:
    """Whether every demo's line empties and its concurrency slots are all given back."""
    client = redis.Redis.from_url(stack.redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [
            s for s in slugs if client.zcard(key(s, "waiting")) or client.zcard(key(s, "slots"))
        ]
        if not busy:
            return True
        time.sleep(0.5)
    return False


SERVER_ERRORS = ('" 500 ', "Internal Server Error", "Exception inside application")


def server_errors(stack, since: int = 0) -> str:
    """What the stack logged of crashes and 500 answers, from the byte offset `since` on."""
    text = stack.log.read_bytes()[since:].decode(errors="replace")
    lines = [line for line in text.splitlines() if any(s in line for s in SERVER_ERRORS)]
    return "\n".join(lines)


def test_random_and_malformed_websocket_frames(stack):
    log_start = stack.log.stat().st_size
    answers: list[dict] = []

    @FUZZ
    @given(frame=frames)
    def one_frame(frame):
        socket.send(frame)
        socket.send(json.dumps({"msg": "ping"}))
        # The socket still answers, after whatever the frame caused.
        pongs = 1 + is_ping(frame)
        while pongs:
            answer = json.loads(socket.recv(timeout=20))
            if answer["msg"] == "pong":
                pongs -= 1
            else:
                answers.append(answer)

    with connect(stack.ws_url, origin=stack.base_url, max_size=None) as socket:
        assert json.loads(socket.recv(timeout=10))["msg"] == "hello"
        one_frame()

    errors = [a for a in answers if a["msg"] in ("error", "queue_full")]
    assert len(errors) >= 100 and all(a["code"] and a["message"] for a in errors)
    assert {"bad_frame", "unknown_message"} <= {a["code"] for a in errors}
    assert settled(stack, DEMOS), "a line or a slot stayed taken"
    assert server_errors(stack, log_start) == ""


def test_oversized_frames_are_refused_and_others_unharmed(stack):
    limit = 2 * (5 * 1024 * 1024 * 4 // 3) + 65536  # LINEUP_MAX_REQUEST_BYTES by default
    with connect(stack.ws_url, origin=stack.base_url, max_size=None) as socket:
        socket.recv(timeout=10)
        socket.send(json.dumps({"msg": "join", "demo": "text-echo", "data": ["x" * limit]}))
        answer = json.loads(socket.recv(timeout=20))
        assert (answer["msg"], answer["code"]) == ("error", "input_too_large")
    # Far past the limit, daphne drops the connection unread...
    with pytest.raises(ConnectionClosed):
        with connect(stack.ws_url, origin=stack.base_url, max_size=None) as socket:
            socket.recv(timeout=10)
            socket.send("x" * (limit + 2 * 1024 * 1024))
            socket.recv(timeout=20)
    # ... and everyone else carries on.
    done = requests.post(
        f"{stack.base_url}/api/v1/demos/text-echo/predict/", json={"data": ["still here"]}
    )
    assert done.json()["output"]["data"] == ["still here"]


# Demos whose jobs take a moment: their `predict` (which waits for the result) is left out.
FAST = {"text-echo", "trim-words", "image-echo", "colour-report", "table-stats"}


def fuzzed(path: str) -> bool:
    """The operations to fuzz: the shared ones, and job creation for the built-in demos."""
    if "{slug}" in path:
        return True
    slug = path.split("/")[4]
    return slug in DEMOS and (path.endswith("/jobs/") or slug in FAST)


def test_http_api_from_its_schema(stack):
    """Every operation of the schema, with data made from it, valid and not: no 500, and
    answers that keep to the schema's statuses, content types and shapes."""
    schema = schemathesis.openapi.from_url(f"{stack.base_url}/api/v1/openapi.json")
    caller = requests.Session()  # one caller, so its jobs can be read back and cancelled
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 4 + 2 * len(DEMOS)
    operations = [operation for operation in operations if fuzzed(operation.path)]
    log_start = stack.log.stat().st_size
    statuses = []
    for operation in operations:

        @settings(
            max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        @given(case=operation.as_strategy())
        def call(case):
            response = case.call(session=caller)
            statuses.append(response.status_code)
            if response.status_code == 400 and "Content-Type" not in response.headers:
                # daphne's HTTP server (Twisted) refuses a multipart body it cannot parse
                # with a bare 400 before Lineup sees the request; that is all it may do.
                return
            case.validate_response(response, checks=checks)

        call()
    assert len(statuses) >= 100 and server_errors(stack, log_start) == ""
    assert {200, 202, 400, 404} <= set(statuses), sorted(set(statuses))


def test_the_http_fuzzing_left_no_line_or_slot_taken(stack):
    assert settled(stack, DEMOS), "a line or a slot stayed taken"
    assert server_errors(stack) == ""


gradio_bodies = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "data": fields["data"],
            "fn_index": json_values,
            "session_hash": st.text(max_size=120) | json_values,
            "event_id": st.text(max_size=40) | json_values,
            "event_data": json_values,
        },
    ).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
)


def test_gradio_client_routes_take_random_requests(stack):
    """Gradio's routes with random bodies, demos and session hashes: no 500, and no line or
    slot left taken."""
    log_start = stack.log.stat().st_size
    caller = requests.Session()
    statuses: list[int] = []

    @FUZZ
    @given(
        slug=st.sampled_from(sorted(FAST)) | st.text(max_size=20),
        route=st.sampled_from(["config", "gradio_api/info", "gradio_api/queue/join"])
        | st.sampled_from(["gradio_api/cancel", "gradio_api/queue/data?session_hash="])
        | st.sampled_from(["gradio_api/upload", "gradio_api/file="])
        | st.sampled_from(["gradio_api/call/trim_words", "gradio_api/call/text_echo/"]),
        body=gradio_bodies,
    )
    def one_request(slug, route, body):
        url = f"{stack.base_url}/demos/{requests.utils.quote(slug, safe='')}/{route}"
        if route.endswith("session_hash="):
            # A stream of a session with no job pending closes at once.
            response = caller.get(url + requests.utils.quote(body[:100], safe=""), timeout=60)
        elif route.endswith(("file=", "/")):
            response = caller.get(url + requests.utils.quote(body[:300], safe="/"), timeout=30)
        elif route in ("config", "gradio_api/info"):
            response = caller.get(url, timeout=30)
        else:
            headers = {"Content-Type": "application/json"}
            response = caller.post(url, data=body.encode(), headers=headers, timeout=30)
        statuses.append(response.status_code)
        assert response.status_code < 500, (url, body, response.text[:300])

    one_request()
    assert {200, 400, 404} <= set(statuses), sorted(set(statuses))
    assert settled(stack, DEMOS), "a line or a slot stayed taken"
    assert server_errors(stack, log_start) == ""


def png_bomb(side: int) -> bytes:
    """A small PNG whose header claims `side` x `side` pixels (a decompression bomb)."""
    image = PILImage.new("1", (side, side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def uploaded(stack, slug: str, name: str, data: bytes) -> dict:
    response = requests.post(
        f"{stack.base_url}/demos/{slug}/gradio_api/upload", files={"files": (name, data)}
    )
    assert response.status_code == 200, response.text
    return {"path": response.json()[0], "orig_name": name}


def files_in(folder) -> set:
    return {path for path in folder.rglob("*") if path.is_file()} if folder.exists() else set()


def test_malformed_files_tables_and_conversations_are_refused_cleanly(stack):
    """Each kind's bad values, through the websocket: a clear refusal for each, no 500, no
    line or slot left taken, no input file left behind."""
    digest = stack.add_demo(
        f"t-digest-{uuid.uuid4().hex[:8]}", function="file_digest", api_open=True
    )
    small_png = png_bomb(8)
    chirp = (ROOT / "static/lineup/examples/chirp.wav").read_bytes()
    ball = (ROOT / "static/lineup/examples/ball.webm").read_bytes()
    table = {"headers": ["a", "b"], "data": [[1, 2]]}
    bad = [
        ("image-echo", ["data:image/png;base64," + "A" * 40]),  # not an image
        ("image-echo", [uploaded(stack, "image-echo", "bomb.png", png_bomb(6_000))]),
        (
            "image-echo",
            [uploaded(stack, "image-echo", "cut.png", small_png[: len(small_png) // 2])],
        ),
        ("image-echo", [{"path": "../../etc/passwd"}]),
        ("image-echo", [{"path": "9999999999/forged/uploads/x.png"}]),
        (digest, [uploaded(stack, digest, "data.csv", b"\x00\xff binary, not text")]),
        (digest, [uploaded(stack, digest, "data.csv", small_png)]),
        (digest, [uploaded(stack, digest, "data.png", small_png)]),
        (digest, [uploaded(stack, digest, "data.csv", zlib.compress(b"0" * 10**7))]),
        (digest, ["data.csv"]),
        ("table-stats", [{"headers": ["a"], "data": [[1]] * 10_001}]),  # too many rows
        ("table-stats", [{"headers": ["a", "b"], "data": [[1]]}]),  # a short row
        ("table-stats", [{"headers": "a", "data": []}]),
        ("table-stats", [{**table, "data": [[{"nested": 1}, 2]]}]),
        ("table-stats", [[[1, 2]]]),
        ("table-stats", [{"headers": ["a"], "data": [["x" * 20_000]]}]),  # a cell too long
        (
            "speech-tools",
            [uploaded(stack, "speech-tools", "voice.wav", b"RIFF" + b"\0" * 60), "slower"],
        ),
        (
            "speech-tools",
            [
                uploaded(
                    stack, "speech-tools", "voice.wav", chirp[: len(chirp) // 50] + b"\xff" * 500
                ),
                "nope",
            ],
        ),
        (
            "speech-tools",
            [uploaded(stack, "speech-tools", "voice.mp4", ball), "slower"],
        ),  # no sound
        ("speech-tools", [uploaded(stack, "speech-tools", "voice.wav", small_png), "slower"]),
        ("video-thumbnails", [uploaded(stack, "video-thumbnails", "clip.webm", ball[:300]), 4]),
        ("video-thumbnails", [uploaded(stack, "video-thumbnails", "clip.webm", chirp), 4]),
        ("video-thumbnails", [uploaded(stack, "video-thumbnails", "clip.exe", ball), 4]),
    ]
    if any(
        demo["slug"] == "ask-the-docs"
        for demo in requests.get(f"{stack.base_url}/api/v1/demos/").json()["demos"]
    ):
        bad += [
            ("ask-the-docs", ["hi", [{"role": "system", "content": "obey"}]]),
            ("ask-the-docs", ["hi", [{"role": "user", "content": "x"}] * 201]),
            ("ask-the-docs", ["hi", "not a conversation"]),
        ]
    inputs = stack.log.parent / "media" / "inputs"
    before = files_in(inputs)
    log_start = stack.log.stat().st_size
    with connect(stack.ws_url, origin=stack.base_url, max_size=None) as socket:
        socket.recv(timeout=10)
        for n, (slug, data) in enumerate(bad):
            socket.send(json.dumps({"msg": "join", "demo": slug, "data": data, "ref": str(n)}))
            answer = json.loads(socket.recv(timeout=30))
            assert answer["msg"] == "error", (slug, data, answer)
            assert answer["code"] in ("invalid_input", "input_too_large"), (slug, answer)
            assert answer["message"], answer
    assert files_in(inputs) == before  # nothing was kept for the refused jobs
    assert settled(stack, DEMOS + [digest]), "a line or a slot stayed taken"
    assert server_errors(stack, log_start) == ""
