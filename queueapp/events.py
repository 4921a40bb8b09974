"""Real-time events: what the queue tells visitors' websockets through the channel layer.

A job's own events (start, progress, outcome) go straight to the reply channel stored in
the job. Position changes go out as one small `queue.advanced` broadcast per demo per
change, naming the tickets that left the line; each consumer works out its own rank.
"""

import asyncio
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from .store import DemoStats


def demo_group(slug: str) -> str:
    return f"lineup.demo.{slug}"


def job_message(frame: dict[str, Any]) -> dict[str, Any]:
    """A channel-layer message that a consumer forwards to its browser as `frame`."""
    return {"type": "job.event", "frame": frame}


def advanced_message(*, slug: str, left: list[int], stats: DemoStats) -> dict[str, Any]:
    """Tickets left the demo's line (their jobs started or were cancelled)."""
    return {
        "type": "queue.advanced",
        "demo": slug,
        "left": left,
        "avg_run": stats.avg_run,
        "avg_batch": stats.avg_batch,
    }


async def send_all(
    direct: list[tuple[str, dict[str, Any]]], broadcasts: list[tuple[str, dict[str, Any]]] = ()
) -> None:
    """Send frames to reply channels and messages to groups, concurrently."""
    layer = get_channel_layer()
    sends = [layer.send(channel, job_message(frame)) for channel, frame in direct if channel]
    sends += [layer.group_send(group, message) for group, message in broadcasts]
    await asyncio.gather(*sends)


def send_all_sync(
    direct: list[tuple[str, dict[str, Any]]], broadcasts: list[tuple[str, dict[str, Any]]] = ()
) -> None:
    """`send_all` from synchronous code (workers, the HTTP API): one event loop per call."""
    async_to_sync(send_all)(direct, broadcasts)
