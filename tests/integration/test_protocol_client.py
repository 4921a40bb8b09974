"""The Python client written from docs/protocol.md alone drives the real stack."""

import asyncio
import urllib.request
import uuid
from contextlib import AsyncExitStack

import pytest

from tests.client.lineup_client import LineupClient, LineupError

pytestmark = pytest.mark.stack


def new_session(stack) -> str:
    """A browser session id, as any page of the site hands out."""
    with urllib.request.urlopen(stack.base_url + "/demos/slow-steps/") as response:
        cookie = response.headers["Set-Cookie"].split(";")[0]
    return cookie.split("=", 1)[1]


def test_client_follows_its_place_in_line_to_its_result(stack):
    # A line of its own that runs one job at a time: each job ahead of ours takes half a
    # second, twice the time between two estimations, so ours hears every rank it passes.
    line = stack.add_demo(
        f"t-place-{uuid.uuid4().hex[:8]}",
        function="slow_steps",
        concurrency_count=1,
        max_jobs_per_visitor=None,
    )

    async def scenario():
        async with AsyncExitStack() as clients:
            for _ in range(3):
                other = await clients.enter_async_context(LineupClient(stack.base_url))
                await other.join(line, [1])
            me = await clients.enter_async_context(LineupClient(stack.base_url))
            job = await me.join(line, [1])
            frames = [frame async for frame in me.follow(job)]
            return job, frames

    job, frames = asyncio.run(scenario())
    ranks = [f["rank"] for f in frames if f["msg"] == "estimation"]
    etas = [f["rank_eta"] for f in frames if f["msg"] == "estimation"]
    assert ranks[0] >= 1 and ranks[-1] == 0, ranks
    assert ranks == sorted(ranks, reverse=True)
    assert etas[0] > etas[-1] >= 0
    assert [f["msg"] for f in frames][-2:] == ["progress", "process_completed"]
    assert job.result == ["finished 1 steps"]


def test_client_predicts_with_every_kind_of_value(stack, image_data_url):
    async def scenario():
        async with LineupClient(stack.base_url) as client:
            return await client.predict(
                "colour-report", [image_data_url, "basic", 2, 0, False, "a note"]
            )

    label, details, swatches = asyncio.run(scenario())
    assert len(label["confidences"]) == 2
    assert label["label"] == label["confidences"][0]["label"]
    assert details["size"] == [160, 120] and details["note"] == "a note"
    assert (swatches["width"], swatches["height"]) == (80, 40)


def test_client_sees_refusals_with_their_codes(stack):
    async def scenario():
        async with LineupClient(stack.base_url) as client:
            refusals = []
            for demo, data in [("no-such-demo", []), ("slow-steps", ["many"])]:
                try:
                    await client.join(demo, data)
                except LineupError as error:
                    refusals.append(error.code)
            return refusals

    assert asyncio.run(scenario()) == ["unknown_demo", "invalid_input"]


def test_client_resumes_its_own_job_on_a_new_connection_and_no_one_else_can(stack):
    session = new_session(stack)

    async def scenario():
        async with LineupClient(stack.base_url, session_cookie=session) as first:
            job = await first.join("story", ["a heron"])
            async for frame in first.follow(job):
                if frame["msg"] == "process_generating":
                    break
        async with LineupClient(stack.base_url, session_cookie=new_session(stack)) as stranger:
            with pytest.raises(LineupError) as refused:
                async for _ in stranger.follow(await stranger.resume("story", job.id)):
                    pass
        async with LineupClient(stack.base_url, session_cookie=session) as again:
            resumed = await again.resume("story", job.id)
            frames = [frame async for frame in again.follow(resumed)]
        return refused.value.code, frames, resumed

    refused, frames, resumed = asyncio.run(scenario())
    assert refused == "unknown_job"
    assert frames[0]["msg"] == "process_starts"
    assert frames[1]["msg"] == "process_generating"  # where the story had got to
    assert resumed.result[0].startswith("Once upon a time a heron")
    assert resumed.result[0].startswith(frames[1]["output"]["data"][0])
