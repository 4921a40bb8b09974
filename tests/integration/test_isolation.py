"""One bad value, one unknown name, one late frame or one lost job harms nobody else: it is
refused or told clearly, and costs nothing that lasts."""

import json
import uuid

import pytest
import redis
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .test_api import api, post_job, refused

pytestmark = pytest.mark.stack


def ask(socket, frame: str, *kinds: str) -> dict:
    """Send a raw frame; the first answer of one of `kinds` (or a refusal)."""
    socket.send(frame)
    while True:
        answer = json.loads(socket.recv(timeout=30))
        if answer["msg"] in (*kinds, "error", "queue_full"):
            return answer


def test_values_the_site_cannot_carry_are_refused_at_every_door(stack):
    # A lone surrogate is valid JSON but no character; NaN is Python's JSON, not JSON.
    unsafe = [
        '{"msg": "join", "demo": "text-echo", "data": ["\\ud800"], "ref": "a"}',
        '{"msg": "join", "demo": "\\udfff", "data": ["x"], "ref": "b"}',
        '{"msg": "join", "demo": "trim-words", "data": ["abc", NaN], "ref": "c"}',
        '{"msg": "join", "demo": "text-echo", "data": [{"\\ud83d": Infinity}], "ref": "d"}',
    ]
    with connect(stack.ws_url, origin=stack.base_url) as socket:
        assert json.loads(socket.recv(timeout=10))["msg"] == "hello"
        for frame in unsafe:
            answer = ask(socket, frame)
            assert (answer["msg"], answer["code"]) == ("error", "invalid_input"), answer
        # The socket lives on, and a surrogate pair (a real character) is welcome.
        joined = ask(
            socket, '{"msg": "join", "demo": "text-echo", "data": ["\\ud83d\\ude00"]}', "joined"
        )
        assert joined["msg"] == "joined"
        assert ask(socket, '{"msg": "ping"}', "pong")["msg"] == "pong"

    script = api(stack)
    nan = script.post(
        f"{stack.base_url}/api/v1/demos/trim-words/jobs/",
        data='{"data": ["abc", NaN]}',
        headers={"Content-Type": "application/json"},
    )
    refused(nan, 400, "invalid_input")
    refused(post_job(script, "text-echo", ["\ud800"]), 400, "invalid_input")
    prefix = f"{stack.base_url}/demos/trim-words/gradio_api"
    answer = requests.post(
        f"{prefix}/queue/join",
        data='{"data": ["abc", Infinity], "fn_index": 0, "session_hash": "s"}',
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["message"].startswith("Infinity is not a number")


def test_joins_to_demos_that_do_not_exist_leave_no_subscription(stack):
    names = [f"ghost-{uuid.uuid4().hex[:8]}" for _ in range(50)]
    with connect(stack.ws_url, origin=stack.base_url) as socket:
        assert json.loads(socket.recv(timeout=10))["msg"] == "hello"
        for name in names:
            answer = ask(socket, json.dumps({"msg": "join", "demo": name, "data": ["x"]}))
            assert answer["code"] == "unknown_demo"
            answer = ask(socket, json.dumps({"msg": "resume", "demo": name, "job": "j"}))
            assert answer["code"] in ("unknown_demo", "unknown_job")
    client = redis.Redis.from_url(stack.redis_url)
    assert client.pubsub_channels("*ghost-*") == []


def test_a_text_frame_that_is_not_utf8_fails_its_connection_only(stack):
    # RFC 6455 (8.1): such a connection is failed. daphne's websocket library drops it
    # without a close frame; the visitor reconnects as after any drop, and nobody else
    # notices.
    with connect(stack.ws_url, origin=stack.base_url) as bystander:
        assert json.loads(bystander.recv(timeout=10))["msg"] == "hello"
        with connect(stack.ws_url, origin=stack.base_url) as socket:
            assert json.loads(socket.recv(timeout=10))["msg"] == "hello"
            socket.send(b'{"msg": "ping", "note": "\xff\xfe"}', text=True)
            with pytest.raises(ConnectionClosed):
                while True:
                    socket.recv(timeout=30)
        assert ask(bystander, '{"msg": "ping"}', "pong")["msg"] == "pong"
