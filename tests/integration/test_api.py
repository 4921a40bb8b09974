"""The HTTP API on the running stack: jobs go through the same line, every refusal has its
status and code and leaves the line and the other visitors alone, and jobs are private."""

import asyncio
import io
import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from unittest.mock import ANY

import pytest
import redis
import requests
import websockets
from PIL import Image as PILImage

from queueapp.store import key
from tests.conftest import EXAMPLE_IMAGE, ROOT

pytestmark = pytest.mark.stack


def test_the_queue_socket_opens_at_its_path_only_and_to_pages_of_this_site(stack):
    async def opened(url: str, origin: str | None):
        """The socket's first frame, or the HTTP status of its refusal."""
        try:
            async with websockets.connect(url, origin=origin) as socket:
                return json.loads(await socket.recv())["msg"]
        except websockets.InvalidStatus as refused:
            return refused.response.status_code

    async def attempts() -> list:
        elsewhere = stack.ws_url.replace("/ws/queue/", "/ws/other/")
        return [
            await opened(stack.ws_url, stack.base_url),
            await opened(stack.ws_url, "http://elsewhere.example"),
            await opened(stack.ws_url, None),
            await opened(elsewhere, stack.base_url),
        ]

    assert asyncio.run(attempts()) == ["hello", 403, 403, 403]


def api(stack) -> requests.Session:
    """A script with its own cookie jar: one visitor."""
    session = requests.Session()
    session.base_url = stack.base_url
    return session


def post_job(visitor: requests.Session, slug: str, data, what: str = "jobs", **kwargs):
    return visitor.post(
        f"{visitor.base_url}/api/v1/demos/{slug}/{what}/", json={"data": data}, **kwargs
    )


def waiting(stack, slug: str) -> int:
    return redis.Redis.from_url(stack.redis_url).zcard(key(slug, "waiting"))


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error
    return error


@pytest.fixture(scope="module")
def busy_line(stack):
    """A slow demo that runs one job at a time, its line at most 3 long."""
    return stack.add_demo(
        f"t-busy-{uuid.uuid4().hex[:8]}",
        function="slow_steps",
        concurrency_count=1,
        max_size=3,
        max_jobs_per_visitor=None,
        expected_seconds=1,
    )


def cancel_all(visitors_and_jobs) -> None:
    for visitor, body in visitors_and_jobs:
        visitor.delete(visitor.base_url + body["links"]["self"])


def test_predict_answers_with_the_result(stack):
    me = api(stack)
    done = post_job(me, "trim-words", ["lineup", 4], what="predict")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["output"]["data"] == ["line"]
    assert "sessionid" in me.cookies


def test_an_image_goes_up_as_a_file_and_comes_back_by_an_expiring_link(stack):
    me = api(stack)
    inputs = stack.log.parent / "media" / "inputs"
    kept_before = set(inputs.glob("*")) if inputs.exists() else set()
    with open(EXAMPLE_IMAGE, "rb") as image:
        done = me.post(
            f"{stack.base_url}/api/v1/demos/image-echo/predict/",
            data={"data": "[null]"},
            files={"input_0": image},
        )
    assert done.status_code == 200, done.text
    link = done.json()["output"]["data"][0]["url"]
    returned = PILImage.open(io.BytesIO(requests.get(stack.base_url + link).content))
    sent = PILImage.open(EXAMPLE_IMAGE)
    assert returned.convert("RGB").tobytes() == sent.convert("RGB").tobytes()
    assert set(inputs.glob("*")) == kept_before  # the job's input file went with the job

    expires = int(re.search(r"expires=(\d+)", link).group(1))
    for forged in (
        link.replace(f"expires={expires}", f"expires={expires + 3600}"),
        link.replace(f"expires={expires}", f"expires={int(time.time()) - 1}"),
        link.split("?")[0],
    ):
        assert requests.get(stack.base_url + forged).status_code == 410


def test_sound_tables_and_files_through_the_api(stack):
    me = api(stack)
    with open(ROOT / "static/lineup/examples/chirp.wav", "rb") as sound:
        done = me.post(
            f"{stack.base_url}/api/v1/demos/speech-tools/predict/",
            data={"data": '[null, "faster"]'},
            files={"input_0": sound},
        )
    assert done.status_code == 200, done.text
    sound, spectrogram = done.json()["output"]["data"]
    assert sound["name"] == "sound.wav" and abs(sound["duration"] - 2.0) < 0.1  # 3 s, faster
    back = requests.get(stack.base_url + sound["url"])
    assert back.headers["Content-Type"] == "audio/x-wav" and back.content[:4] == b"RIFF"
    assert spectrogram["width"] == 480

    table = {"headers": ["n"], "data": [[1], [2], [4]]}
    done = me.post(f"{stack.base_url}/api/v1/demos/table-stats/predict/", json={"data": [table]})
    overview, summary, gallery, csv = done.json()["output"]["data"]
    assert summary["data"][0][:3] == ["n", 3, 2.3333] and len(gallery) == 1
    download = requests.get(stack.base_url + csv["url"])
    assert download.headers["Content-Disposition"].startswith('attachment; filename="summary.csv"')
    assert download.headers["Content-Security-Policy"].startswith("sandbox")

    # A file too large for a request body is uploaded first, then named by its path.
    path = requests.post(
        f"{stack.base_url}/demos/speech-tools/gradio_api/upload",
        files={"files": ("voice.wav", (ROOT / "static/lineup/examples/chirp.wav").read_bytes())},
    ).json()[0]
    done = me.post(
        f"{stack.base_url}/api/v1/demos/speech-tools/predict/",
        json={"data": [{"path": path}, "slower"]},
    )
    assert abs(done.json()["output"]["data"][0]["duration"] - 4.0) < 0.1
    forged = me.post(
        f"{stack.base_url}/api/v1/demos/speech-tools/jobs/",
        json={"data": [{"path": "../../etc/passwd"}, "slower"]},
    )
    refused(forged, 400, "invalid_input")


def test_a_job_is_followed_and_cancelled_through_its_link(stack, busy_line):
    ahead, me = api(stack), api(stack)
    first = post_job(ahead, busy_line, [4]).json()
    created = post_job(me, busy_line, [1])
    assert created.status_code == 202
    job = created.json()
    assert created.headers["Location"] == job["links"]["self"]
    assert job["status"] == "waiting" and job["rank"] in (0, 1)
    seen = me.get(stack.base_url + job["links"]["self"]).json()
    assert seen["status"] == "waiting" and seen["eta"] > 0

    cancelled = me.delete(stack.base_url + job["links"]["self"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    # Out of the line (the job ahead may still wait for the worker on a busy machine).
    line = redis.Redis.from_url(stack.redis_url).zrange(key(busy_line, "waiting"), 0, -1)
    assert job["job"].encode() not in line
    again = me.delete(stack.base_url + job["links"]["self"])
    refused(again, 409, "not_waiting")
    cancel_all([(ahead, first)])


def test_one_visitor_cannot_see_or_cancel_anothers_job(stack, busy_line):
    owner, stranger, anonymous, ahead = api(stack), api(stack), requests.Session(), api(stack)
    first = post_job(ahead, busy_line, [4]).json()
    job = post_job(owner, busy_line, [1]).json()
    url = stack.base_url + job["links"]["self"]
    post_job(stranger, "trim-words", ["x", 1], what="predict")  # the stranger has a session

    for intruder in (stranger, anonymous):
        refused(intruder.get(url), 404, "unknown_job")
        refused(intruder.delete(url), 404, "unknown_job")
    assert owner.get(url).json()["status"] == "waiting"

    async def over_websocket():
        cookie = {"Cookie": f"sessionid={stranger.cookies['sessionid']}"}
        async with websockets.connect(
            stack.ws_url, origin=stack.base_url, additional_headers=cookie
        ) as socket:
            await socket.recv()  # hello
            answers = []
            for msg in ("resume", "cancel"):
                await socket.send(json.dumps({"msg": msg, "demo": busy_line, "job": job["job"]}))
                answers.append(json.loads(await socket.recv()))
            return answers

    for answer in asyncio.run(over_websocket()):
        assert (answer["msg"], answer["code"]) == ("error", "unknown_job")
    assert owner.get(url).json()["status"] == "waiting"  # still there, still theirs
    cancel_all([(owner, job), (ahead, first)])


def test_refusals_leave_the_line_and_other_visitors_alone(stack, busy_line):
    others = [api(stack) for _ in range(4)]
    # One job runs for 5 s, three wait: the line is full and stays still meanwhile.
    jobs = [post_job(others[0], busy_line, [10]).json()]
    wait_for(others[0], jobs[0], "running")
    jobs += [post_job(visitor, busy_line, [1]).json() for visitor in others[1:]]
    assert [job["status"] for job in jobs] == ["waiting"] * 4
    before = waiting(stack, busy_line)
    assert before == 3
    me = api(stack)
    url = f"{stack.base_url}/api/v1/demos"

    checks = [
        (post_job(me, busy_line, [1]), 429, "queue_full"),
        (post_job(me, "no-such-demo", [1]), 404, "unknown_demo"),
        (post_job(me, busy_line, []), 400, "invalid_input"),
        (post_job(me, busy_line, ["six"]), 400, "invalid_input"),
        (post_job(me, "trim-words", ["x" * 201, 3]), 413, "input_too_large"),
        (
            me.post(
                f"{url}/{busy_line}/jobs/",
                data="{not json",
                headers={"Content-Type": "application/json"},
            ),
            400,
            "bad_request",
        ),
        (me.post(f"{url}/{busy_line}/jobs/", json=[1]), 400, "bad_request"),
        (
            me.post(
                f"{url}/{busy_line}/jobs/", data="data", headers={"Content-Type": "text/plain"}
            ),
            415,
            "unsupported_media_type",
        ),
        (
            me.post(
                f"{url}/image-echo/jobs/",
                data={"data": "[null]"},
                files={"input_0": io.BytesIO(b"not an image")},
            ),
            400,
            "invalid_input",
        ),
        (
            me.post(
                f"{url}/image-echo/jobs/",
                data={"data": "[null]"},
                files={"photo": io.BytesIO(b"x")},
            ),
            400,
            "bad_request",
        ),
        (me.put(f"{url}/{busy_line}/jobs/"), 405, "method_not_allowed"),
    ]
    for response, status, code in checks:
        refused(response, status, code)
    full = checks[0][0]
    assert int(full.headers["Retry-After"]) >= 1
    assert full.json()["error"]["retry_after"] == int(full.headers["Retry-After"])

    assert waiting(stack, busy_line) == before
    statuses = [
        visitor.get(stack.base_url + job["links"]["self"]).json()["status"]
        for visitor, job in zip(others, jobs)
    ]
    assert statuses == ["running", "waiting", "waiting", "waiting"]
    cancel_all(zip(others, jobs))


def wait_for(visitor: requests.Session, job: dict, status: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while visitor.get(visitor.base_url + job["links"]["self"]).json()["status"] != status:
        assert time.monotonic() < deadline, f"the job did not reach {status}"
        time.sleep(0.1)


def test_api_open_off_closes_the_api_and_scripts_but_not_the_page(stack):
    closed = stack.add_demo(
        f"t-closed-{uuid.uuid4().hex[:8]}", function="identity_text", api_open=False
    )
    me = api(stack)
    refused(post_job(me, closed, ["hi"]), 403, "api_closed")
    refused(post_job(me, closed, ["hi"], what="predict"), 403, "api_closed")
    assert me.get(f"{stack.base_url}/demos/{closed}/api/").status_code == 404

    page = me.get(f"{stack.base_url}/demos/{closed}/")
    token = re.search(r'"token": "([^"]+)"', page.text).group(1)
    cookie = {"Cookie": f"sessionid={me.cookies['sessionid']}"}

    async def join(query: str, headers: dict) -> dict:
        async with websockets.connect(
            stack.ws_url + query, origin=stack.base_url, additional_headers=headers
        ) as socket:
            await socket.recv()  # hello
            await socket.send(
                json.dumps({"msg": "join", "demo": closed, "data": ["hi"], "ref": "r"})
            )
            return json.loads(await socket.recv())

    stranger = {"Cookie": f"sessionid={api_session(stack)}"}
    assert asyncio.run(join("", cookie))["code"] == "api_closed"  # a script: no token
    assert asyncio.run(join(f"?token={token}", stranger))["code"] == "api_closed"  # not its session
    assert asyncio.run(join(f"?token={token}x", cookie))["code"] == "api_closed"  # forged
    assert asyncio.run(join(f"?token={token}", cookie))["msg"] == "joined"  # the page

    # The page uploads its files to the closed demo too; a script may not.
    upload = f"{stack.base_url}/demos/{closed}/gradio_api/upload"
    files = {"files": ("note.txt", b"hello")}
    for script in (
        requests.post(upload, files=files),
        me.post(upload, files=files, headers={"X-Lineup-Token": token + "x"}),
    ):
        assert script.status_code == 403 and "web page only" in script.json()["detail"]
    assert me.post(upload, files=files, headers={"X-Lineup-Token": token}).status_code == 200


def api_session(stack) -> str:
    visitor = api(stack)
    visitor.get(f"{stack.base_url}/demos/text-echo/")
    return visitor.cookies["sessionid"]


def test_a_disabled_demo_or_one_without_workers_is_unavailable(stack):
    off = stack.add_demo(f"t-off-{uuid.uuid4().hex[:8]}", function="identity_text", enabled=False)
    orphan = stack.add_demo(
        f"t-orphan-{uuid.uuid4().hex[:8]}", function="identity_text", worker_pool="nobody-runs-this"
    )
    me = api(stack)
    refused(post_job(me, off, ["hi"]), 503, "demo_disabled")
    error = refused(post_job(me, orphan, ["hi"]), 503, "no_worker")
    assert error["retry_after"] > 0
    assert waiting(stack, orphan) == 0

    async def join_over_websocket() -> list[dict]:
        async with websockets.connect(stack.ws_url, origin=stack.base_url) as socket:
            await socket.recv()  # hello
            await socket.send(json.dumps({"msg": "join", "demo": orphan, "data": ["hi"]}))
            return [json.loads(await socket.recv()) for _ in range(3)]

    # A visitor of the page keeps a place in line, and is told why it does not move.
    joined, estimation, notice = asyncio.run(join_over_websocket())
    assert (joined["msg"], estimation["msg"], notice["msg"]) == ("joined", "estimation", "notice")
    assert notice["no_worker"] is True and "No worker" in notice["message"]


def test_a_visitor_is_limited_in_jobs_and_in_requests(stack):
    slug = stack.add_demo(
        f"t-limits-{uuid.uuid4().hex[:8]}",
        function="slow_steps",
        concurrency_count=1,
        max_jobs_per_visitor=2,
    )
    me, other = api(stack), api(stack)
    mine = [post_job(me, slug, [1]).json() for _ in range(2)]
    error = refused(post_job(me, slug, [1]), 429, "too_many_jobs")
    assert "2 job(s)" in error["message"]
    theirs = post_job(other, slug, [1])
    assert theirs.status_code == 202  # the limit is per visitor

    # 60 joins a minute per visitor (refused ones count too), then a pause.
    answers = [post_job(me, slug, [1]).status_code for _ in range(60)]
    assert answers[-1] == 429
    error = refused(post_job(me, slug, [1]), 429, "rate_limited")
    assert 1 <= error["retry_after"] <= 60
    assert post_job(other, slug, [1]).status_code in (202, 429)
    cancel_all([(me, job) for job in mine] + [(other, theirs.json())])


def test_the_schema_and_the_use_via_api_page(stack):
    schema = requests.get(f"{stack.base_url}/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.1")
    paths = schema["paths"]
    assert set(paths["/api/v1/demos/{slug}/jobs/{job}/"]) == {"get", "delete"}
    slugs = paths["/api/v1/demos/{slug}/"]["get"]["parameters"][0]["schema"]["enum"]
    assert "trim-words" in slugs
    body = paths["/api/v1/demos/trim-words/jobs/"]["post"]["requestBody"]["content"]
    data = body["application/json"]["schema"]["properties"]["data"]
    assert [item["type"] for item in data["prefixItems"]] == ["string", "number"]
    assert data["prefixItems"][1]["maximum"] == 50

    page = requests.get(f"{stack.base_url}/demos/trim-words/api/").text
    assert "/api/v1/demos/trim-words/predict/" in page and "requests.Session()" in page
    demos = requests.get(f"{stack.base_url}/api/v1/demos/").json()["demos"]
    trim = next(demo for demo in demos if demo["slug"] == "trim-words")
    assert [c["kind"] for c in trim["inputs"]] == ["text", "slider"]
    line = requests.get(f"{stack.base_url}/api/v1/demos/trim-words/").json()["line"]
    assert line["has_worker"] is True and line["waiting"] >= 0


def test_a_long_wait_and_a_crowded_address_are_refused(stack):
    slug = stack.add_demo(
        f"t-crowd-{uuid.uuid4().hex[:8]}",
        function="slow_steps",
        concurrency_count=1,
        max_jobs_per_visitor=None,
        expected_seconds=2,
        max_wait_seconds=30,
    )
    running = api(stack)
    first = post_job(running, slug, [10]).json()
    wait_for(running, first, "running")
    # Everything here comes from 127.0.0.1: 20 jobs from one address at most (the running
    # one counts), and none expected to wait longer than 30 s (2 s each, one at a time).
    visitors = [api(stack) for _ in range(19)]
    jobs = []
    for visitor in visitors[:15]:
        jobs.append((visitor, post_job(visitor, slug, [1]).json()))
    assert [job["rank"] for _, job in jobs] == list(range(15))
    assert max(job["eta"] for _, job in jobs) <= 30
    error = refused(post_job(visitors[15], slug, [1]), 429, "wait_too_long")
    assert error["eta"] > 30 and error["retry_after"] >= 1
    assert waiting(stack, slug) == 15

    # Let in more by raising the wait limit, up to the address's 20 jobs.
    stack.manage(
        "shell",
        "-c",
        "from models_registry.models import Demo\n"
        f"demo = Demo.objects.get(slug={slug!r}); demo.max_wait_seconds = None; demo.save()",
    )
    for visitor in visitors[15:]:
        jobs.append((visitor, post_job(visitor, slug, [1]).json()))
    assert waiting(stack, slug) == 19
    error = refused(post_job(api(stack), slug, [1]), 429, "too_many_jobs")
    assert "network address" in error["message"]
    assert waiting(stack, slug) == 19
    assert all(
        v.get(stack.base_url + j["links"]["self"]).json()["status"] == "waiting" for v, j in jobs
    )
    cancel_all(jobs)


def test_odd_numbers_and_deep_nesting_are_refused_cleanly(stack):
    me = api(stack)
    url = f"{stack.base_url}/api/v1/demos/text-echo"
    refused(me.post(f"{url}/predict/?wait=nan", json={"data": ["x"]}), 400, "bad_request")
    refused(me.post(f"{url}/predict/?wait=inf", json={"data": ["x"]}), 400, "bad_request")
    deep = '{"data": ' + "[" * 5000 + "]" * 5000 + "}"
    headers = {"Content-Type": "application/json"}
    refused(me.post(f"{url}/jobs/", data=deep, headers=headers), 400, "bad_request")
    for expires in ("²", "9" * 5000):
        link = f"{stack.base_url}/media/results/x.png?expires={expires}&sig=0"
        assert requests.get(link).status_code == 410

    async def deep_frame() -> dict:
        async with websockets.connect(stack.ws_url, origin=stack.base_url) as socket:
            await socket.recv()  # hello
            await socket.send('{"msg": "join", "data": ' + "[" * 5000 + "]" * 5000 + "}")
            return json.loads(await socket.recv())

    assert asyncio.run(deep_frame())["code"] == "bad_frame"


def test_cancelling_through_the_api_tells_the_page(stack, busy_line):
    ahead, me = api(stack), api(stack)
    first = post_job(ahead, busy_line, [4]).json()
    wait_for(ahead, first, "running")
    me.get(f"{stack.base_url}/demos/{busy_line}/")  # the page gives the browser its session
    cookie = {"Cookie": f"sessionid={me.cookies['sessionid']}"}

    async def scenario() -> dict:
        async with websockets.connect(
            stack.ws_url, origin=stack.base_url, additional_headers=cookie
        ) as socket:
            await socket.recv()  # hello
            await socket.send(json.dumps({"msg": "join", "demo": busy_line, "data": [1]}))
            job = json.loads(await socket.recv())["job"]
            url = f"{stack.base_url}/api/v1/demos/{busy_line}/jobs/{job}/"
            cancelled = await asyncio.to_thread(me.delete, url)
            assert cancelled.json()["status"] == "cancelled"
            while True:
                frame = json.loads(await socket.recv())
                if frame.get("job") == job and frame["msg"] in ("cancelled", "process_completed"):
                    return frame

    assert asyncio.run(scenario()) == {"msg": "cancelled", "job": ANY}
    cancel_all([(ahead, first)])


def test_a_request_that_waits_holds_up_no_other(stack):
    # predict waits for its job, here on a paused line; meanwhile the same web process must
    # go on answering everyone else (pages, static files, other API calls).
    slug = stack.add_demo(f"t-held-{uuid.uuid4().hex[:8]}", function="identity_text", paused=True)
    waiting = ThreadPoolExecutor(max_workers=1).submit(
        api(stack).post,
        f"{stack.base_url}/api/v1/demos/{slug}/predict/?wait=60",
        json={"data": ["held"]},
        timeout=120,
    )
    until_waiting(stack, slug)
    others = api(stack)
    for path in ("/healthz", "/api/v1/demos/", "/static/lineup/lineup.js", f"/demos/{slug}/"):
        assert others.get(f"{stack.base_url}{path}", timeout=30).status_code == 200, path
    assert not waiting.done()
    stack.resume_demo(slug)
    assert waiting.result().json()["output"]["data"] == ["held"]


def until_waiting(stack, slug: str) -> None:
    deadline = time.monotonic() + 30
    while waiting(stack, slug) < 1:
        assert time.monotonic() < deadline, "the job did not join"
        time.sleep(0.05)
