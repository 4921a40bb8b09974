"""Real-time events: how the queue's frames (frames.py) and broadcasts reach visitors'
websockets through the channel layer.

A job's own events (start, progress, outcome) go straight to the reply channel stored in
the job. Position changes go out as one small `queue.advanced` broadcast per demo per
change, naming the tickets that left the line; each consumer works out its own rank.
"""

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Any

from channels.layers import get_channel_layer

from . import frames
from .line import DemoStats

log = logging.getLogger(__name__)

UNSENDABLE = {
    "code": "unsendable_output",
    "message": "The demo's result could not be sent: it holds values the site cannot carry.",
}

# (a reply channel and a frame for its browser) or (a group and a message for its members)
Addressed = list[tuple[str, dict[str, Any]]]


def demo_group(slug: str) -> str:
    return f"lineup.demo.{slug}"


def job_message(frame: dict[str, Any]) -> dict[str, Any]:
    """A channel-layer message that a consumer forwards to its browser as `frame`."""
    return {"type": "job.event", "frame": frame}


def advanced_message(
    *,
    slug: str,
    seq: int,
    left: list[int],
    stats: DemoStats,
    back: list[int] = (),
    why: str = "",
) -> dict[str, Any]:
    """Tickets left the demo's line (their jobs started, were cancelled or expired), or came
    into it ahead of others (their worker died, or a heavier lane's job joined: `why`
    "priority"); a waiting job moves by those with smaller tickets. `seq` numbers the line's
    changes, so a follower applies each change once."""
    return {
        "type": "queue.advanced",
        "demo": slug,
        "seq": seq,
        "left": left,
        "back": list(back),
        "why": why,
        "avg_run": stats.avg_run,
        "avg_batch": stats.avg_batch,
    }


def notice_message(*, slug: str, paused: bool, text: str) -> dict[str, Any]:
    """A word from the demo's operators to its waiting visitors (paused, or running again)."""
    return {"type": "queue.notice", "demo": slug, "paused": paused, "message": text}


async def send_all(direct: Addressed, broadcasts: Addressed = ()) -> set[str]:
    """Send frames to reply channels and messages to groups, all in one round trip to Redis.
    A frame that cannot be encoded is logged with its job and does not stop the others.
    Returns the jobs whose frames were not sent."""
    layer = get_channel_layer()
    encoded, jobs, failed = [], [], set()
    for channel, frame in direct:
        if not channel:
            continue
        try:
            encoded.append(_encode_frame(layer, channel, frame))
            jobs.append(frame["job"])
        except Exception:
            log.exception("sending %s of job %s failed", frame["msg"], frame["job"])
            failed.add(frame["job"])
    for group, message in broadcasts:
        try:
            encoded.append(layer.encode_for_group(group, message))
        except Exception:
            log.exception("broadcasting to %s failed", group)
    sent = await layer.publish(encoded)  # the frames first, in the order of `jobs`
    failed.update(job for job, ok in zip(jobs, sent) if not ok)
    return failed


def _encode_frame(layer, channel: str, frame: dict[str, Any]) -> tuple[str, bytes]:
    try:
        return layer.encode(channel, job_message(frame))
    except (TypeError, ValueError):
        # What the channel layer cannot encode (say, a function's output holding a lone
        # surrogate) never will be: the visitor hears that the result could not be sent.
        if frame["msg"] != "process_completed":
            raise
        log.exception("the outcome of job %s cannot be sent", frame["job"])
        unsendable = frames.completed(frame["job"], success=False, payload=UNSENDABLE)
        return layer.encode(channel, job_message(unsendable))


_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()
# A group nobody follows: what a worker sends to as it starts, to open its connection.
SENDER_CHECK_GROUP = "lineup.sender-check"


def _sender_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, in a thread, for sends from synchronous code: it keeps its
    channel-layer connections open instead of opening new ones for every send."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="lineup-events", daemon=True).start()
        return _loop


def send_all_soon(direct: Addressed, broadcasts: Addressed = ()) -> Future:
    """Start `send_all` from synchronous code; the returned future says when it is done."""
    return asyncio.run_coroutine_threadsafe(send_all(direct, broadcasts), _sender_loop())


def open_sender() -> None:
    """Start the sender's loop and open its channel-layer connection now, as a worker starts,
    rather than in its first batch: one broadcast to a group that nobody follows."""
    send_all_sync([], [(SENDER_CHECK_GROUP, {"type": "sender.check"})])


def send_all_sync(direct: Addressed, broadcasts: Addressed = ()) -> set[str]:
    """`send_all` from synchronous code (workers, the HTTP API), waiting until it is done."""
    return send_all_soon(direct, broadcasts).result()
