"""Every frame the server sends on the websocket, in the order of docs/protocol.md's table.

A frame is one JSON object with its kind in `msg`; the functions here are the only place
frames are built, whoever sends them (the consumer, a worker, a service)."""

from typing import Any

PROTOCOL_VERSION = 1

Frame = dict[str, Any]


def hello() -> Frame:
    return {"msg": "hello", "protocol": PROTOCOL_VERSION}


def joined(job_id: str, demo: str, ref: Any = None) -> Frame:
    frame = {"msg": "joined", "job": job_id, "demo": demo}
    return _with_ref(frame, ref)


def estimation(job_id: str, rank: int, eta: float, pushed_back: str = "") -> Frame:
    """Where a waiting job stands; `pushed_back` says why its rank grew, when it did."""
    frame = {"msg": "estimation", "job": job_id, "rank": rank, "rank_eta": round(eta, 2)}
    if pushed_back:
        frame["pushed_back"] = pushed_back
    return frame


def process_starts(job_id: str) -> Frame:
    return {"msg": "process_starts", "job": job_id}


def progress_data(done: float, total: float | None, description: str) -> dict[str, Any]:
    """One entry of a `progress` frame's `progress_data`."""
    return {
        "index": done,
        "length": total,
        "progress": (done / total) if total else None,
        "desc": description,
    }


def progress(job_id: str, data: dict[str, Any]) -> Frame:
    return {"msg": "progress", "job": job_id, "progress_data": [data]}


def generating(job_id: str, outputs: list[Any]) -> Frame:
    """A streaming function's output so far."""
    return {"msg": "process_generating", "job": job_id, "output": {"data": outputs}}


def completed(job_id: str, *, success: bool, payload: Any, duration: float | None = None) -> Frame:
    """How a job ended, for its visitor: outputs on success, else an error with a code."""
    if success:
        return {
            "msg": "process_completed",
            "job": job_id,
            "success": True,
            "output": {"data": payload, "duration": duration},
        }
    return {"msg": "process_completed", "job": job_id, "success": False, "error": payload}


def log(job_id: str, message: str, level: str) -> Frame:
    return {"msg": "log", "job": job_id, "log": message, "level": level}


def cancelled(job_id: str) -> Frame:
    return {"msg": "cancelled", "job": job_id}


def ending(job_id: str, status: str, outputs: Any, error: Any) -> Frame:
    """A recorded ending (a job's status and outcome as stored), for its visitor."""
    if status == "cancelled":
        return cancelled(job_id)
    if status == "completed":
        return completed(job_id, success=True, payload=outputs)
    return completed(job_id, success=False, payload=error)  # failed or expired


def refusal(code: str, message: str, details: dict[str, Any], answers: dict[str, Any]) -> Frame:
    """A refused request: `queue_full` for a full line, else `error`; it names the `ref` or
    `job` of the frame it answers, taken from `answers`."""
    kind = "queue_full" if code == "queue_full" else "error"
    frame = {"msg": kind, "code": code, "message": message, **details}
    for field in ("ref", "job"):
        if isinstance(answers.get(field), str):
            frame[field] = answers[field]
    return frame


def error(code: str, message: str) -> Frame:
    return {"msg": "error", "code": code, "message": message}


def notice(demo: str, *, paused: bool, message: str, no_worker: bool = False) -> Frame:
    frame = {"msg": "notice", "demo": demo, "paused": paused, "message": message}
    if no_worker:
        frame["no_worker"] = True
    return frame


def pong() -> Frame:
    return {"msg": "pong"}


def requeued(job_id: str, demo: str, ticket: int) -> Frame:
    """Internal, never sent to a browser: the job's worker died and it waits again at
    `ticket`; the consumer that follows it answers with an estimation."""
    return {"msg": "requeued", "job": job_id, "demo": demo, "ticket": ticket}


def _with_ref(frame: Frame, ref: Any) -> Frame:
    if isinstance(ref, str):
        frame["ref"] = ref
    return frame
