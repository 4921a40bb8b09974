"""A small Python client of Lineup's websocket protocol (docs/protocol.md), version 1.

    async with LineupClient("https://demos.example.org") as client:
        job = await client.join("trim-words", ["lineup", 4])
        async for update in client.follow(job):
            print(update)                  # estimations, progress, partial outputs
        print(job.result)                  # the outputs, one per output of the demo

`LineupError` carries the server's error code and message.
"""

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets

PROTOCOL = 1
ENDINGS = ("process_completed", "cancelled")


class LineupError(Exception):
    def __init__(self, code: str, message: str, frame: dict[str, Any]):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.frame = frame


@dataclass
class Job:
    id: str
    demo: str
    frames: asyncio.Queue = field(default_factory=asyncio.Queue)
    rank: int | None = None
    eta: float | None = None
    result: list[Any] | None = None
    error: dict[str, str] | None = None
    cancelled: bool = False


class LineupClient:
    """One websocket to a Lineup site; any number of jobs over it."""

    def __init__(self, site: str, *, session_cookie: str | None = None):
        parts = urlsplit(site)
        scheme = "wss" if parts.scheme == "https" else "ws"
        self.url = f"{scheme}://{parts.netloc}/ws/queue/"
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.headers = {"Cookie": f"sessionid={session_cookie}"} if session_cookie else {}
        self.jobs: dict[str, Job] = {}
        self.answers: dict[str, asyncio.Future] = {}
        self.refs = itertools.count(1)

    async def __aenter__(self) -> "LineupClient":
        self.socket = await websockets.connect(
            self.url, origin=self.origin, additional_headers=self.headers
        )
        hello = json.loads(await self.socket.recv())
        if hello.get("msg") != "hello" or hello.get("protocol") != PROTOCOL:
            raise LineupError("protocol", f"unexpected greeting {hello}", hello)
        self.reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        self.reader.cancel()
        await self.socket.close()

    async def join(self, demo: str, data: list[Any]) -> Job:
        """Put a job in the demo's line; raises LineupError when it is refused."""
        ref = str(next(self.refs))
        answer = self.answers[ref] = asyncio.get_running_loop().create_future()
        await self.socket.send(json.dumps({"msg": "join", "demo": demo, "data": data, "ref": ref}))
        answer = await answer
        if answer["msg"] != "joined":
            raise LineupError(answer["code"], answer["message"], answer)
        return self.jobs[answer["job"]]

    async def resume(self, demo: str, job_id: str) -> Job:
        """Follow one of this session's jobs again (after a reconnect)."""
        job = self.jobs[job_id] = Job(job_id, demo)
        await self.socket.send(json.dumps({"msg": "resume", "demo": demo, "job": job_id}))
        return job

    async def cancel(self, job: Job) -> None:
        await self.socket.send(json.dumps({"msg": "cancel", "demo": job.demo, "job": job.id}))

    async def follow(self, job: Job, timeout: float = 60) -> AsyncIterator[dict[str, Any]]:
        """Yield the job's frames until it ends; its outcome is then on the job."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await job.frames.get()
                kind = frame["msg"]
                if kind == "estimation":
                    job.rank, job.eta = frame["rank"], frame["rank_eta"]
                elif kind == "process_completed":
                    if frame["success"]:
                        job.result = frame["output"]["data"]
                    else:
                        job.error = frame["error"]
                elif kind == "cancelled":
                    job.cancelled = True
                elif kind == "error":
                    raise LineupError(frame["code"], frame["message"], frame)
                yield frame
                if kind in ENDINGS:
                    return

    async def predict(self, demo: str, data: list[Any]) -> list[Any]:
        """Join, wait for the result, return the outputs; LineupError if the job failed."""
        job = await self.join(demo, data)
        async for _ in self.follow(job):
            pass
        if job.error:
            raise LineupError(job.error["code"], job.error["message"], job.error)
        return job.result

    async def _read(self) -> None:
        async for message in self.socket:
            frame = json.loads(message)
            ref, job_id = frame.get("ref"), frame.get("job")
            if ref in self.answers:
                if frame["msg"] == "joined":
                    # Before the next frame: the job's estimation follows right behind.
                    self.jobs[job_id] = Job(job_id, frame["demo"])
                self.answers.pop(ref).set_result(frame)
            elif job_id in self.jobs:
                await self.jobs[job_id].frames.put(frame)
