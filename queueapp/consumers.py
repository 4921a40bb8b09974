"""The websocket consumer: one socket per browser tab, jobs multiplexed by id.

It translates frames to calls on the queue's services and back (docs/protocol.md). Waiting
jobs' ranks are kept by the process's position hub (positions.py); the consumer sends the
browser at most a few estimations a second.
"""

import asyncio
import logging
import time
from typing import Any
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from . import access, frames, selectors, strict_json
from .errors import QueueError, unavailable
from .eta import lane_eta, line_pace
from .line import DemoStats, LineConfig
from .positions import PositionHub, Waiter, get_hub
from .services import demos, jobs
from .store import get_async_store, get_store
from .threads import run_sync

# The shortest time between two estimation frames on one socket, in seconds; longer when
# the process follows so many waiting jobs that it would send more than
# ESTIMATIONS_PER_SECOND in all, so a crowd's updates never crowd out new arrivals.
ESTIMATION_INTERVAL = 0.25
ESTIMATIONS_PER_SECOND = 4000
# How many ended jobs a socket remembers, so that an ending that arrives twice is sent once.
FINISHED_KEPT = 1000
# Close codes: the socket's API key is unknown or revoked; or it cannot be checked now.
KEY_REFUSED = 4401
TRY_AGAIN_LATER = 1013

INTERNAL_ERROR = "Something went wrong on our side with this request; please try again."
LOST = {
    "code": "lost",
    "message": "The line lost this job (its server's data was lost). Please submit it again.",
}

log = logging.getLogger(__name__)

# Notices on their way to sockets, held until sent (for every socket of the process, rather
# than a set per socket).
_sending: set[asyncio.Task] = set()


class QueueConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.hub: PositionHub = await get_hub()
        self.jobs: dict[str, str] = {}  # job id -> demo, for jobs not yet ended
        self.finished: dict[str, None] = {}  # the last FINISHED_KEPT ended jobs, oldest first
        self.stale: set[str] = set()
        self.last_estimation = 0.0
        self.estimation_timer: asyncio.TimerHandle | None = None
        self.address = access.client_address(self.scope)
        session_key = access.session_key(self.scope)
        # A socket opened by a demo page shows the token the page was given for its session.
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        page = access.read_socket_token(token, session_key)
        self.from_page = page is not None
        # A script may show an API key instead. It is checked again before every frame that
        # follows a revocation anywhere, so a revoked key is refused at once.
        self.key = access.bearer_key(access.header(self.scope, b"authorization"))
        self.revocations: str | None = None
        # A job belongs to its user; else to the browser session, or to this connection alone.
        self.owner = f"socket:{self.channel_name}"
        await self.accept()
        try:
            user_id = await self.key_user() if self.key else None
        except QueueError as error:  # the key is refused, or cannot be checked now
            await self.send_json(frames.error(error.code, error.message))
            await self.close(code=KEY_REFUSED if error.code == "invalid_key" else TRY_AGAIN_LATER)
            return
        user_id = user_id or (page.user_id if page else None)
        if user_id:
            self.owner = access.user_owner(user_id)
        elif session_key:
            self.owner = access.session_owner(session_key)
        await self.send_json(frames.hello())

    async def __call__(self, scope, receive, send) -> None:
        """Channels' consumer loop, leaner: the socket's frames are handled here, and the
        channel's messages, as they arrive, in a task that lasts while there are some,
        taking turns on a lock so that one message is handled at a time. Channels makes a
        task and an `asyncio.wait` for every message, and keeps a task waiting for the
        channel's (docs/performance.md, W4). A disconnect ends the consumer; so does an
        error in either."""
        self.scope = scope
        self.channel_layer = get_channel_layer()
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        self.turn = asyncio.Lock()
        self.task = asyncio.current_task()
        self.reading_mail: asyncio.Task | None = None
        self.mail_failure: BaseException | None = None
        self.mailbox = self.channel_layer.listen(self.channel_name, self._mail_arrived)
        try:
            while True:
                message = await receive()
                async with self.turn:
                    await self.dispatch(message)
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            if self.mail_failure is None:
                raise  # cancelled from outside
            if not isinstance(self.mail_failure, StopConsumer):
                raise self.mail_failure from None
        finally:
            self.channel_layer.forget(self.channel_name)
            if self.reading_mail is not None:
                self.reading_mail.cancel()

    def _mail_arrived(self) -> None:
        if self.reading_mail is None:
            self.reading_mail = asyncio.get_running_loop().create_task(self._read_mail())
            self.reading_mail.add_done_callback(self._mail_read)

    async def _read_mail(self) -> None:
        try:
            while (message := self.mailbox.take()) is not None:
                async with self.turn:
                    await self.dispatch(message)
        finally:
            self.reading_mail = None

    def _mail_read(self, reading: asyncio.Task) -> None:
        """A message failed: end the consumer, which raises its error (or log it, if the
        consumer has ended meanwhile)."""
        if reading.cancelled() or reading.exception() is None:
            return
        if self.task.done():
            log.error("a message failed as its socket closed", exc_info=reading.exception())
        else:
            self.mail_failure = reading.exception()
            self.task.cancel()

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch, less its closing of stale database connections before every
        message: that costs a thread hop per frame, and this consumer reaches the database
        only from its own thread pool."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def send_json(self, content: dict[str, Any], close: bool = False) -> None:
        try:
            await super().send_json(content, close=close)
        except Disconnected:
            # The visitor left while we answered; their disconnect comes separately.
            pass

    async def disconnect(self, code: int) -> None:
        if self.estimation_timer:
            self.estimation_timer.cancel()
        # Waiting jobs keep their place for a grace period, in case the visitor comes back.
        # Another socket of the visitor may follow the same job by now (a refresh noticed late,
        # a duplicated tab): the hub and the script leave its jobs alone.
        waiting: dict[str, list[str]] = {}
        for job_id, demo in self.jobs.items():
            if self.hub.waiter(demo, job_id):
                waiting.setdefault(demo, []).append(job_id)
            self.hub.forget(demo, job_id, follower=self)
        for demo, job_ids in waiting.items():
            await run_sync(jobs.jobs_detach)(slug=demo, job_ids=job_ids, channel=self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if len(text_data or bytes_data or "") > settings.LINEUP_MAX_REQUEST_BYTES:
            await self.send_error(
                "input_too_large",
                f"Frames may be at most {settings.LINEUP_MAX_REQUEST_BYTES} bytes.",
            )
            return
        try:
            content = strict_json.loads(text_data or bytes_data or "")
        except strict_json.UnsafeJSON as error:
            await self.send_error("invalid_input", str(error))
            return
        except (ValueError, RecursionError):
            content = None
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
            await self.send_error(
                "unknown_message", "Unknown message; expected join, cancel, resume or ping."
            )
            return
        try:
            if self.key and handler != self.handle_ping:
                await self.key_still_valid()
            await handler(content)
        except QueueError as error:
            await self.send_json(frames.refusal(error.code, error.message, error.details, content))
            if error.code == "invalid_key":
                await self.close(code=KEY_REFUSED)
        except RedisError:
            log.warning("Redis is unreachable: a %s frame was refused", content["msg"])
            error = unavailable()
            await self.send_json(frames.refusal(error.code, error.message, error.details, content))
        except Exception:
            # One bad frame costs its sender an answer, never the socket or anyone else.
            job = content.get("job") if isinstance(content.get("job"), str) else None
            log.exception("a %s frame (job %s) failed", content["msg"], job, extra={"job": job})
            await self.send_json(frames.refusal("internal_error", INTERNAL_ERROR, {}, content))

    async def key_user(self) -> int:
        """The user of the socket's API key, noting the revocations it was checked after."""
        try:
            self.revocations = await get_async_store().revocations()
        except RedisError:
            raise unavailable() from None
        return await run_sync(access.key_user)(self.key)

    async def key_still_valid(self) -> None:
        """Refuse the key if it was revoked since it was last checked (a database query only
        when some key was revoked since)."""
        if await get_async_store().revocations() != self.revocations:
            await self.key_user()

    # --- client messages -----------------------------------------------------------------

    async def handle_join(self, content: dict[str, Any]) -> None:
        demo = self._text(content, "demo")
        await self._follow(demo)
        joined = await jobs.job_submit(
            slug=demo,
            data=content.get("data"),
            owner=self.owner,
            channel=self.channel_name,
            address=self.address,
            from_page=self.from_page,
        )
        self.jobs[joined.job_id] = demo
        waiter = Waiter(
            self,
            demo,
            joined.ticket,
            joined.rank,
            joined.seq,
            joined.config,
            room=joined.room,
            rate=joined.rate,
        )
        self.hub.wait(joined.job_id, waiter)
        await self.send_json(frames.joined(joined.job_id, demo, content.get("ref")))
        # The rank at admission, even if the job has started since.
        await self.send_json(frames.estimation(joined.job_id, joined.rank, joined.eta))
        await self._notice_if_stalled(demo, joined.config)

    async def handle_cancel(self, content: dict[str, Any]) -> None:
        job_id = self._text(content, "job")
        demo = self._text(content, "demo")
        await run_sync(jobs.job_cancel)(slug=demo, job_id=job_id, owner=self.owner)
        await self._send_ending(job_id, "cancelled", None, None)

    async def handle_resume(self, content: dict[str, Any]) -> None:
        job_id = self._text(content, "job")
        demo = self._text(content, "demo")
        await self._follow(demo)
        resumed = await run_sync(jobs.job_resume)(
            slug=demo, job_id=job_id, owner=self.owner, channel=self.channel_name
        )
        if resumed.status in ("waiting", "running"):
            self.jobs[job_id] = demo
        if resumed.status == "waiting":
            config = await run_sync(selectors.demo_config)(slug=demo)
            waiter = Waiter(self, demo, resumed.ticket, resumed.rank, resumed.seq, config)
            self.hub.wait(job_id, waiter)
            await self.send_json(self._estimation(job_id, waiter))
            await self._notice_if_stalled(demo, config)
        elif resumed.status == "running":
            self.hub.run(demo, job_id, self)
            await self.send_json(frames.process_starts(job_id))
            # Where it had got to, so a refresh mid-run does not start from nothing.
            if resumed.progress:
                await self.send_json(frames.progress(job_id, resumed.progress))
            if resumed.partial:
                await self.send_json(frames.generating(job_id, resumed.partial))
        else:
            await self._send_ending(
                job_id, resumed.status, resumed.outputs, resumed.error, again=True
            )

    async def handle_ping(self, content: dict[str, Any]) -> None:
        await self.send_json(frames.pong())

    # --- from workers, through the channel layer -----------------------------------------

    async def job_event(self, message: dict[str, Any]) -> None:
        """A job's own event: forward it."""
        frame = message["frame"]
        job_id = frame["job"]
        kind = frame["msg"]
        if kind == "requeued":
            # Its worker died: the job waits again at the front of the line.
            await self._wait_again(frame["demo"], job_id, frame["ticket"])
            return
        if kind in ("process_completed", "cancelled"):
            # An ending can arrive twice: when its worker died right after sending it, or
            # when this socket cancelled the job itself and already said so.
            if job_id in self.finished:
                return
            self._note_finished(job_id)
            self._end(self.jobs.get(job_id, ""), job_id)
        elif kind == "process_starts" and job_id in self.jobs:
            self.hub.run(self.jobs[job_id], job_id, self)
        await self.send_json(frame)

    # --- from the position hub -----------------------------------------------------------

    def position_changed(self, job_id: str) -> None:
        self.stale.add(job_id)
        if self.estimation_timer is None:
            interval = max(ESTIMATION_INTERVAL, self.hub.waiting_count() / ESTIMATIONS_PER_SECOND)
            delay = max(0.0, self.last_estimation + interval - time.monotonic())
            loop = asyncio.get_running_loop()
            self.estimation_timer = loop.call_later(
                delay, lambda: loop.create_task(self._send_estimations())
            )

    def job_left_line(self, job_id: str) -> None:
        """It started (its process_starts frame comes separately), or was cancelled or expired."""
        if job_id in self.jobs:
            self.hub.run(self.jobs[job_id], job_id, self)

    def demo_notice(self, message: dict[str, Any]) -> None:
        """The demo was paused or resumed: tell the visitor (a frame of our own, sent soon)."""
        frame = frames.notice(message["demo"], paused=message["paused"], message=message["message"])
        task = asyncio.get_running_loop().create_task(self.send_json(frame))
        _sending.add(task)  # held until sent: the loop keeps only weak references
        task.add_done_callback(_sending.discard)

    async def job_ended_unseen(self, demo: str, job_id: str) -> None:
        """A job ended but its ending never reached us: fetch and deliver it. A job Redis
        no longer knows was lost with Redis's data: say so rather than leave the visitor
        waiting for ever."""
        try:
            resumed = await run_sync(jobs.job_resume)(
                slug=demo, job_id=job_id, owner=self.owner, channel=self.channel_name
            )
        except QueueError:
            await self._send_ending(job_id, "lost", None, LOST)
            return
        # Its ending may have arrived while we asked: `_send_ending` sends it once.
        await self._send_ending(job_id, resumed.status, resumed.outputs, resumed.error)

    # --- helpers -------------------------------------------------------------------------

    async def _follow(self, demo: str) -> None:
        """Have the hub follow the demo's line; a name that is no demo costs nothing that
        lasts (no subscription), only its refusal."""
        await jobs.line_config(demo)
        await self.hub.follow(demo)

    async def _notice_if_stalled(self, demo: str, config: LineConfig) -> None:
        """Tell a waiting visitor when their line cannot move: paused, or no live worker."""
        if config.paused:
            await self.send_json(frames.notice(demo, paused=True, message=demos.PAUSED_NOTICE))
        elif not await selectors.pool_has_worker_async(config.pool):
            notice = frames.notice(
                demo, paused=False, message=selectors.NO_WORKER_NOTICE, no_worker=True
            )
            await self.send_json(notice)

    async def _send_ending(
        self, job_id: str, status: str, outputs: Any, error: Any, again: bool = False
    ) -> None:
        """Tell the visitor how the job ended, once per socket (`again`: they asked)."""
        if job_id in self.finished and not again:
            return
        self._note_finished(job_id)
        self._end(self.jobs.get(job_id, ""), job_id)
        await self.send_json(frames.ending(job_id, status, outputs, error))

    def _note_finished(self, job_id: str) -> None:
        self.finished[job_id] = None
        if len(self.finished) > FINISHED_KEPT:
            del self.finished[next(iter(self.finished))]

    def _end(self, demo: str, job_id: str) -> None:
        self.jobs.pop(job_id, None)
        self.stale.discard(job_id)
        self.hub.forget(demo, job_id)

    async def _wait_again(self, demo: str, job_id: str, ticket: int) -> None:
        (rank,), seq = await run_sync(get_store().ranks)(demo, [job_id])
        if rank is None:
            return  # already taken again by another worker
        config = await run_sync(selectors.demo_config)(slug=demo)
        self.jobs[job_id] = demo
        waiter = Waiter(self, demo, ticket, rank, seq, config)
        self.hub.wait(job_id, waiter)
        await self.send_json(self._estimation(job_id, waiter))

    def _estimation(self, job_id: str, waiter: Waiter) -> dict[str, Any]:
        stats = self.hub.stats.get(waiter.demo, DemoStats())
        pace = line_pace(waiter.config, stats)
        eta = lane_eta(pace, waiter.rank, waiter.room, waiter.rate)
        pushed_back, waiter.pushed_back = waiter.pushed_back, ""
        return frames.estimation(job_id, waiter.rank, eta, pushed_back)

    async def _send_estimations(self) -> None:
        self.estimation_timer = None
        self.last_estimation = time.monotonic()
        stale, self.stale = self.stale, set()
        for job_id in stale:
            waiter = self.hub.waiter(self.jobs.get(job_id, ""), job_id)
            if waiter:
                await self.send_json(self._estimation(job_id, waiter))

    async def send_error(self, code: str, message: str) -> None:
        await self.send_json(frames.error(code, message))

    @staticmethod
    def _text(content: dict[str, Any], field: str) -> str:
        value = content.get(field)
        if not isinstance(value, str) or not value or len(value) > 200:
            raise QueueError("bad_frame", f"'{field}' must be a non-empty string.")
        return value
