"""Recovery of the lines: every worker sweeps every demo now and then, so no node's death
leaves a job stuck (docs/architecture.md, "Why each invariant holds")."""

import logging

from .. import events, frames
from ..store import Change, get_store
from .demos import wake_pool

log = logging.getLogger(__name__)

# An ending still in the outbox after this long was left by a worker that died before it
# could tell the visitor; the sweeper delivers it.
UNDELIVERED_AFTER_SECONDS = 3.0


def lines_sweep() -> None:
    """Sweep every demo's line; one line that cannot be swept holds up none of the others."""
    for slug in get_store().demos():
        try:
            demo_sweep(slug=slug)
        except Exception:
            log.exception("sweeping the line of %s failed", slug, extra={"demo": slug})


def demo_sweep(*, slug: str) -> list[Change]:
    """Recover the demo's line (dead workers, timeouts, departed visitors), tell those
    affected, and wake a worker if jobs wait while a slot is free."""
    store = get_store()
    reaped = store.reap(slug)
    direct, left, back, ended = [], [], [], []
    for change in reaped.changes:
        if change.what == "requeued":
            back.append(change.ticket)
            frame = frames.requeued(change.job_id, slug, change.ticket)
        else:
            if change.what == "expired":
                left.append(change.ticket)
            ended.append(change.job_id)
            frame = frames.completed(change.job_id, success=False, payload=change.error)
        direct.append((change.channel, frame))
    # Endings that a worker recorded but did not live to deliver.
    for lost in store.undelivered(slug, older_than=UNDELIVERED_AFTER_SECONDS):
        if lost.job_id not in ended:
            ended.append(lost.job_id)
            direct.append(
                (lost.channel, frames.ending(lost.job_id, lost.status, lost.outputs, lost.error))
            )
    broadcasts = []
    if left or back:
        advanced = events.advanced_message(
            slug=slug, seq=reaped.seq, left=left, back=back, stats=store.stats(slug)
        )
        broadcasts.append((events.demo_group(slug), advanced))
    failed = events.send_all_sync(direct, broadcasts) if direct or broadcasts else set()
    store.delivered(slug, [job_id for job_id in ended if job_id not in failed])
    if reaped.wake:
        config = store.config(slug)
        if config is not None:
            wake_pool(slug=slug, pool=config.pool)
    for change in reaped.changes:
        log.info(
            "job %s of %s %s",
            change.job_id,
            slug,
            change.what,
            extra={"demo": slug, "job": change.job_id},
        )
    return reaped.changes
