"""The whole stack as separate processes: `runstack` starts Redis, daphne and a Celery
worker on free ports; a websocket client drives demos through the line to their results."""

import asyncio
import contextlib
import io
import json
import urllib.request
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import redis
import websockets
from PIL import Image as PILImage

from models_registry.models import Demo
from queueapp.line import LineConfig
from queueapp.store import key

pytestmark = pytest.mark.stack


class Visitor:
    """A websocket client of the queue protocol that keeps frames it has not asked for yet."""

    def __init__(self, socket):
        self.socket = socket
        self.pending: list[dict] = []

    async def send(self, frame: dict) -> None:
        await self.socket.send(json.dumps(frame))

    async def next(self, match, timeout: float = 30) -> dict:
        for frame in self.pending:
            if match(frame):
                self.pending.remove(frame)
                return frame
        async with asyncio.timeout(timeout):
            while True:
                frame = json.loads(await self.socket.recv())
                if match(frame):
                    return frame
                self.pending.append(frame)

    async def join(self, demo: str, data: list, ref: str = "r") -> dict:
        """The answer to a join: `joined`, `queue_full` or `error`."""
        await self.send({"msg": "join", "demo": demo, "data": data, "ref": ref})
        return await self.next(lambda f: f.get("ref") == ref)

    async def until_done(self, job_id: str) -> list[dict]:
        """Every frame for `job_id` up to its process_completed (or cancelled) frame."""
        frames = []
        while not frames or frames[-1]["msg"] not in ("process_completed", "cancelled"):
            frames.append(await self.next(lambda f: f.get("job") == job_id))
        return frames


@asynccontextmanager
async def visitor(stack, **kwargs):
    async with websockets.connect(stack.ws_url, origin=stack.base_url, **kwargs) as socket:
        hello = json.loads(await socket.recv())
        assert hello == {"msg": "hello", "protocol": 1}
        yield Visitor(socket)


def test_image_goes_through_the_line_and_comes_back(stack, image_data_url):
    async def scenario():
        async with visitor(stack) as me:
            joined = await me.join("image-echo", [image_data_url])
            assert joined["msg"] == "joined"
            return await me.until_done(joined["job"])

    frames = asyncio.run(scenario())
    kinds = [frame["msg"] for frame in frames]
    assert kinds[0] == "estimation"
    assert frames[0]["rank"] == 0 and frames[0]["rank_eta"] > 0
    assert "process_starts" in kinds and kinds[-1] == "process_completed"
    done = frames[-1]
    assert done["success"] is True, done
    url = done["output"]["data"][0]["url"]
    with urllib.request.urlopen(stack.base_url + url) as response:
        returned = PILImage.open(io.BytesIO(response.read())).convert("RGB")
    with open("static/lineup/examples/gradient.png", "rb") as handle:
        sent = PILImage.open(handle).convert("RGB")
    assert returned.size == sent.size
    assert returned.tobytes() == sent.tobytes()


def test_batched_demo_returns_each_visitor_their_own_result(stack):
    words = [f"word{i:02d}xyz" for i in range(12)]

    async def one(word):
        async with visitor(stack) as me:
            joined = await me.join("trim-words", [word, 6])
            frames = await me.until_done(joined["job"])
            return frames[-1]["output"]["data"][0]

    async def scenario():
        return await asyncio.gather(*(one(word) for word in words))

    assert asyncio.run(scenario()) == [word[:6] for word in words]


def test_slow_demo_reports_progress_in_steps(stack):
    async def scenario():
        async with visitor(stack) as me:
            joined = await me.join("slow-steps", [3])
            return await me.until_done(joined["job"])

    frames = asyncio.run(scenario())
    progress = [f["progress_data"][0] for f in frames if f["msg"] == "progress"]
    assert [p["index"] for p in progress] == [1, 2, 3]
    assert progress[-1]["progress"] == 1.0
    assert frames[-1]["output"]["data"] == ["finished 3 steps"]
    # What the function logged, once, between the steps.
    logs = [(f["log"], f["level"]) for f in frames if f["msg"] == "log"]
    assert logs == [("Halfway: 2 of 3 steps done.", "success")]


def test_generator_demo_streams_partial_outputs(stack):
    async def scenario():
        async with visitor(stack) as me:
            joined = await me.join("story", ["a fox"])
            return await me.until_done(joined["job"])

    frames = asyncio.run(scenario())
    kinds = [frame["msg"] for frame in frames]
    assert kinds.index("process_starts") < kinds.index("process_generating")
    partials = [f["output"]["data"][0] for f in frames if f["msg"] == "process_generating"]
    assert len(partials) >= 10
    # Each partial output is the story so far: a growing prefix of the result.
    for shorter, longer in zip(partials, partials[1:]):
        assert longer.startswith(shorter) and len(longer) > len(shorter)
    final = frames[-1]["output"]["data"][0]
    assert final.startswith(partials[-1]) and final.endswith("went home happy.")


def test_a_reconnect_mid_run_shows_the_latest_progress(stack):
    async def scenario():
        headers = session_cookie(stack)
        async with visitor(stack, additional_headers=headers) as me:
            job = (await me.join("slow-steps", [6]))["job"]
            before = await me.next(lambda f: f.get("msg") == "progress")
        await asyncio.sleep(1.2)  # the job runs on while nobody listens
        async with visitor(stack, additional_headers=headers) as me:
            await me.send({"msg": "resume", "demo": "slow-steps", "job": job})
            return before, await me.until_done(job)

    before, frames = asyncio.run(scenario())
    assert frames[0]["msg"] == "process_starts"
    assert frames[1]["msg"] == "progress"
    assert frames[1]["progress_data"][0]["index"] >= before["progress_data"][0]["index"] + 2
    assert frames[-1]["output"]["data"] == ["finished 6 steps"]


def test_positions_move_up_as_the_line_advances(stack):
    """Five visitors on the slow demo with 2 slots: the last sees its rank fall to 0."""

    async def scenario():
        async with AsyncExitStack() as visitors:
            people = [await visitors.enter_async_context(visitor(stack)) for _ in range(5)]
            jobs = [(await person.join("slow-steps", [1]))["job"] for person in people]
            frames = await people[-1].until_done(jobs[-1])
            return [frame["rank"] for frame in frames if frame["msg"] == "estimation"]

    ranks = asyncio.run(scenario())
    assert ranks[0] >= 2 and ranks[-1] == 0
    assert ranks == sorted(ranks, reverse=True)


def session_cookie(stack) -> dict[str, str]:
    """A browser session, which makes its holder the owner of its jobs across connections."""
    with urllib.request.urlopen(stack.base_url + "/demos/slow-steps/") as response:
        return {"Cookie": response.headers["Set-Cookie"].split(";")[0]}


async def occupy_slow_demo(stack, stack_of_visitors, steps: int) -> None:
    """Fill both of the slow demo's slots for `steps` half-seconds."""
    for _ in range(2):
        blocker = await stack_of_visitors.enter_async_context(visitor(stack))
        job = (await blocker.join("slow-steps", [steps]))["job"]
        await blocker.next(lambda f, job=job: f.get("job") == job and f["msg"] == "process_starts")


def test_cancel_while_waiting_never_runs_and_moves_others_up(stack):
    async def scenario():
        async with AsyncExitStack() as visitors:
            await occupy_slow_demo(stack, visitors, steps=4)
            quitter = await visitors.enter_async_context(visitor(stack))
            stayer = await visitors.enter_async_context(visitor(stack))
            quit_job = (await quitter.join("slow-steps", [1]))["job"]
            stay_job = (await stayer.join("slow-steps", [1]))["job"]
            first = await stayer.next(
                lambda f: f.get("job") == stay_job and f["msg"] == "estimation"
            )
            await quitter.send({"msg": "cancel", "demo": "slow-steps", "job": quit_job})
            cancelled = await quitter.next(
                lambda f: f.get("job") == quit_job and f["msg"] == "cancelled"
            )
            moved = await stayer.next(
                lambda f: f.get("job") == stay_job and f["msg"] == "estimation"
            )
            stayed = await stayer.until_done(stay_job)
            # By now the line is empty: had the cancelled job run, its frames would be here.
            await asyncio.sleep(0.5)
            with contextlib.suppress(TimeoutError):
                await quitter.next(lambda f: False, timeout=0.5)
            return first, cancelled, moved, stayed, quitter.pending, quit_job

    first, cancelled, moved, stayed, quitter_frames, quit_job = asyncio.run(scenario())
    assert (first["rank"], moved["rank"]) == (1, 0)
    assert cancelled == {"msg": "cancelled", "job": quit_job}
    assert stayed[-1]["success"] is True
    assert not [f for f in quitter_frames if f.get("job") == quit_job and f["msg"] != "estimation"]


def test_a_socket_that_resumed_the_job_keeps_it_when_the_first_socket_closes(stack):
    """A refresh the server notices late, or a duplicated tab: the first socket's departure
    must not start the grace period of a job the second one now follows."""

    async def scenario():
        async with AsyncExitStack() as visitors:
            await occupy_slow_demo(stack, visitors, steps=8)  # 4 s: twice the 2 s grace
            mine = session_cookie(stack)
            second = await visitors.enter_async_context(visitor(stack, additional_headers=mine))
            async with visitor(stack, additional_headers=mine) as first:
                job = (await first.join("slow-steps", [1]))["job"]
                await second.send({"msg": "resume", "demo": "slow-steps", "job": job})
                await second.next(lambda f: f.get("job") == job and f["msg"] == "estimation")
            return await second.until_done(job)

    frames = asyncio.run(scenario())
    assert "process_starts" in [f["msg"] for f in frames], frames
    assert frames[-1]["msg"] == "process_completed" and frames[-1]["success"] is True


def test_reconnecting_in_time_keeps_the_place_and_leaving_loses_it(stack):
    async def scenario():
        async with AsyncExitStack() as visitors:
            await occupy_slow_demo(stack, visitors, steps=12)
            returning, leaving = session_cookie(stack), session_cookie(stack)
            async with visitor(stack, additional_headers=returning) as me:
                my_job = (await me.join("slow-steps", [1]))["job"]
            async with visitor(stack, additional_headers=leaving) as other:
                gone_job = (await other.join("slow-steps", [1]))["job"]
            behind = await visitors.enter_async_context(visitor(stack))
            behind_job = (await behind.join("slow-steps", [1]))["job"]
            first = await behind.next(
                lambda f: f.get("job") == behind_job and f["msg"] == "estimation"
            )

            await asyncio.sleep(0.5)  # well within the 2 s grace
            async with visitor(stack, additional_headers=returning) as me:
                await me.send({"msg": "resume", "demo": "slow-steps", "job": my_job})
                resumed = await me.next(lambda f: f.get("job") == my_job)
                moved = await behind.next(
                    lambda f: f.get("job") == behind_job and f["msg"] == "estimation"
                )
                mine = await me.until_done(my_job)
            async with visitor(stack, additional_headers=leaving) as other:
                await other.send({"msg": "resume", "demo": "slow-steps", "job": gone_job})
                gone = await other.next(lambda f: f.get("job") == gone_job)
            return first, resumed, moved, mine, gone

    first, resumed, moved, mine, gone = asyncio.run(scenario())
    assert first["rank"] == 2
    assert (resumed["msg"], resumed["rank"]) == ("estimation", 0)
    assert moved["rank"] == 1  # the visitor who left was dropped from the line
    assert mine[-1]["success"] is True
    assert gone["msg"] == "process_completed" and gone["error"]["code"] == "expired"


def test_full_line_and_bad_input_are_refused_clearly(stack):
    demo = Demo(
        slug="full-line",
        title="Full",
        function="identity_text",
        max_size=1,
        max_jobs_per_visitor=None,
        worker_pool="nowhere",
    )
    redis.Redis.from_url(stack.redis_url).hset(
        key("full-line", "config"), mapping=LineConfig.from_demo(demo).to_redis()
    )

    async def scenario():
        async with visitor(stack) as me:
            first = await me.join("full-line", ["a"], ref="1")
            refused = await me.join("full-line", ["b"], ref="2")
            bad = await me.join("text-echo", [{"not": "text"}], ref="3")
            unknown = await me.join("no-such-demo", ["x"], ref="4")
            await me.socket.send("{not json")
            garbage = await me.next(lambda f: f["msg"] == "error" and "ref" not in f)
            await me.send({"msg": "cancel", "demo": "full-line", "job": first["job"]})
            cancelled = await me.next(lambda f: f["msg"] == "cancelled")
            return first, refused, bad, unknown, garbage, cancelled

    first, refused, bad, unknown, garbage, cancelled = asyncio.run(scenario())
    assert first["msg"] == "joined"
    assert (
        refused["msg"] == "queue_full"
        and refused["code"] == "queue_full"
        and "full" in refused["message"]
    )
    assert (bad["msg"], bad["code"]) == ("error", "invalid_input")
    assert (unknown["msg"], unknown["code"]) == ("error", "unknown_demo")
    assert (garbage["msg"], garbage["code"]) == ("error", "bad_frame")
    assert cancelled == {"msg": "cancelled", "job": first["job"]}


def test_a_reconnected_owner_gets_the_result_and_others_cannot(stack):
    async def scenario():
        # A browser session cookie makes the visitor the owner across connections.
        with urllib.request.urlopen(stack.base_url + "/demos/slow-steps/") as response:
            cookie = response.headers["Set-Cookie"].split(";")[0]
        headers = {"Cookie": cookie}
        async with visitor(stack, additional_headers=headers) as me:
            job = (await me.join("slow-steps", [2]))["job"]
        async with visitor(stack) as stranger:
            await stranger.send({"msg": "resume", "demo": "slow-steps", "job": job})
            refused = await stranger.next(lambda f: f.get("job") == job)
        async with visitor(stack, additional_headers=headers) as me:
            await me.send({"msg": "resume", "demo": "slow-steps", "job": job})
            frames = await me.until_done(job)
        return refused, frames

    refused, frames = asyncio.run(scenario())
    assert (refused["msg"], refused["code"]) == ("error", "unknown_job")
    assert frames[-1]["success"] is True
    assert frames[-1]["output"]["data"] == ["finished 2 steps"]


def test_an_idle_socket_survives_and_still_gets_results(stack):
    """redis-py 8's default 5 s socket timeout would kill the consumer's channel reader."""

    async def scenario():
        async with visitor(stack) as me:
            await asyncio.sleep(31)
            joined = await me.join("text-echo", ["still here"])
            return await me.until_done(joined["job"])

    assert asyncio.run(scenario())[-1]["output"]["data"] == ["still here"]


def test_admin_accepts_the_printed_login(stack):
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(stack.base_url + "/admin/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {
            "username": stack.admin_user,
            "password": stack.admin_password,
            "csrfmiddlewaretoken": token,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(
        stack.base_url + "/admin/login/", data=form, headers={"Referer": stack.base_url}
    )
    landing = opener.open(request).read().decode()
    assert "Log out" in landing
    listing = opener.open(stack.base_url + "/admin/models_registry/demo/").read().decode()
    for title in ("Image echo", "Trim words (batched)", "Slow steps"):
        assert title in listing
    assert "Max batch size" in listing
