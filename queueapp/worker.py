"""What a worker does with a demo's line: take a batch, run it, deliver, repeat."""

import logging
import secrets
import sys
import threading
import time
from concurrent.futures import Future, wait
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from models_registry.files import delete_expired_files
from models_registry.registry import InferenceFunction, get_function

from . import events, frames
from .services import recovery
from .store import UNFINISHED_JOB_TTL, Ending, Taken, TakenJob, get_store

log = logging.getLogger(__name__)

# How often a worker deletes expired result and input files.
FILE_CLEANUP_SECONDS = 300
# At most this many progress frames, and as many partial outputs, reach a job's page a second.
LIVE_FRAMES_PER_SECOND = 10
# What a function may log per batch: levels as Gradio names them, lines, their length, and
# how many of the latest a job keeps for a client that reads them later.
LOG_LEVELS = ("info", "success", "warning", "error")
MAX_LOGS = 100
MAX_LOG_CHARS = 1000
LOGS_KEPT = 20


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
    following: Taken | None = None  # what finishing the last batch took next
    announced: Future | None = None  # the send that told its visitors that it started
    while True:
        taken = following or store.take_batch(slug, slot=slot, linger=patience)
        following = None
        if taken.status == "idle":
            if not store.wait_for_bell(slug, slot=slot, timeout=patience):
                patience = 0  # nobody came: give the slot back on the next call
            continue
        if taken.status == "wait":
            # A partial batch waits for more jobs: until one fills it, or its wait is over.
            # Looking again at least three times a lease renews the slot's.
            lease = settings.LINEUP_SLOT_LEASE_SECONDS
            timeout = min(taken.wait_ms / 1000, lease / 3)
            store.wait_for_bell(slug, slot=slot, timeout=timeout, filling=True)
            continue
        if taken.status != "batch":
            return batches
        if not taken.replicated:
            # Not safe to run: left to its lease, after which the sweep puts the jobs back
            # at the front of the line (counted as an attempt).
            log.warning("demo %s: a batch was not confirmed by the replicas; not run", slug)
            return batches
        patience = linger
        batches += 1
        if taken.jobs:
            following, announced = run_batch(slug, slot, taken, linger=linger, announced=announced)


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


def run_batch(
    slug: str, slot: str, taken: Taken, *, linger: float, announced: Future | None
) -> tuple[Taken, Future | None]:
    """Run the batch and tell its visitors; return what the slot takes next, in the same
    step as recording the endings (`linger`: how long it may stay on an empty line), and the
    send that tells the next batch's visitors that it started, if it runs.

    `announced` is that send for this batch, when the batch before made it."""
    function_name, jobs = taken.function, taken.jobs
    store = get_store()
    if announced is None:
        # Tell the visitors while the batch runs; wait for it before telling them the outcome.
        announced = events.send_all_soon(*_starts(slug, taken))

    began = time.monotonic()
    with slot_kept(slug, slot):
        endings = compute_endings(slug, function_name, jobs)
    duration = time.monotonic() - began
    # The lease keeper has let go first: it would otherwise stretch an idle slot's short
    # lease, taken in the same step, to a running batch's.
    channels, following = store.finish_and_take(
        slug, slot=slot, endings=endings, duration=duration, linger=linger
    )
    # The next batch is taken: nothing below raises (sending and deleting files log their
    # own failures), so it runs, and an ending not sent stays in the outbox for the sweep.
    log.debug(
        "demo %s: a batch of %d ran in %.3f s",
        slug,
        len(jobs),
        duration,
        extra={"demo": slug, "jobs": [job.id for job in jobs]},
    )

    # A job with None had its ending recorded elsewhere (timeout, new worker); a job with ""
    # has no socket to tell (the HTTP API's).
    recorded = [(channel, e) for channel, e in zip(channels, endings) if channel]
    _release_inputs(function_name, [j for j, channel in zip(jobs, channels) if channel is not None])
    direct = [
        (
            channel,
            frames.completed(
                e.job_id, success=e.status == "completed", payload=e.payload, duration=duration
            ),
        )
        for channel, e in recorded
    ]
    told = [e.job_id for _, e in recorded]
    broadcasts: events.Addressed = []
    if following.runnable:
        # One send tells this batch's visitors their outcomes and the next batch's that it
        # started.
        starts, broadcasts = _starts(slug, following)
        direct += starts
    wait([announced])  # a job's start reaches its visitor before its ending
    # Deliver while the next batch runs; the outbox keeps each ending until it was sent.
    sent = events.send_all_soon(direct, broadcasts)
    sent.add_done_callback(lambda sent: _delivered(slug, told, sent))
    return following, (sent if following.runnable else None)


def _starts(slug: str, taken: Taken) -> tuple[events.Addressed, events.Addressed]:
    """The frames that tell a batch's visitors it started, and the broadcast that moves the
    others up the line."""
    starts = [(job.channel, frames.process_starts(job.id)) for job in taken.jobs]
    advanced = events.advanced_message(
        slug=slug, seq=taken.seq, left=[job.ticket for job in taken.jobs], stats=taken.stats
    )
    return starts, [(events.demo_group(slug), advanced)]


def _release_inputs(function_name: str, ended: list[TakenJob]) -> None:
    """Delete the input files kept for jobs that have ended here (an upload stays, for its
    link's lifetime: a client may name it again; the file sweep takes what is left)."""
    try:
        function = get_function(function_name)
        if not function.heavy_check:
            return  # no files among its inputs: nothing to delete on the result path
        for job in ended:
            function.discard_inputs(job.inputs)
    except Exception:
        log.exception("the input files of ended jobs could not be deleted; the sweep will")


def _delivered(slug: str, job_ids: list[str], sent: Future) -> None:
    """Clear the endings that reached the channel layer from the outbox; the sweep sends the
    others again."""
    if sent.exception() is None:
        failed = sent.result()
        get_store().delivered(slug, [job_id for job_id in job_ids if job_id not in failed])
    else:
        log.error("demo %s: telling visitors their endings failed", slug, exc_info=sent.exception())


def compute_endings(slug: str, function_name: str, jobs: list[TakenJob]) -> list[Ending]:
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
            log.exception(
                "job %s: could not load its inputs", job.id, extra={"job": job.id, "demo": slug}
            )
            error = {"code": "bad_input", "message": "The input could not be read."}
            endings[job.id] = Ending(job.id, "failed", error)

    if loaded:
        live = LiveUpdates(slug, [job.id for job in loaded])
        try:
            outputs = call_function(function, arguments, live=live)
            for job, values in zip(loaded, outputs):
                endings[job.id] = Ending(job.id, "completed", dump_outputs(function, values))
        except Exception as exc:
            log.exception(
                "demo function %s failed on a batch of %d",
                function.name,
                len(loaded),
                extra={"demo": slug, "jobs": [job.id for job in loaded]},
            )
            message = str(exc) or exc.__class__.__name__
            for job in loaded:
                endings[job.id] = Ending(
                    job.id, "failed", {"code": "function_error", "message": message}
                )
    return [endings[job.id] for job in jobs]


def dump_outputs(function: InferenceFunction, values: list[Any]) -> list[Any]:
    return [c.dump(v) for c, v in zip(function.outputs, values)]


def call_function(
    function: InferenceFunction, arguments: list[list[Any]], *, live: "LiveUpdates"
) -> list[list[Any]]:
    """Call the function on one job, or on a batch in Gradio's convention; one row of outputs
    per job. A streaming function's partial outputs go to its visitor as they come."""
    kwargs = {}
    if function.wants_progress:
        kwargs["progress"] = live.progress
    if function.wants_log:
        kwargs["log"] = live.log
    n_outputs = len(function.outputs)

    def row(result: Any) -> list[Any]:
        return list(result) if n_outputs > 1 else [result]

    if function.streams:
        (values,) = arguments  # streaming functions take one job at a time
        last = None
        for last in function.func(*values, **kwargs):
            live.partial(lambda value=last: dump_outputs(function, row(value)))
        if last is None:
            raise BatchError("a streaming function must yield at least one output")
        return [row(last)]

    if not function.batch:
        return [row(function.func(*values, **kwargs)) for values in arguments]

    columns = [list(column) for column in zip(*arguments)]
    result = function.func(*columns, **kwargs)
    if not isinstance(result, (list, tuple)) or len(result) != n_outputs:
        raise BatchError(f"a batched function must return {n_outputs} list(s), one per output")
    if any(len(column) != len(arguments) for column in result):
        raise BatchError("a batched function must return one value per job for each output")
    return [list(r) for r in zip(*result)]


class LiveUpdates:
    """Tells a running batch's visitors how it goes: progress, a streaming function's
    partial outputs, and what the function logs. Progress and partial outputs are sent at
    most LIVE_FRAMES_PER_SECOND times a second, and the latest is kept in the job, so a
    visitor who reconnects mid-run sees it at once; the last LOGS_KEPT log lines are kept."""

    def __init__(self, slug: str, job_ids: list[str]):
        self.slug = slug
        self.job_ids = job_ids
        self.last_sent = {"progress": 0.0, "partial": 0.0}
        self.logs: list[dict[str, Any]] = []
        self.logged = 0

    def _due(self, field: str, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self.last_sent[field] < 1 / LIVE_FRAMES_PER_SECOND:
            return False
        self.last_sent[field] = now
        return True

    def _send(self, field: str, value: Any, frame: dict[str, Any]) -> None:
        channels = get_store().note_live(
            self.slug, self.job_ids, field, [value] * len(self.job_ids)
        )
        events.send_all_sync(
            [
                (channel, {**frame, "job": job_id})
                for channel, job_id in zip(channels, self.job_ids)
                if channel
            ]
        )

    def progress(self, done: float, total: float | None = None, description: str = "") -> None:
        """What a function calls to report how far it has got."""
        if not self._due("progress", force=total is not None and done >= total):
            return
        data = frames.progress_data(done, total, description)
        self._send("progress", data, frames.progress("", data))

    def log(self, message: Any, level: str = "info") -> None:
        """What a function calls to tell its visitors something as it runs."""
        if self.logged >= MAX_LOGS:
            return  # a function logging in a loop does not flood its visitors
        self.logged += 1
        level = level if level in LOG_LEVELS else "info"
        entry = {"n": self.logged, "log": str(message)[:MAX_LOG_CHARS], "level": level}
        self.logs = [*self.logs, entry][-LOGS_KEPT:]
        self._send("logs", self.logs, frames.log("", entry["log"], level))

    def partial(self, dump) -> None:
        """A streaming function yielded; `dump()` gives the output as the page shows it."""
        if self._due("partial"):
            data = dump()
            self._send("partial", data, frames.generating("", data))


def sweep_forever(stop: threading.Event) -> None:
    """Sweep every demo's line now and then, for as long as this worker runs; now and then
    also delete the files of results and inputs that have expired."""
    next_cleanup = time.monotonic() + FILE_CLEANUP_SECONDS
    while not stop.wait(settings.LINEUP_SWEEP_SECONDS):
        try:
            recovery.lines_sweep()
            if time.monotonic() > next_cleanup:
                next_cleanup = time.monotonic() + FILE_CLEANUP_SECONDS
                delete_expired_files(inputs_after=UNFINISHED_JOB_TTL)
        except Exception:
            log.exception("sweeping the lines failed; trying again")


def warm_up(worker: dict[str, Any]) -> None:
    """Load the models of the demos this worker's pools serve, and open the connections that
    batches use, now rather than on their first job; note the models, and the GPU they found,
    in what the worker announces."""
    events.open_sender()
    store = get_store()
    for slug in store.demos():
        config = store.config(slug)
        if config is None or config.pool not in worker["pools"]:
            continue
        try:
            function = get_function(config.function)
        except KeyError:
            continue
        if function.warm_up and function.name not in worker["models"]:
            began = time.monotonic()
            function.warm_up()
            worker["models"].append(function.name)
            log.info(
                "loaded the model of %s in %.1f s",
                function.name,
                time.monotonic() - began,
                extra={"function": function.name},
            )
    worker["gpu"] = gpu_in_use()


def gpu_in_use() -> dict[str, Any] | None:
    """The GPU a model of this process runs on: name and memory (None without one)."""
    torch = sys.modules.get("torch")  # only when a model brought it in
    if torch is None or not torch.cuda.is_available():
        return None
    device = torch.cuda.get_device_properties(0)
    return {"name": device.name, "memory_gb": device.total_memory / 1e9}


def heartbeat_forever(stop: threading.Event, worker: dict[str, Any]) -> None:
    """Announce this worker process to its pools until it stops: visitors of a demo whose
    pool has no live worker are told so, and the admin lists the workers."""
    name = worker["name"]
    interval = settings.LINEUP_WORKER_HEARTBEAT_SECONDS
    while True:
        try:
            get_store().worker_heartbeat(name, worker, ttl=3 * interval)
        except Exception:
            log.exception("worker %s: heartbeat failed; trying again", name)
        if stop.wait(interval):
            break
    get_store().worker_gone(name, worker["pools"])
