"""What a worker does with a demo's line: take a batch, run it, deliver, repeat."""

import logging
import secrets
import threading
import time
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from models_registry.registry import InferenceFunction, get_function

from . import events, services
from .store import Ending, Taken, TakenJob, get_store

log = logging.getLogger(__name__)

# At most this many progress frames per second reach a job's page.
PROGRESS_FRAMES_PER_SECOND = 10


class BatchError(Exception):
    """The function broke its contract (wrong shape of outputs)."""


def drain_demo(slug: str) -> int:
    """Run batches of the demo while jobs wait and a slot is ours; return how many ran.

    When the line empties, linger a moment for the next job before giving the slot back."""
    store = get_store()
    slot = secrets.token_hex(8)
    linger = min(settings.LINEUP_WORKER_LINGER_SECONDS, settings.LINEUP_SLOT_LEASE_SECONDS / 2)
    patience = linger
    batches = 0
    while True:
        taken = store.take_batch(slug, slot=slot, linger=patience)
        if taken.status == "idle":
            if not store.wait_for_bell(slug, timeout=patience):
                patience = 0  # nobody came: give the slot back on the next call
            continue
        if taken.status == "wait":
            time.sleep(taken.wait_ms / 1000)
            continue
        if taken.status != "batch":
            return batches
        patience = linger
        if taken.jobs:
            with slot_kept(slug, slot):
                run_batch(slug, slot, taken)
        batches += 1


class LeaseKeeper:
    """One thread per worker process that renews the leases of the slots whose batches run,
    so a batch longer than a lease keeps its slot."""

    def __init__(self) -> None:
        self.slots: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def keep(self, slug: str, slot: str) -> None:
        with self.lock:
            self.slots.add((slug, slot))
            if self.thread is None:
                self.thread = threading.Thread(
                    target=self._renew_forever, name="lineup-leases", daemon=True
                )
                self.thread.start()

    def release(self, slug: str, slot: str) -> None:
        with self.lock:
            self.slots.discard((slug, slot))

    def _renew_forever(self) -> None:
        while True:
            time.sleep(settings.LINEUP_SLOT_LEASE_SECONDS / 3)
            with self.lock:
                slots = list(self.slots)
            for slug, slot in slots:
                try:
                    if not get_store().renew(slug, slot=slot):
                        log.warning(
                            "demo %s: slot %s was taken back while its batch ran", slug, slot
                        )
                except Exception:
                    log.exception("renewing the lease of slot %s failed", slot)


_leases = LeaseKeeper()


@contextmanager
def slot_kept(slug: str, slot: str):
    """Keep the slot's lease fresh while its batch runs."""
    _leases.keep(slug, slot)
    try:
        yield
    finally:
        _leases.release(slug, slot)


def run_batch(slug: str, slot: str, taken: Taken) -> None:
    function_name, jobs, seq = taken.function, taken.jobs, taken.seq
    store = get_store()
    starts = [(job.channel, {"msg": "process_starts", "job": job.id}) for job in jobs]
    advanced = events.advanced_message(
        slug=slug, seq=seq, left=[job.ticket for job in jobs], stats=taken.stats
    )
    # Tell the visitors while the batch runs; wait for it before telling them the outcome.
    started = events.send_all_soon(starts, [(events.demo_group(slug), advanced)])

    began = time.monotonic()
    endings = compute_endings(function_name, jobs)
    duration = time.monotonic() - began
    channels = store.finish_batch(slug, slot=slot, endings=endings, duration=duration)

    # A job without a channel here had its ending recorded elsewhere (timeout, new worker).
    recorded = [(channel, e) for channel, e in zip(channels, endings) if channel]
    frames = [
        (
            channel,
            events.completed_frame(
                e.job_id, success=e.status == "completed", payload=e.payload, duration=duration
            ),
        )
        for channel, e in recorded
    ]
    told = [e.job_id for _, e in recorded]
    started.result()  # a job's start reaches its visitor before its ending
    # Deliver while the next batch runs; the outbox keeps each ending until it was sent.
    events.send_all_soon(frames).add_done_callback(lambda sent: _delivered(slug, told, sent))


def _delivered(slug: str, job_ids: list[str], sent) -> None:
    if sent.exception() is None:
        get_store().delivered(slug, job_ids)
    else:
        log.error("demo %s: telling visitors their endings failed", slug, exc_info=sent.exception())


def compute_endings(function_name: str, jobs: list[TakenJob]) -> list[Ending]:
    """Run the function over the batch and say how each job ended."""
    try:
        function = get_function(function_name)
    except KeyError:
        error = {
            "code": "unknown_function",
            "message": "This worker does not have the demo's function.",
        }
        return [Ending(job.id, "failed", error) for job in jobs]

    loaded: list[TakenJob] = []
    arguments: list[list[Any]] = []
    endings: dict[str, Ending] = {}
    for job in jobs:
        try:
            arguments.append([c.load(v) for c, v in zip(function.inputs, job.inputs)])
            loaded.append(job)
        except Exception:
            log.exception("job %s: could not load its inputs", job.id)
            error = {"code": "bad_input", "message": "The input could not be read."}
            endings[job.id] = Ending(job.id, "failed", error)

    if loaded:
        try:
            outputs = call_function(
                function, arguments, progress_to=[(job.channel, job.id) for job in loaded]
            )
            for job, values in zip(loaded, outputs):
                data = [c.dump(v) for c, v in zip(function.outputs, values)]
                endings[job.id] = Ending(job.id, "completed", data)
        except Exception as exc:
            log.exception("demo function %s failed on a batch of %d", function.name, len(loaded))
            message = str(exc) or exc.__class__.__name__
            for job in loaded:
                endings[job.id] = Ending(
                    job.id, "failed", {"code": "function_error", "message": message}
                )
    return [endings[job.id] for job in jobs]


def call_function(
    function: InferenceFunction, arguments: list[list[Any]], *, progress_to: list[tuple[str, str]]
) -> list[list[Any]]:
    """Call the function on one job, or on a batch in Gradio's convention; one row of outputs per job."""
    kwargs = {}
    if function.wants_progress:
        kwargs["progress"] = _progress_reporter(progress_to)
    n_outputs = len(function.outputs)
    if not function.batch:
        rows = []
        for values in arguments:
            result = function.func(*values, **kwargs)
            rows.append(list(result) if n_outputs > 1 else [result])
        return rows

    columns = [list(column) for column in zip(*arguments)]
    result = function.func(*columns, **kwargs)
    if not isinstance(result, (list, tuple)) or len(result) != n_outputs:
        raise BatchError(f"a batched function must return {n_outputs} list(s), one per output")
    if any(len(column) != len(arguments) for column in result):
        raise BatchError("a batched function must return one value per job for each output")
    return [list(row) for row in zip(*result)]


def _progress_reporter(targets: list[tuple[str, str]]):
    last_sent = 0.0

    def progress(done: float, total: float | None = None, description: str = "") -> None:
        nonlocal last_sent
        now = time.monotonic()
        finished = total is not None and done >= total
        if now - last_sent < 1 / PROGRESS_FRAMES_PER_SECOND and not finished:
            return
        last_sent = now
        data = {
            "index": done,
            "length": total,
            "progress": (done / total) if total else None,
            "desc": description,
        }
        events.send_all_sync(
            [
                (channel, {"msg": "progress", "job": job_id, "progress_data": [data]})
                for channel, job_id in targets
            ]
        )

    return progress


def sweep_forever(stop: threading.Event) -> None:
    """Sweep every demo's line now and then, for as long as this worker runs."""
    while not stop.wait(settings.LINEUP_SWEEP_SECONDS):
        try:
            for slug in get_store().demos():
                services.demo_sweep(slug=slug)
        except Exception:
            log.exception("sweeping the lines failed; trying again")
