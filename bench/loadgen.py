"""A load generator that speaks Lineup's websocket protocol: one socket per client."""

import asyncio
import json
import time
from dataclasses import dataclass

import websockets


@dataclass
class Call:
    """One job as a client saw it."""

    outcome: str  # "completed", "failed", "queue_full" or an error code
    round_trip: float  # seconds from sending the join to the final answer
    first_position: float | None = None  # seconds from sending the join to the first estimation
    rank: int | None = None
    job: str | None = None


class Client:
    def __init__(self, socket):
        self.socket = socket

    @classmethod
    async def connect(cls, url: str, origin: str) -> "Client":
        socket = await websockets.connect(
            url, origin=origin, max_queue=None, open_timeout=60, ping_interval=None
        )
        await socket.recv()  # hello
        return cls(socket)

    async def close(self) -> None:
        await self.socket.close()

    async def send_join(self, demo: str, data: list) -> float:
        started = time.perf_counter()
        await self.socket.send(json.dumps({"msg": "join", "demo": demo, "data": data, "ref": "x"}))
        return started

    async def follow(self, started: float, *, until_position: bool = False) -> Call:
        """Read frames until the job ends (or, with `until_position`, until its first estimation)."""
        call = Call(outcome="", round_trip=0.0)
        while True:
            frame = json.loads(await self.socket.recv())
            kind = frame["msg"]
            if kind == "joined":
                call.job = frame["job"]
            elif kind == "estimation" and call.first_position is None:
                call.first_position = time.perf_counter() - started
                call.rank = frame["rank"]
                if until_position:
                    return call
            elif kind in ("queue_full", "error", "process_completed"):
                call.round_trip = time.perf_counter() - started
                if kind == "process_completed":
                    call.outcome = "completed" if frame["success"] else "failed"
                else:
                    call.outcome = frame["code"]
                return call

    async def call(self, demo: str, data: list) -> Call:
        return await self.follow(await self.send_join(demo, data))

    async def cancel(self, demo: str, job: str) -> None:
        await self.socket.send(json.dumps({"msg": "cancel", "demo": demo, "job": job}))


async def connect_many(url: str, origin: str, count: int, at_once: int = 100) -> list[Client]:
    """Open `count` sockets, `at_once` at a time."""
    clients: list[Client] = []
    for start in range(0, count, at_once):
        batch = min(at_once, count - start)
        clients += await asyncio.gather(*(Client.connect(url, origin) for _ in range(batch)))
    return clients
