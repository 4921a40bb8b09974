"""Gradio's clients (`gradio_client`, `@gradio/client`) calling a demo at the URL a visitor
sees: `Client("https://host/demos/<slug>/")` (docs/gradio-clients.md).

A way in like the websocket and the HTTP API: a job is admitted by `jobs.job_submit`, through
the demo's one line and its rules. What a client needs to find its way (the config and the
API's description) is built from the registry. A session's events are kept in Redis, so
`queue/join` and `queue/data` may reach different web processes; its stream reads each job's
state there and tells the client every change.
"""

import asyncio
import json
import mimetypes
import re
import secrets
import time
import zlib
from functools import wraps
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import (
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError

from models_registry.files import file_response, signed_name, signed_path
from models_registry.models import Demo
from models_registry.registry import InferenceFunction, find_function

from . import access, selectors, strict_json
from .errors import QueueError, unavailable
from .eta import rank_eta
from .services import jobs
from .store import get_store
from .threads import run_sync

# The Gradio version this surface speaks for (its clients change behaviour by version).
GRADIO_VERSION = "6.31.0"
API_PREFIX = "/gradio_api"
# Gradio's component names and Python types for each kind of value.
COMPONENTS = {
    "text": ("textbox", "Textbox", "str"),
    "number": ("number", "Number", "float"),
    "slider": ("slider", "Slider", "float"),
    "checkbox": ("checkbox", "Checkbox", "bool"),
    "dropdown": ("dropdown", "Dropdown", "str"),
    "radio": ("radio", "Radio", "str"),
    "checkbox_group": ("checkboxgroup", "CheckboxGroup", "List[str]"),
    "color": ("colorpicker", "ColorPicker", "str"),
    "image": ("image", "Image", "filepath"),
    "file": ("file", "File", "filepath"),
    "audio": ("audio", "Audio", "filepath"),
    "video": ("video", "Video", "Dict(video: filepath, subtitles: filepath | None)"),
    "gallery": ("gallery", "Gallery", "List[Dict(image: filepath, caption: str | None)]"),
    "label": ("label", "Label", "dict"),
    "json": ("json", "JSON", "Dict[Any, Any]"),
    "markdown": ("markdown", "Markdown", "str"),
    "html": ("html", "HTML", "str"),
    "chatbot": ("chatbot", "Chatbot", "List[Dict(role: str, content: str)]"),
    "dataframe": ("dataframe", "Dataframe", "Dict(headers: List[str], data: List[List[Any]])"),
}
# Kinds with choices, which Gradio's config lists as (shown, value) pairs.
CHOICE_KINDS = ("dropdown", "radio", "checkbox_group")
FILE_DATA_SCHEMA = {
    "type": "object",
    "title": "FileData",
    "properties": {
        "path": {"type": "string"},
        "url": {"type": ["string", "null"]},
        "size": {"type": ["integer", "null"]},
        "orig_name": {"type": ["string", "null"]},
        "mime_type": {"type": ["string", "null"]},
        "is_stream": {"type": "boolean"},
        "meta": {"type": "object", "properties": {"_type": {"const": "gradio.FileData"}}},
    },
    "required": ["path"],
    "description": "A file uploaded to this demo's upload route, named by the path it returned.",
}
# The most files one upload request may carry.
MAX_UPLOAD_FILES = 16
# The HTTP status of a refusal; any other is 400.
STATUS_OF = {
    "queue_full": 503,
    "api_closed": 403,
    "tier_not_allowed": 403,
    "unknown_demo": 404,
    "unknown_job": 404,
    "rate_limited": 429,
    "unavailable": 503,
    "demo_disabled": 503,
    "input_too_large": 413,
    "invalid_key": 401,
    "quota_exhausted": 429,
}
# How often a stream looks at its jobs: soon after a change, less often while nothing changes
# (doubling up to the longest pause); and when it sends a heartbeat, in seconds.
POLL_SECONDS = 0.02
LONGEST_POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15
# How often a stream reads the demo's settings and pace again, for the ETAs it sends.
LINE_READ_SECONDS = 1.0
# A session's events are kept this long after its last join.
SESSION_SECONDS = 3600
ENDED = ("completed", "failed", "cancelled", "expired")


def api_name(slug: str) -> str:
    """The demo's one endpoint, named after it."""
    return re.sub(r"[^0-9A-Za-z_]", "_", slug)


def parameter_name(label: str) -> str:
    return re.sub(r"[^0-9a-z_]+", "_", label.lower()).strip("_") or "value"


def _open_demo(slug: str, *, from_page: bool = False) -> tuple[Demo, InferenceFunction]:
    """The demo and its function, if scripts (or its page) may call it now."""
    demo = Demo.objects.filter(slug=slug, enabled=True).first()
    function = find_function(demo.function) if demo else None
    if demo is None or function is None:
        raise QueueError("unknown_demo", f"There is no demo called '{slug}'.")
    if not (demo.api_open or from_page):
        raise QueueError(
            "api_closed", "This demo takes jobs from its web page only, not from API clients."
        )
    return demo, function


def _refused(error: QueueError) -> JsonResponse:
    """A refusal as Gradio's clients read it: `detail`, and 503 for a full line."""
    status = STATUS_OF.get(error.code, 400)
    return JsonResponse({"detail": error.message}, status=status)


def _refusals_answered(view):
    """A refusal the view leaves to others (a key unknown or revoked; Redis unreachable)
    gets its status and `detail`, not a 500."""

    @wraps(view)
    async def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return await view(request, *args, **kwargs)
        except QueueError as error:
            return _refused(error)
        except RedisError:
            return _refused(unavailable())

    return wrapper


def _schema(component) -> dict[str, Any]:
    """The JSON Schema of the component's value as Gradio's clients send and get it."""
    if component.kind == "video":
        return {
            "type": "object",
            "properties": {"video": FILE_DATA_SCHEMA, "subtitles": {"type": ["object", "null"]}},
            "required": ["video"],
        }
    if component.holds_files:
        return FILE_DATA_SCHEMA
    if component.kind == "gallery":
        return {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"image": FILE_DATA_SCHEMA, "caption": {"type": ["string", "null"]}},
            },
        }
    if component.kind in ("markdown", "html"):
        return {"type": "string"}
    return component.json_schema() or {}


def _component(component_id: int, component) -> dict[str, Any]:
    name, _, _ = COMPONENTS.get(component.kind, ("json", "JSON", "Any"))
    props = {"label": component.label, "name": name}
    if component.kind in CHOICE_KINDS:
        props["choices"] = [[choice, choice] for choice in component.choices]
    return {
        "id": component_id,
        "type": name,
        "props": props,
        "api_info": _schema(component),
        "skip_api": False,
        "component_class_id": name,
    }


def _described(component) -> dict[str, Any]:
    """A parameter or return of the API's description."""
    _, class_name, python_type = COMPONENTS.get(component.kind, ("json", "JSON", "Any"))
    return {
        "label": component.label,
        "type": _schema(component),
        "python_type": {"type": python_type, "description": ""},
        "component": class_name,
    }


@never_cache
async def config(request: HttpRequest, slug: str) -> JsonResponse:
    """What a client reads first: the protocol, where the API is, the demo's one endpoint
    and its components. Sets the session cookie that owns the client's jobs."""
    try:
        demo, function = await run_sync(_open_demo)(slug)
    except QueueError as error:
        return _refused(error)
    if not request.session.session_key:
        await request.session.asave()
    inputs = list(enumerate(function.inputs))
    outputs = list(enumerate(function.outputs, start=len(inputs)))
    root = request.build_absolute_uri(f"/demos/{slug}").rstrip("/")
    body = {
        "version": GRADIO_VERSION,
        "protocol": "sse_v3",
        "api_prefix": API_PREFIX,
        "root": root,
        "title": demo.title,
        "enable_queue": True,
        "max_file_size": max(settings.LINEUP_MAX_FILE_BYTES, settings.LINEUP_MAX_IMAGE_BYTES),
        "connect_heartbeat": False,
        "auth_required": False,
        "space_id": None,
        "app_id": zlib.crc32(slug.encode()),
        "components": [_component(i, c) for i, c in inputs + outputs],
        "dependencies": [
            {
                "id": 0,
                "api_name": api_name(slug),
                "inputs": [i for i, _ in inputs],
                "outputs": [i for i, _ in outputs],
                "backend_fn": True,
                "queue": True,
                "api_visibility": "public",
                "types": {"generator": function.streams, "cancel": False},
                "cancels": [],
            }
        ],
    }
    return JsonResponse(body)


@never_cache
async def info(request: HttpRequest, slug: str) -> JsonResponse:
    """The API's description: one named endpoint, its parameters and returns."""
    try:
        demo, function = await run_sync(_open_demo)(slug)
    except QueueError as error:
        return _refused(error)
    example = demo.examples[0] if demo.examples else [c.example_value() for c in function.inputs]
    parameters = [
        _described(c)
        | {
            "parameter_name": parameter_name(c.label),
            "parameter_has_default": False,
            "parameter_default": None,
            "example_input": value,
        }
        for c, value in zip(function.inputs, example)
    ]
    endpoint = {
        "parameters": parameters,
        "returns": [_described(c) for c in function.outputs],
        "api_visibility": "public",
    }
    return JsonResponse(
        {"named_endpoints": {f"/{api_name(slug)}": endpoint}, "unnamed_endpoints": {}}
    )


async def _owner(request: HttpRequest, session_hash: str) -> str:
    """A job belongs to the client's user: the owner of its key (`token=`: the Python
    client sends it as `X-HF-Authorization: Bearer`, the JavaScript one as `Authorization:
    Bearer`), or the user signed in on its session; else to the session cookie set with the
    config; without one, to the client's session hash."""
    user_id = await access.request_user(request, "Authorization", "X-HF-Authorization")
    if user_id:
        return access.user_owner(user_id)
    session_key = request.session.session_key
    return access.session_owner(session_key) if session_key else f"gradio:{session_hash}"


def _invalid(message: str, function: InferenceFunction | None = None) -> JsonResponse:
    """Gradio's validation answer (422), naming the parameter whose value was refused."""
    inputs = function.inputs if function else ()
    name = next(
        (parameter_name(c.label) for c in inputs if message.startswith(f"{c.label}:")), "data"
    )
    detail = {"__type__": "validate", "is_valid": False, "parameter_name": name, "message": message}
    return JsonResponse({"detail": [detail]}, status=422)


@csrf_exempt
@never_cache
@_refusals_answered
async def queue_join(request: HttpRequest, slug: str) -> JsonResponse:
    """Put a job in the demo's line for a client session: `{event_id}`, or the refusal."""
    body = _posted_json(request)
    if isinstance(body, JsonResponse):
        return body
    session_hash = body.get("session_hash") if isinstance(body, dict) else None
    if not isinstance(session_hash, str) or not 0 < len(session_hash) <= 100:
        return JsonResponse({"detail": "A session_hash is required."}, status=400)
    try:
        job_id = await _admit(request, slug, body.get("data"), session_hash)
    except QueueError as error:
        return await _refusal(error, slug)
    return JsonResponse({"event_id": job_id})


def _posted_json(request: HttpRequest) -> Any:
    """The JSON value a client POSTed, or the answer that refuses its request."""
    if request.method != "POST":
        return JsonResponse({"detail": "Use POST."}, status=405)
    try:
        return strict_json.loads(request.body)
    except strict_json.UnsafeJSON as error:
        return _invalid(str(error))
    except (ValueError, RecursionError):
        return JsonResponse({"detail": "The body is not valid JSON."}, status=400)


async def _admit(request: HttpRequest, slug: str, data: Any, session_hash: str) -> str:
    """A job for the client session, through the one admission path; its id."""
    await run_sync(access.api_request_allowed)(address=access.client_address(request.META))
    joined = await jobs.job_submit(
        slug=slug,
        data=data,
        owner=await _owner(request, session_hash),
        address=access.client_address(request.META),
        from_page=False,
    )
    await run_sync(get_store().session_follow)(slug, session_hash, joined.job_id, SESSION_SECONDS)
    return joined.job_id


async def _refusal(error: QueueError, slug: str) -> JsonResponse:
    """A refused join as Gradio's clients read it: a bad input names its parameter."""
    if error.code in ("invalid_input", "input_too_large"):
        function = selectors.demo_function(await jobs.line_config(slug), slug)
        return _invalid(error.message, function)
    return _refused(error)


def _as_file_data(value: Any, file_route: str) -> Any:
    """A file output (a signed link to a stored file) as Gradio's FileData."""
    if not isinstance(value, dict) or "url" not in value:
        return value
    link = urlsplit(value["url"])
    name = link.path.removeprefix(settings.MEDIA_URL)
    query = parse_qs(link.query)
    path = f"{query['expires'][0]}/{query['sig'][0]}/{name}"
    return {
        "path": path,
        "url": file_route + path,
        "orig_name": value.get("name") or PurePosixPath(name).name,
        "mime_type": mimetypes.guess_type(name)[0],
        "size": value.get("size"),
        "is_stream": False,
        "meta": {"_type": "gradio.FileData"},
    }


def _as_gradio_value(component, value: Any, file_route: str) -> Any:
    """An output's value as Gradio's clients read that kind."""
    if component.kind == "video":
        return {"video": _as_file_data(value, file_route), "subtitles": None}
    if component.holds_files:
        return _as_file_data(value, file_route)
    if component.kind == "gallery" and isinstance(value, list):
        return [
            {"image": _as_file_data(item, file_route), "caption": item.get("caption")}
            for item in value
        ]
    if component.kind in ("markdown", "html") and isinstance(value, dict):
        return value.get("markdown", value.get("html"))
    return value


def _sse(message: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(message)}\n\n".encode()


async def _as_sse(messages):
    """The queue's stream: each message as one `data:` line."""
    async for message in messages:
        yield _sse(message)


async def _as_call_events(messages):
    """Gradio's curl route: `event:` and `data:` lines, outputs whole, and nothing but
    partial outputs, the outcome and heartbeats."""
    async for message in messages:
        kind = message["msg"]
        if kind == "process_generating":
            event, data = "generating", message["output"]["data"]
        elif kind == "process_completed" and "data" in message["output"]:
            event, data = "complete", message["output"]["data"]
        elif kind == "process_completed":
            event, data = "error", message["output"].get("error", "The job was cancelled.")
        elif kind == "heartbeat":
            event, data = "heartbeat", None
        else:
            continue
        yield f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class _Told:
    """What a stream has told its client of one job so far."""

    def __init__(self) -> None:
        self.rank: int | None = None
        self.started = False
        self.progress: Any = None
        self.partial: Any = None
        self.logged = 0  # the number of the last log line sent


def _messages(
    job_id: str, told: _Told, record, config, stats, present=list, diffs: bool = True
) -> list[dict]:
    """The messages that bring the client up to date with the job as stored; `present`
    turns outputs into what the client expects (files as FileData). With `diffs`, partial
    outputs after the first come as Gradio's diff operations; else whole."""
    out: list[dict[str, Any]] = []
    if record is None:
        error = {
            "error": "The job has expired.",
            "duration": None,
            "visible": True,
            "title": "Error",
        }
        return [{"msg": "process_completed", "event_id": job_id, "success": False, "output": error}]
    if record.status == "waiting" and record.rank is not None and record.rank != told.rank:
        told.rank = record.rank
        eta = rank_eta(config, stats, record.rank)
        out.append(
            {
                "msg": "estimation",
                "event_id": job_id,
                "rank": record.rank,
                "queue_size": None,
                "rank_eta": round(eta, 2),
            }
        )
    if record.status in ("running", *ENDED) and not told.started and record.status != "cancelled":
        told.started = True
        out.append({"msg": "process_starts", "event_id": job_id, "eta": None})
    if record.progress and record.progress != told.progress:
        told.progress = record.progress
        data = {"unit": "steps", **record.progress}
        out.append({"msg": "progress", "event_id": job_id, "progress_data": [data]})
    for entry in record.logs:
        if entry["n"] > told.logged:
            told.logged = entry["n"]
            level = entry["level"]
            out.append(
                {
                    "msg": "log",
                    "event_id": job_id,
                    "log": entry["log"],
                    "level": level,
                    "title": level.capitalize(),
                    "duration": None,
                    "visible": True,
                }
            )
    # A streaming job's outputs so far; its last ones too, which a client takes for the result.
    latest = record.partial if record.status == "running" else None
    if record.status == "completed" and told.partial is not None:
        latest = record.outputs
    if latest and latest != told.partial:
        data = present(latest)
        if diffs and told.partial is not None:
            data = [[["replace", [], value]] for value in data]
        told.partial = latest
        output = {"data": data, "is_generating": True}
        out.append(
            {"msg": "process_generating", "event_id": job_id, "output": output, "success": True}
        )
    if record.status == "completed":
        output = {"data": present(record.outputs), "duration": None, "average_duration": None}
        out.append(
            {"msg": "process_completed", "event_id": job_id, "output": output, "success": True}
        )
    elif record.status == "cancelled":
        out.append({"msg": "process_completed", "event_id": job_id, "output": {}, "success": True})
    elif record.status in ("failed", "expired"):
        message = (record.error or {}).get("message", "The job failed.")
        output = {"error": message, "duration": None, "visible": True, "title": "Error"}
        out.append(
            {"msg": "process_completed", "event_id": job_id, "output": output, "success": False}
        )
    return out


def _session_jobs(slug: str, session_hash: str) -> list[tuple[str, Any]]:
    """The session's pending jobs and their records, in two round trips to Redis."""
    store = get_store()
    job_ids = store.session_events(slug, session_hash)
    return list(zip(job_ids, store.jobs(slug, job_ids)))


def _presenter(config, slug: str, file_route: str):
    """How the demo's outputs reach Gradio's clients: files as FileData, rendered text as
    its source, the rest as is."""
    try:
        outputs = selectors.demo_function(config, slug).outputs
    except QueueError:
        outputs = ()

    def present(values: list) -> list:
        shown = [_as_gradio_value(c, value, file_route) for c, value in zip(outputs, values)]
        return shown + values[len(shown) :]

    return present


async def _stream(slug: str, session_hash: str, owner: str, file_route: str, diffs: bool = True):
    """The session's events, as this owner's jobs change, until none of them is pending;
    then `close_stream`. Jobs of the same session hash but another owner are not shown."""
    store = get_store()
    present = list
    told: dict[str, _Told] = {}
    last_sent = time.monotonic()
    line_read_at = 0.0
    pause = POLL_SECONDS
    while True:
        try:
            found = await run_sync(_session_jobs)(slug, session_hash)
        except RedisError:  # away for a moment (a restart, a failover): keep the stream open
            found = None
        if found is None:
            if time.monotonic() - last_sent > HEARTBEAT_SECONDS:
                yield {"msg": "heartbeat", "event_id": None}
                last_sent = time.monotonic()
            await asyncio.sleep(LONGEST_POLL_SECONDS)
            continue
        mine = [
            (job_id, record) for job_id, record in found if record is None or record.owner == owner
        ]
        if not mine:
            yield {"msg": "close_stream", "event_id": None}
            return
        if time.monotonic() - line_read_at > LINE_READ_SECONDS:  # settings and pace, for ETAs
            config = await jobs.line_config(slug)
            present = _presenter(config, slug, file_route)
            stats = None
            line_read_at = time.monotonic()
        if stats is None and any(record and record.status == "waiting" for _, record in mine):
            stats = await run_sync(store.stats)(slug)
        ended = []
        pause = min(2 * pause, LONGEST_POLL_SECONDS)
        for job_id, record in mine:
            told_job = told.setdefault(job_id, _Told())
            for message in _messages(job_id, told_job, record, config, stats, present, diffs):
                yield message
                last_sent = time.monotonic()
                pause = POLL_SECONDS
            if record is None or record.status in ENDED:
                ended.append(job_id)
                told.pop(job_id, None)
        if ended:
            await run_sync(store.session_forget)(slug, session_hash, ended)
        if time.monotonic() - last_sent > HEARTBEAT_SECONDS:
            yield {"msg": "heartbeat", "event_id": None}
            last_sent = time.monotonic()
        await asyncio.sleep(pause)


@never_cache
@_refusals_answered
async def queue_data(request: HttpRequest, slug: str) -> HttpResponse:
    """The session's event stream (`text/event-stream`, only `data:` lines)."""
    session_hash = request.GET.get("session_hash", "")
    if not 0 < len(session_hash) <= 100:
        return JsonResponse({"detail": "A session_hash is required."}, status=400)
    owner = await _owner(request, session_hash)
    file_route = request.build_absolute_uri(f"/demos/{slug}{API_PREFIX}/file=")
    response = StreamingHttpResponse(
        _as_sse(_stream(slug, session_hash, owner, file_route)), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    return response


@csrf_exempt
@never_cache
@_refusals_answered
async def cancel(request: HttpRequest, slug: str) -> JsonResponse:
    """Cancel a session's waiting job (`{session_hash, event_id}`); a job that has started
    runs on, as with every way in. Only the job's owner may."""
    try:
        body = strict_json.loads(request.body)
    except (ValueError, RecursionError):
        body = None
    if not isinstance(body, dict) or not all(
        isinstance(body.get(field), str) for field in ("session_hash", "event_id")
    ):
        return JsonResponse({"detail": "Send a session_hash and an event_id."}, status=400)
    owner = await _owner(request, body["session_hash"])
    try:
        await run_sync(jobs.job_cancel)(slug=slug, job_id=body["event_id"], owner=owner)
    except QueueError as error:
        if error.code != "not_waiting":
            return _refused(error)
    return JsonResponse({"success": True})


@csrf_exempt
@never_cache
async def upload(request: HttpRequest, slug: str) -> JsonResponse:
    """Keep the files of a multipart `files` field for a later join: a list of their paths,
    each signed and expiring like a result link."""
    if request.method != "POST":
        return JsonResponse({"detail": "Use POST."}, status=405)
    # The demo's own page uploads here too, showing its token, also where scripts may not.
    from_page = (
        access.read_socket_token(
            request.headers.get("X-Lineup-Token", ""), request.session.session_key
        )
        is not None
    )
    try:
        await run_sync(_open_demo)(slug, from_page=from_page)
        await run_sync(access.api_request_allowed)(address=access.client_address(request.META))
        return JsonResponse(await run_sync(_keep_uploads)(request), safe=False)
    except QueueError as error:
        return _refused(error)


def _keep_uploads(request: HttpRequest) -> list[str]:
    limit = max(settings.LINEUP_MAX_FILE_BYTES, settings.LINEUP_MAX_IMAGE_BYTES)
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit * MAX_UPLOAD_FILES:
        raise QueueError("input_too_large", f"Files may be at most {limit} bytes each.")
    try:
        files = request.FILES.getlist("files")
    except MultiPartParserError:
        raise QueueError("bad_request", "Send the files as multipart form data.") from None
    if not 0 < len(files) <= MAX_UPLOAD_FILES:
        raise QueueError("bad_request", f"Send 1 to {MAX_UPLOAD_FILES} parts named `files`.")
    if any(upload.size > limit for upload in files):
        raise QueueError("input_too_large", f"Files may be at most {limit} bytes each.")
    paths = []
    for upload in files:
        suffix = PurePosixPath(upload.name or "").suffix.lower()
        suffix = suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ""
        name = default_storage.save(f"uploads/{secrets.token_urlsafe(18)}{suffix}", upload)
        paths.append(signed_path(name))
    return paths


@never_cache
def served_file(request: HttpRequest, slug: str, path: str) -> HttpResponse:
    """A result or an upload, by its signed path; nothing else can be named."""
    name = signed_name(path)
    if name is None or not default_storage.exists(name):
        return JsonResponse({"detail": "No such file, or its link has expired."}, status=404)
    return file_response(name)


@csrf_exempt
@never_cache
@_refusals_answered
async def call(request: HttpRequest, slug: str, name: str) -> JsonResponse:
    """Gradio's curl route: `POST {data}` puts a job in the line; `{event_id}` names it for
    `call_events`. Without a session cookie, the event id itself is what owns the job."""
    if name != api_name(slug):
        return JsonResponse({"detail": f"No endpoint /{name} here."}, status=404)
    body = _posted_json(request)
    if isinstance(body, JsonResponse):
        return body
    if not isinstance(body, dict):
        return JsonResponse({"detail": 'Send {"data": [...]}, one value per input.'}, status=400)
    event_id = secrets.token_urlsafe(18)  # a session of its own, for this one job
    try:
        await _admit(request, slug, body.get("data"), event_id)
    except QueueError as error:
        return await _refusal(error, slug)
    return JsonResponse({"event_id": event_id})


@never_cache
@_refusals_answered
async def call_events(request: HttpRequest, slug: str, name: str, event_id: str) -> HttpResponse:
    """The job of a `call`, as `event:` lines: `generating`, then `complete` or `error`."""
    owner = await _owner(request, event_id)
    found = await run_sync(_session_jobs)(slug, event_id) if len(event_id) <= 100 else []
    if name != api_name(slug) or not any(
        record is None or record.owner == owner for _, record in found
    ):
        return JsonResponse({"detail": "No such event, or it is not yours."}, status=404)
    file_route = request.build_absolute_uri(f"/demos/{slug}{API_PREFIX}/file=")
    events = _stream(slug, event_id, owner, file_route, diffs=False)
    response = StreamingHttpResponse(_as_call_events(events), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response
