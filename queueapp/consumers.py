"""The websocket consumer: one socket per browser tab, jobs multiplexed by id.

It translates frames to calls on the queue's services and back (docs/protocol.md). Each
waiting job's rank is kept here and updated from the demo's `queue.advanced` broadcasts,
so a dequeue costs one channel-layer message per demo, not one per waiting visitor.
Estimations reach the browser at most a few times a second.
"""

import asyncio
from collections import deque
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from . import events, services
from .store import DemoStats, get_store

PROTOCOL_VERSION = 1
# The shortest time between two estimation frames on one socket, in seconds.
ESTIMATION_INTERVAL = 0.25
# How often a socket checks its waiting jobs' ranks against Redis, in seconds.
RESYNC_INTERVAL = 5.0

# Gradio's max_threads: the pool that runs the queue's synchronous calls for all sockets.
_executor = ThreadPoolExecutor(max_workers=settings.LINEUP_MAX_THREADS, thread_name_prefix="lineup")


def run_sync(func):
    return sync_to_async(func, thread_sensitive=False, executor=_executor)


@dataclass
class WaitingJob:
    demo: str
    ticket: int
    rank: int
    config: dict[str, str]


class QueueConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None)
        # Without a browser session a job belongs to this connection alone.
        self.owner = f"session:{session_key}" if session_key else f"socket:{secrets.token_urlsafe(16)}"
        self.waiting: dict[str, WaitingJob] = {}
        self.stats: dict[str, DemoStats] = {}
        self.groups_joined: set[str] = set()
        self.stale: set[str] = set()
        self.finished: deque[str] = deque(maxlen=1000)
        self.last_estimation = 0.0
        self.estimation_timer: asyncio.TimerHandle | None = None
        self.resync_task = asyncio.get_running_loop().create_task(self._resync_forever())
        await self.accept()
        await self.send_json({"msg": "hello", "protocol": PROTOCOL_VERSION})

    async def disconnect(self, code: int) -> None:
        self.resync_task.cancel()
        if self.estimation_timer:
            self.estimation_timer.cancel()
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        # Waiting jobs keep their place for a grace period, in case the visitor comes back.
        by_demo: dict[str, list[str]] = {}
        for job_id, job in self.waiting.items():
            by_demo.setdefault(job.demo, []).append(job_id)
        for slug, job_ids in by_demo.items():
            await run_sync(services.jobs_detach)(slug=slug, job_ids=job_ids)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            content = json.loads(text_data or "")
        except ValueError:
            await self.send_error("bad_frame", "Frames must be JSON objects.")
            return
        if not isinstance(content, dict):
            await self.send_error("bad_frame", "Frames must be JSON objects.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs) -> None:
        handler = {
            "join": self.handle_join,
            "cancel": self.handle_cancel,
            "resume": self.handle_resume,
            "ping": self.handle_ping,
        }.get(content.get("msg"))
        if handler is None:
            await self.send_error("unknown_message", "Unknown message; expected join, cancel, resume or ping.")
            return
        try:
            await handler(content)
        except services.QueueError as error:
            kind = "queue_full" if error.code == "queue_full" else "error"
            frame = {"msg": kind, "code": error.code, "message": error.message, **error.details}
            for field in ("ref", "job"):
                if isinstance(content.get(field), str):
                    frame[field] = content[field]
            await self.send_json(frame)

    # --- client messages -----------------------------------------------------------------

    async def handle_join(self, content: dict[str, Any]) -> None:
        slug = self._text(content, "demo")
        # Follow the line before joining it, so no departure ahead of the new job is missed.
        await self._follow(slug)
        joined = await run_sync(services.job_submit)(
            slug=slug, data=content.get("data"), owner=self.owner, channel=self.channel_name
        )
        self.waiting[joined.job_id] = WaitingJob(slug, joined.ticket, joined.rank, joined.config)
        frame = {"msg": "joined", "job": joined.job_id, "demo": slug}
        if isinstance(content.get("ref"), str):
            frame["ref"] = content["ref"]
        await self.send_json(frame)
        await self.send_json(self._estimation(joined.job_id, eta=joined.eta))

    async def handle_cancel(self, content: dict[str, Any]) -> None:
        job_id = self._text(content, "job")
        slug = self._text(content, "demo")
        await run_sync(services.job_cancel)(slug=slug, job_id=job_id, owner=self.owner)
        self.waiting.pop(job_id, None)
        await self.send_json({"msg": "cancelled", "job": job_id})

    async def handle_resume(self, content: dict[str, Any]) -> None:
        job_id = self._text(content, "job")
        slug = self._text(content, "demo")
        resumed = await run_sync(services.job_resume)(
            slug=slug, job_id=job_id, owner=self.owner, channel=self.channel_name
        )
        if resumed.status == "waiting":
            config = await run_sync(services.demo_config)(slug=slug)
            self.waiting[job_id] = WaitingJob(slug, resumed.ticket, resumed.rank, config)
            await self._follow(slug)
            await self.send_json(self._estimation(job_id))
        elif resumed.status == "running":
            await self.send_json({"msg": "process_starts", "job": job_id})
        elif resumed.status == "completed":
            await self.send_json(
                {"msg": "process_completed", "job": job_id, "success": True, "output": {"data": resumed.outputs}}
            )
        elif resumed.status == "cancelled":
            await self.send_json({"msg": "cancelled", "job": job_id})
        else:  # failed or expired
            await self.send_json({"msg": "process_completed", "job": job_id, "success": False, "error": resumed.error})

    async def handle_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"msg": "pong"})

    # --- channel-layer messages ----------------------------------------------------------

    async def job_event(self, message: dict[str, Any]) -> None:
        """A job's own event from a worker: forward it."""
        frame = message["frame"]
        if frame["msg"] == "requeued":
            # Its worker died: the job waits again at the front of the line.
            await self._track_again(frame["job"], frame["demo"], frame["ticket"])
            return
        if frame["msg"] == "process_completed":
            # An ending can arrive twice when its worker died right after sending it.
            if frame["job"] in self.finished:
                return
            self.finished.append(frame["job"])
        if frame["msg"] in ("process_starts", "process_completed"):
            self.waiting.pop(frame["job"], None)
        await self.send_json(frame)

    async def queue_advanced(self, message: dict[str, Any]) -> None:
        """Tickets left (or came back to) a demo's line: move our jobs by those ahead of them."""
        slug = message["demo"]
        self.stats[slug] = DemoStats(message["avg_run"], message["avg_batch"])
        left, back = message["left"], message["back"]
        for job_id, job in list(self.waiting.items()):
            if job.demo != slug:
                continue
            if job.ticket in left:
                del self.waiting[job_id]
                continue
            moved = sum(1 for t in back if t < job.ticket) - sum(1 for t in left if t < job.ticket)
            if moved:
                job.rank = max(job.rank + moved, 0)
                self.stale.add(job_id)
        self._schedule_estimations()

    # --- helpers -------------------------------------------------------------------------

    def _estimation(self, job_id: str, eta: float | None = None) -> dict[str, Any]:
        job = self.waiting[job_id]
        if eta is None:
            eta = services.eta_from(job.config, rank=job.rank, stats=self.stats.get(job.demo, DemoStats()))
        return {"msg": "estimation", "job": job_id, "rank": job.rank, "rank_eta": round(eta, 2)}

    def _schedule_estimations(self) -> None:
        if not self.stale or self.estimation_timer:
            return
        delay = max(0.0, self.last_estimation + ESTIMATION_INTERVAL - time.monotonic())
        loop = asyncio.get_running_loop()
        self.estimation_timer = loop.call_later(delay, lambda: loop.create_task(self._send_estimations()))

    async def _send_estimations(self) -> None:
        self.estimation_timer = None
        self.last_estimation = time.monotonic()
        stale, self.stale = self.stale, set()
        for job_id in stale:
            if job_id in self.waiting:
                await self.send_json(self._estimation(job_id))

    async def _track_again(self, job_id: str, slug: str, ticket: int) -> None:
        (rank,) = await run_sync(get_store().ranks)(slug, [job_id])
        if rank is None:
            return  # already taken again by another worker
        config = await run_sync(services.demo_config)(slug=slug)
        self.waiting[job_id] = WaitingJob(slug, ticket, rank, config)
        await self._follow(slug)
        await self.send_json(self._estimation(job_id))

    async def _resync_forever(self) -> None:
        """Correct each waiting job's rank from Redis now and then, in case a broadcast was lost."""
        while True:
            await asyncio.sleep(RESYNC_INTERVAL)
            by_demo: dict[str, list[str]] = {}
            for job_id, job in self.waiting.items():
                by_demo.setdefault(job.demo, []).append(job_id)
            for slug, job_ids in by_demo.items():
                ranks = await run_sync(get_store().ranks)(slug, job_ids)
                for job_id, rank in zip(job_ids, ranks):
                    job = self.waiting.get(job_id)
                    if job and rank is not None and rank != job.rank:
                        job.rank = rank
                        self.stale.add(job_id)
            self._schedule_estimations()

    async def _follow(self, slug: str) -> None:
        group = events.demo_group(slug)
        if group not in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.add(group)

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json({"msg": "error", "code": code, "message": message})

    @staticmethod
    def _text(content: dict[str, Any], field: str) -> str:
        value = content.get(field)
        if not isinstance(value, str) or not value or len(value) > 200:
            raise services.QueueError("bad_frame", f"'{field}' must be a non-empty string.")
        return value
