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
    def __init__(self, socket, opened: float):
        self.socket = socket
        self.opened = opened  # seconds its connect took, until the server's hello

    @classmethod
    async def connect(cls, url: str, origin: str) -> "Client":
        started = time.perf_counter()
        socket = await websockets.connect(
            url, origin=origin, max_queue=None, open_timeout=120, ping_interval=None
        )
        await socket.recv()  # hello
        return cls(socket, time.perf_counter() - started)

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

    async def ping(self) -> bool:
        """Whether the socket still answers (frames other than the pong are read past)."""
        try:
            await self.socket.send(json.dumps({"msg": "ping"}))
            while json.loads(await self.socket.recv())["msg"] != "pong":
                pass
            return True
        except websockets.ConnectionClosed:
            return False

    async def cancel(self, demo: str, job: str) -> None:
        await self.socket.send(json.dumps({"msg": "cancel", "demo": demo, "job": job}))


@dataclass
class Arrival:
    """A visitor who connects and joins at once, as a burst's visitors do; times are seconds
    from the moment the burst began (the visitor's first byte)."""

    outcome: str  # "waiting", "refused" (no websocket), or the join's refusal code
    connected: float | None = None  # until the server's hello
    positioned: float | None = None  # until the first estimation, or the refusal
    rank: int | None = None  # the first estimation's: jobs waiting ahead
    client: Client | None = None


async def arrive(url: str, origin: str, demo: str, data: list, burst: float) -> Arrival:
    try:
        client = await Client.connect(url, origin)
    except (TimeoutError, OSError, websockets.InvalidHandshake) as error:
        return Arrival(outcome=f"refused: {type(error).__name__}")
    arrival = Arrival(outcome="", connected=time.perf_counter() - burst, client=client)
    call = await client.follow(await client.send_join(demo, data), until_position=True)
    arrival.positioned = time.perf_counter() - burst
    arrival.rank = call.rank
    arrival.outcome = "waiting" if call.first_position is not None else call.outcome
    return arrival


async def burst_of_arrivals(url: str, origin: str, demo: str, data: list, count: int):
    """`count` visitors connect and join at the same moment; returns them and the moment."""
    burst = time.perf_counter()
    arrivals = await asyncio.gather(*(arrive(url, origin, demo, data, burst) for _ in range(count)))
    return arrivals, burst


@dataclass
class LaneJob:
    """One job of a lane's visitor; times are seconds on the load generator's clock."""

    lane: str
    sent: float
    id: str = ""
    told: float | None = None  # when its first estimation arrived
    eta: float | None = None  # the ETA it told, in seconds from then
    started: float | None = None  # when its process_starts arrived
    ended: float | None = None

    @property
    def eta_error(self) -> float:
        return abs(self.told + self.eta - self.started)


class LaneVisitor:
    """A script of one lane on one socket: it joins jobs on a schedule without waiting for
    them (jobs are multiplexed by id), and notes when each is told its ETA, starts and ends."""

    def __init__(self, socket, lane: str):
        self.socket, self.lane = socket, lane
        self.jobs: list[LaneJob] = []
        self.by_ref: dict[str, LaneJob] = {}
        self.by_id: dict[str, LaneJob] = {}

    @classmethod
    async def connect(cls, url: str, origin: str, lane: str, key: str = "") -> "LaneVisitor":
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        socket = await websockets.connect(
            url, origin=origin, additional_headers=headers, max_queue=None, ping_interval=None
        )
        await socket.recv()  # hello
        return cls(socket, lane)

    async def join_at(self, demo: str, data: list, moments: list[float]) -> None:
        """Join one job at each of `moments` (load generator clock)."""
        for n, moment in enumerate(moments):
            await asyncio.sleep(max(0.0, moment - time.perf_counter()))
            job = LaneJob(self.lane, sent=time.perf_counter())
            self.jobs.append(job)
            self.by_ref[str(n)] = job
            frame = {"msg": "join", "demo": demo, "data": data, "ref": str(n)}
            await self.socket.send(json.dumps(frame))

    async def follow(self, count: int) -> None:
        """Read frames until `count` jobs have ended."""
        ended = 0
        while ended < count:
            frame = json.loads(await self.socket.recv())
            now, kind = time.perf_counter(), frame["msg"]
            if kind == "joined":
                self.by_id[frame["job"]] = self.by_ref[frame["ref"]]
                self.by_id[frame["job"]].id = frame["job"]
            elif kind in ("queue_full", "error"):
                raise RuntimeError(f"a {self.lane} job was refused: {frame}")
            job = self.by_id.get(frame.get("job"))
            if job is None:
                continue
            if kind == "estimation" and job.told is None:
                job.told, job.eta = now, frame["rank_eta"]
            elif kind == "process_starts":
                job.started = now
            elif kind == "process_completed":
                job.ended = now
                ended += 1

    async def close(self) -> None:
        await self.socket.close()
