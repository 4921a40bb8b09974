"""Positions of waiting jobs, kept by each web process for all of its sockets.

Each process follows a demo's line once: one subscription receives the demo's
`queue.advanced` broadcasts, and a tight loop moves every local waiting job by the departures
(and returns) ahead of it. A dequeue thus costs one message per web process, not one per
waiting visitor.

Every change to a line has a sequence number (`seq`). A waiter remembers the seq its rank was
read at and applies exactly the changes numbered after it, whatever order they arrive in and
even if they arrived before the waiter was registered (recent changes are kept for replay).
Now and then the process re-reads its jobs' ranks from Redis in one round trip per demo,
which also catches a broadcast or an ending that was lost on the way.
"""

import asyncio
import logging
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

from channels.layers import get_channel_layer

from . import events
from .line import DemoStats, LineConfig
from .store import get_store
from .threads import run_sync

log = logging.getLogger(__name__)

# How often the process checks its jobs' ranks and statuses against Redis, in seconds.
RESYNC_INTERVAL = 5.0


class Follower(Protocol):
    def position_changed(self, job_id: str) -> None: ...

    def job_left_line(self, job_id: str) -> None: ...

    async def job_ended_unseen(self, demo: str, job_id: str) -> None: ...

    def demo_notice(self, message: dict) -> None: ...


@dataclass
class Waiter:
    follower: Follower
    demo: str
    ticket: int
    rank: int
    seq: int  # the line's seq when `rank` was read
    config: LineConfig
    # Why the job last moved back, until the visitor is told: "priority" (a heavier lane's
    # job joined ahead) or "requeued" (a job whose worker died came back ahead).
    pushed_back: str = ""
    # How many jobs other lanes may still place ahead of it, and how fast they send jobs
    # (join.lua's numbers): what its ETA allows for.
    room: int = 0
    rate: float = 0.0

    def apply(self, change: dict) -> bool:
        """Move by a change numbered after `seq`; True if the rank moved."""
        if change["seq"] <= self.seq:
            return False
        moved = bisect_left(change["back"], self.ticket) - bisect_left(change["left"], self.ticket)
        if moved > 0:
            self.pushed_back = change.get("why") or "requeued"
            if self.pushed_back == "priority":
                self.room = max(self.room - moved, 0)
        self.move_to(self.rank + moved)
        return moved != 0

    def move_to(self, rank: int) -> None:
        """Take the rank `rank`. The room other lanes have ahead of the job lies between the
        head of the line and the job: it shrinks as the job comes closer to the head."""
        rank = max(rank, 0)
        if rank < self.rank:
            self.room = self.room * rank // self.rank
        self.rank = rank


# How many recent changes of each line a process keeps to replay to new waiters.
RECENT_CHANGES = 256
_seq = itemgetter("seq")


class PositionHub:
    def __init__(self) -> None:
        self.waiting: dict[str, dict[str, Waiter]] = {}  # demo -> job id -> waiter
        self.running: dict[str, dict[str, Follower]] = {}  # demo -> job id -> follower
        self.stats: dict[str, DemoStats] = {}
        # demo -> recent changes in the order of their seq, each with its tickets sorted
        self.recent: dict[str, list[dict]] = {}
        # demo -> its subscription, done or under way: every caller awaits the same one.
        self.subscriptions: dict[str, asyncio.Task] = {}
        self.channel = ""

    async def start(self) -> None:
        self.channel = await get_channel_layer().new_channel("lineup.hub.")
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._listen()), loop.create_task(self._resync_forever())]

    async def follow(self, demo: str) -> None:
        """Receive the demo's broadcasts from now on. Returns once subscribed, so a join made
        after it misses none of its line's changes."""
        subscribing = self.subscriptions.get(demo)
        if subscribing is None:
            group_add = get_channel_layer().group_add(events.demo_group(demo), self.channel)
            subscribing = self.subscriptions[demo] = asyncio.ensure_future(group_add)
        try:
            await asyncio.shield(subscribing)
        except Exception:
            if self.subscriptions.get(demo) is subscribing:
                del self.subscriptions[demo]  # the next join tries again
            raise

    def wait(self, job_id: str, waiter: Waiter) -> None:
        """Follow a waiting job, applying the changes that arrived since its rank was read."""
        self.running.get(waiter.demo, {}).pop(job_id, None)
        self.waiting.setdefault(waiter.demo, {})[job_id] = waiter
        self._replay(job_id, waiter)

    def _replay(self, job_id: str, waiter: Waiter) -> None:
        recent = self.recent.get(waiter.demo, [])
        for change in recent[bisect_right(recent, waiter.seq, key=_seq) :]:
            if waiter.ticket in change["left"]:
                del self.waiting[waiter.demo][job_id]
                waiter.follower.job_left_line(job_id)
                return
            waiter.apply(change)

    def run(self, demo: str, job_id: str, follower: Follower) -> None:
        self.waiting.get(demo, {}).pop(job_id, None)
        self.running.setdefault(demo, {})[job_id] = follower

    def forget(self, demo: str, job_id: str, follower: Follower | None = None) -> None:
        """Stop following the job (only if `follower` follows it, when given)."""
        waiter = self.waiting.get(demo, {}).get(job_id)
        if waiter and follower in (None, waiter.follower):
            del self.waiting[demo][job_id]
        running = self.running.get(demo, {}).get(job_id)
        if running and follower in (None, running):
            del self.running[demo][job_id]

    def waiting_count(self) -> int:
        """The waiting jobs this process follows, in every demo."""
        return sum(map(len, self.waiting.values()))

    def waiter(self, demo: str, job_id: str) -> Waiter | None:
        return self.waiting.get(demo, {}).get(job_id)

    def advance(self, message: dict) -> None:
        """Tickets left or came back to a demo's line: move each local waiter accordingly."""
        demo = message["demo"]
        self.stats[demo] = DemoStats(message["avg_run"], message["avg_batch"])
        change = {
            "seq": message["seq"],
            "left": sorted(message["left"]),
            "back": sorted(message["back"]),
            "why": message.get("why", ""),
        }
        recent = self.recent.setdefault(demo, [])
        if recent and change["seq"] < recent[-1]["seq"] - RECENT_CHANGES:
            recent.clear()  # the line numbers its changes from 0 again: its data was lost
        insort(recent, change, key=_seq)  # broadcasts of several workers may cross
        if len(recent) > 2 * RECENT_CHANGES:
            del recent[:-RECENT_CHANGES]
        left = set(change["left"])
        for job_id, waiter in list(self.waiting.get(demo, {}).items()):
            if waiter.ticket in left and change["seq"] > waiter.seq:
                del self.waiting[demo][job_id]
                waiter.follower.job_left_line(job_id)
            elif waiter.apply(change):
                waiter.follower.position_changed(job_id)

    def notice(self, message: dict) -> None:
        """Pass a word from the operators to every socket with a job waiting in the demo."""
        followers = {
            id(w.follower): w.follower for w in self.waiting.get(message["demo"], {}).values()
        }
        for follower in followers.values():
            follower.demo_notice(message)

    async def _listen(self) -> None:
        layer = get_channel_layer()
        while True:
            message = await layer.receive(self.channel)
            try:
                if message["type"] == "queue.notice":
                    self.notice(message)
                else:
                    self.advance(message)
            except Exception:  # one bad message must not deafen the process
                log.exception("a broadcast could not be applied: %r", message)

    async def _resync_forever(self) -> None:
        while True:
            await asyncio.sleep(RESYNC_INTERVAL)
            try:
                await self.resync()
            except Exception:  # Redis away for a moment: the next round tries again
                log.warning("checking positions against Redis failed", exc_info=True)

    async def resync(self) -> None:
        """Correct ranks from Redis, and find jobs that ended without us hearing of it."""
        store = get_store()
        for demo, waiters in list(self.waiting.items()):
            job_ids = list(waiters)
            if not job_ids:
                continue
            ranks, seq = await run_sync(store.ranks)(demo, job_ids)
            for job_id, rank in zip(job_ids, ranks):
                waiter = waiters.get(job_id)
                if waiter is None or waiter.seq > seq:
                    continue
                if rank is None:
                    # No longer waiting, and no word of it: it started or ended unheard.
                    del waiters[job_id]
                    self.running.setdefault(demo, {})[job_id] = waiter.follower
                    continue
                before = waiter.rank
                waiter.move_to(rank)
                waiter.seq = seq
                self._replay(job_id, waiter)
                if waiter.rank != before and job_id in waiters:
                    waiter.follower.position_changed(job_id)
        for demo, followers in list(self.running.items()):
            job_ids = list(followers)
            if not job_ids:
                continue
            statuses = await run_sync(store.statuses)(demo, job_ids)
            for job_id, status in zip(job_ids, statuses):
                if status not in ("waiting", "running") and job_id in followers:
                    await followers.pop(job_id).job_ended_unseen(demo, job_id)


# One hub per event loop, as the task that starts it: callers that arrive while it is
# starting wait for the same start instead of using a hub that cannot listen yet.
_hubs: dict[asyncio.AbstractEventLoop, asyncio.Task] = {}


async def _started_hub() -> PositionHub:
    hub = PositionHub()
    await hub.start()
    return hub


async def get_hub() -> PositionHub:
    """This process's hub, started on first use."""
    loop = asyncio.get_running_loop()
    starting = _hubs.get(loop)
    if starting is None:
        starting = _hubs[loop] = loop.create_task(_started_hub())
    try:
        return await asyncio.shield(starting)
    except Exception:
        if _hubs.get(loop) is starting:
            del _hubs[loop]  # the next caller starts it again
        raise
