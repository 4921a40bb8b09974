"""Accounts on the running stack: a signed-in visitor's jobs and a key's jobs belong to their
user, whichever browser or script asks, and to no one else; a revoked key is refused at once,
and so is a user whose GPU time for the day is used up."""

import asyncio
import json
import re
import uuid

import httpx
import pytest
import redis
import requests
import websockets

from queueapp.store.keys import key as key_of
from tests.support.gradio import gradio_client

pytestmark = pytest.mark.stack

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def people(stack) -> tuple[str, str]:
    """Two users, Ada and Bob, with names no other test uses."""
    ada, bob = f"ada-{uuid.uuid4().hex[:6]}", f"bob-{uuid.uuid4().hex[:6]}"
    stack.add_user(ada, PASSWORD)
    stack.add_user(bob, PASSWORD)
    return ada, bob


def signed_in(stack, username: str) -> requests.Session:
    """A browser of its own, signed in on the site's sign-in page."""
    browser = requests.Session()
    form = browser.get(f"{stack.base_url}/accounts/login/").text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    answer = browser.post(
        f"{stack.base_url}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
    )
    assert answer.url == f"{stack.base_url}/accounts/", answer.text[:500]
    return browser


def anonymous(stack) -> requests.Session:
    return requests.Session()


def page_socket(stack, browser: requests.Session, demo: str):
    """The websocket the demo's page opens in this browser: its cookie and page token."""
    page = browser.get(f"{stack.base_url}/demos/{demo}/").text
    token = re.search(r'"token": "([^"]+)"', page).group(1)
    headers = {"Cookie": f"sessionid={browser.cookies['sessionid']}"}
    return websockets.connect(
        f"{stack.ws_url}?token={token}", origin=stack.base_url, additional_headers=headers
    )


def script_socket(stack, key: str):
    headers = {"Authorization": f"Bearer {key}"}
    return websockets.connect(stack.ws_url, origin=stack.base_url, additional_headers=headers)


async def answer(socket, frame: dict) -> dict:
    """The first frame that answers `frame` (by its ref or job)."""
    await socket.send(json.dumps(frame))
    field = "ref" if "ref" in frame else "job"
    async with asyncio.timeout(30):
        while True:
            got = json.loads(await socket.recv())
            if got.get(field) == frame[field] and got["msg"] != "estimation":
                return got


async def ended(socket, job: str) -> dict:
    async with asyncio.timeout(30):
        while True:
            got = json.loads(await socket.recv())
            if got.get("job") == job and got["msg"] == "process_completed":
                return got


def test_a_signed_in_visitor_follows_their_job_from_another_browser_and_no_one_else_can(
    stack, people
):
    ada, bob = people
    first, second = signed_in(stack, ada), signed_in(stack, ada)
    assert first.cookies["sessionid"] != second.cookies["sessionid"]
    ada_key = stack.api_key(ada)

    async def scenario():
        async with page_socket(stack, first, "text-echo") as socket:
            await socket.recv()  # hello
            joined = await answer(
                socket, {"msg": "join", "demo": "text-echo", "data": ["hi"], "ref": "r"}
            )
            assert joined["msg"] == "joined", joined
            await ended(socket, joined["job"])
        resume = {"msg": "resume", "demo": "text-echo", "job": joined["job"]}
        seen = {}
        for name, opening in (
            ("ada, second browser", page_socket(stack, second, "text-echo")),
            ("ada's script", script_socket(stack, ada_key)),
            ("bob", page_socket(stack, signed_in(stack, bob), "text-echo")),
            ("no one", page_socket(stack, anonymous(stack), "text-echo")),
        ):
            async with opening as socket:
                await socket.recv()  # hello
                seen[name] = await answer(socket, resume)
        return seen

    seen = asyncio.run(scenario())
    for name in ("ada, second browser", "ada's script"):
        assert seen[name]["msg"] == "process_completed", (name, seen[name])
        assert seen[name]["output"]["data"] == ["hi"]
    for name in ("bob", "no one"):
        assert seen[name]["code"] == "unknown_job", (name, seen[name])


def test_signing_out_ends_the_browsers_claim_to_the_users_jobs(stack, people):
    ada, _ = people
    browser = signed_in(stack, ada)
    join = {"msg": "join", "demo": "text-echo", "data": ["hi"], "ref": "r"}

    async def visit(frame: dict) -> dict:
        async with page_socket(stack, browser, "text-echo") as socket:
            await socket.recv()  # hello
            got = await answer(socket, frame)
            if got["msg"] == "joined":
                await ended(socket, got["job"])
            return got

    joined = asyncio.run(visit(join))
    resume = {"msg": "resume", "demo": "text-echo", "job": joined["job"]}
    assert asyncio.run(visit(resume))["msg"] == "process_completed"
    signed_out = browser.post(
        f"{stack.base_url}/accounts/logout/",
        data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
    )
    assert signed_out.status_code == 200 and "Sign in" in signed_out.text
    # The same browser, its page loaded again: it is nobody's now.
    assert asyncio.run(visit(resume))["code"] == "unknown_job"


def test_a_key_owns_its_jobs_on_the_http_api_and_a_revoked_key_is_refused_at_once(stack, people):
    ada, bob = people
    ada_key, bob_key = stack.api_key(ada), stack.api_key(bob)
    url = f"{stack.base_url}/api/v1/demos/text-echo/predict/"
    created = requests.post(
        url, json={"data": ["hi"]}, headers={"Authorization": f"Bearer {ada_key}"}
    )
    assert created.status_code == 200, created.text
    job = f"{stack.base_url}{created.json()['links']['self']}"

    def status(key: str | None) -> int:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return requests.get(job, headers=headers).status_code

    assert status(ada_key) == 200
    assert status(stack.api_key(ada)) == 200  # any of Ada's keys
    assert status(bob_key) == 404
    assert status(None) == 404
    unknown = requests.get(job, headers={"Authorization": "Bearer lk_madeup"})
    assert unknown.status_code == 401 and unknown.json()["error"]["code"] == "invalid_key"

    stack.revoke_keys(ada)
    revoked = requests.post(
        url, json={"data": ["hi"]}, headers={"Authorization": f"Bearer {ada_key}"}
    )
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "invalid_key"
    assert status(bob_key) == 404


def test_a_socket_with_an_unknown_key_is_told_why_and_a_revoked_key_stops_at_once(stack, people):
    _, bob = people
    key = stack.api_key(bob)
    join = {"msg": "join", "demo": "text-echo", "data": ["hi"], "ref": "r"}

    async def unknown_key():
        async with script_socket(stack, "lk_madeup") as socket:
            frame = json.loads(await socket.recv())
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
            return frame, closed.value.rcvd.code

    frame, code = asyncio.run(unknown_key())
    assert frame["msg"] == "error" and frame["code"] == "invalid_key"
    assert code == 4401

    async def revoked_while_open():
        async with script_socket(stack, key) as socket, script_socket(stack, ada_key) as other:
            await socket.recv()  # hello
            await other.recv()
            first = await answer(socket, join)
            await asyncio.to_thread(stack.revoke_keys, bob)
            return first, await answer(socket, {**join, "ref": "r2"}), await answer(other, join)

    ada_key = stack.api_key(people[0])
    first, second, others = asyncio.run(revoked_while_open())
    assert first["msg"] == "joined"
    assert second["msg"] == "error" and second["code"] == "invalid_key"
    assert others["msg"] == "joined"  # another user's key, checked again, still works


def test_a_socket_whose_user_is_deactivated_stops_at_once(stack):
    carol = f"carol-{uuid.uuid4().hex[:6]}"
    stack.add_user(carol, PASSWORD)
    key = stack.api_key(carol)
    join = {"msg": "join", "demo": "text-echo", "data": ["hi"], "ref": "r"}

    async def deactivated_while_open():
        async with script_socket(stack, key) as socket:
            await socket.recv()  # hello
            first = await answer(socket, join)
            await asyncio.to_thread(
                stack.manage,
                "shell",
                "-c",
                "from django.contrib.auth.models import User\n"
                f"user = User.objects.get(username={carol!r})\n"
                "user.is_active = False\n"
                "user.save()",
            )
            return first, await answer(socket, {**join, "ref": "r2"})

    first, second = asyncio.run(deactivated_while_open())
    assert first["msg"] == "joined"
    assert second["msg"] == "error" and second["code"] == "invalid_key"


def test_gradio_clients_token_is_a_key_that_makes_the_job_the_users(stack, people):
    ada, bob = people
    ada_key, bob_key = stack.api_key(ada), stack.api_key(bob)
    base = f"{stack.base_url}/demos/text-echo/"
    assert gradio_client(base, token=ada_key).predict("hi", api_name="/text_echo") == "hi"
    with pytest.raises(httpx.HTTPStatusError) as refused:
        gradio_client(base, token="lk_madeup").predict("hi", api_name="/text_echo")
    assert refused.value.response.status_code == 401
    assert "revoked" in refused.value.response.json()["detail"]

    # Gradio's curl route: the event belongs to the key's user.
    call = f"{base}gradio_api/call/text_echo"
    event = requests.post(
        call, json={"data": ["hi"]}, headers={"Authorization": f"Bearer {ada_key}"}
    )
    event_id = event.json()["event_id"]
    mine = requests.get(f"{call}/{event_id}", headers={"Authorization": f"Bearer {ada_key}"})
    assert mine.status_code == 200 and "event: complete" in mine.text
    theirs = requests.get(f"{call}/{event_id}", headers={"Authorization": f"Bearer {bob_key}"})
    assert theirs.status_code == 404


def test_a_user_whose_gpu_time_is_used_up_is_refused_at_every_way_in_before_anything_waits(
    stack,
):
    cy = f"cy-{uuid.uuid4().hex[:6]}"
    stack.add_user(cy, PASSWORD)
    stack.add_tier(cy, daily_gpu_seconds=0)
    key = stack.api_key(cy)
    waiting_before = redis.Redis.from_url(stack.redis_url).zcard(key_of("text-echo", "waiting"))

    api = requests.post(
        f"{stack.base_url}/api/v1/demos/text-echo/jobs/",
        json={"data": ["hi"]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert api.status_code == 429, api.text
    error = api.json()["error"]
    assert error["code"] == "quota_exhausted" and error["seconds_left"] == 0
    assert error["resets_at"].endswith("T00:00:00+00:00") and "midnight UTC" in error["message"]

    async def over_the_socket() -> dict:
        async with script_socket(stack, key) as socket:
            await socket.recv()  # hello
            return await answer(
                socket, {"msg": "join", "demo": "text-echo", "data": ["hi"], "ref": "r"}
            )

    frame = asyncio.run(over_the_socket())
    assert frame["msg"] == "error" and frame["code"] == "quota_exhausted", frame

    with pytest.raises(httpx.HTTPStatusError) as refused:
        gradio_client(f"{stack.base_url}/demos/text-echo/", token=key).predict(
            "hi", api_name="/text_echo"
        )
    assert refused.value.response.status_code == 429

    page = signed_in(stack, cy).get(f"{stack.base_url}/demos/text-echo/").text
    assert "0.0 s left" in page
    assert redis.Redis.from_url(stack.redis_url).zcard(key_of("text-echo", "waiting")) == (
        waiting_before
    )
