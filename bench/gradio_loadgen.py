"""A load generator that speaks Gradio's own queue protocol (sse_v3), for the reference runs:
one session and one HTTP connection per client, as `gradio_client` keeps them."""

import json
import time
import uuid

import httpx

from bench.loadgen import Call


class GradioClient:
    def __init__(self, base_url: str):
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=120, limits=httpx.Limits(max_connections=1)
        )
        self.session = uuid.uuid4().hex

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, fn_index: int, data: list) -> Call:
        """Join the queue, then read the session's stream until the job completes."""
        started = time.perf_counter()
        joined = await self.http.post(
            "/gradio_api/queue/join",
            json={
                "data": data,
                "fn_index": fn_index,
                "session_hash": self.session,
                "event_data": None,
                "trigger_id": None,
            },
        )
        if joined.status_code != 200:
            return Call(
                outcome=f"http {joined.status_code}", round_trip=time.perf_counter() - started
            )
        event = joined.json()["event_id"]
        call = Call(outcome="", round_trip=0.0, job=event)
        params = {"session_hash": self.session}
        async with self.http.stream("GET", "/gradio_api/queue/data", params=params) as stream:
            async for line in stream.aiter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message["msg"] == "close_stream":
                    break  # read to the end, so the connection serves the next call
                if message.get("event_id") != event:
                    continue
                if message["msg"] == "estimation" and call.first_position is None:
                    call.first_position = time.perf_counter() - started
                    call.rank = message.get("rank")
                elif message["msg"] == "process_completed":
                    call.round_trip = time.perf_counter() - started
                    call.outcome = "completed" if message["success"] else "failed"
        return call


async def fn_indexes(base_url: str) -> dict[str, int]:
    """The app's endpoints by api_name, from its config (read once, before measuring)."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        config = (await http.get("/config")).json()
    return {dependency["api_name"]: dependency["id"] for dependency in config["dependencies"]}
