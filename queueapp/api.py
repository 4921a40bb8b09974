"""The HTTP API: the same line as the demo pages, never a way around it (docs/api.md).

Every call goes through the queue's services, so a job made here waits its turn like any
other, and `api_open` off closes this API for the demo. A caller is known by its session
cookie, which the first job it creates sets; its jobs are visible to it alone.
"""

import asyncio
import logging
import math
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError

from models_registry.models import Demo
from models_registry.registry import InferenceFunction, find_function

from . import access, selectors, strict_json
from .errors import QueueError, unavailable
from .services import jobs
from .threads import run_sync

log = logging.getLogger(__name__)

# The HTTP status of each refusal.
STATUS_OF = {
    "bad_request": 400,
    "invalid_input": 400,
    "invalid_key": 401,
    "api_closed": 403,
    "tier_not_allowed": 403,
    "unknown_demo": 404,
    "unknown_job": 404,
    "method_not_allowed": 405,
    "not_waiting": 409,
    "input_too_large": 413,
    "unsupported_media_type": 415,
    "queue_full": 429,
    "wait_too_long": 429,
    "too_many_jobs": 429,
    "quota_exhausted": 429,
    "rate_limited": 429,
    "demo_disabled": 503,
    "demo_unavailable": 503,
    "no_worker": 503,
    "unavailable": 503,
}
ENDED = ("completed", "failed", "cancelled", "expired")
# The most file parts one request may carry (one per input at most).
MAX_FILES = 16


def error_response(error: QueueError) -> JsonResponse:
    body = {"error": {"code": error.code, "message": error.message, **error.details}}
    response = JsonResponse(body, status=STATUS_OF.get(error.code, 400))
    if "retry_after" in error.details:
        response["Retry-After"] = str(int(error.details["retry_after"]))
    return response


def api_view(*methods: str):
    """An API view: its methods, the per-address request rate, and refusals as JSON."""

    def decorator(view):
        @csrf_exempt  # a session cookie is SameSite=Lax: another site cannot send it here
        @wraps(view)
        async def wrapper(request: HttpRequest, *args, **kwargs) -> JsonResponse:
            try:
                if request.method not in methods:
                    raise QueueError(
                        "method_not_allowed", f"Use {' or '.join(methods)} on this URL."
                    )
                address = access.client_address(request.META)
                await run_sync(access.api_request_allowed)(address=address)
                return await view(request, *args, **kwargs)
            except QueueError as error:
                response = error_response(error)
                if error.code == "method_not_allowed":
                    response["Allow"] = ", ".join(methods)
                return response
            except RedisError:
                log.warning("Redis is unreachable: %s %s refused", request.method, request.path)
                return error_response(unavailable())

        return wrapper

    return decorator


async def _owner(request: HttpRequest, *, create: bool = False) -> str | None:
    """The caller's owner name: its user (by API key, or signed in); else its session, a new
    one if `create` and none."""
    user_id = await access.request_user(request, "Authorization")
    if user_id:
        return access.user_owner(user_id)
    if not request.session.session_key and create:
        await request.session.asave()
    session_key = request.session.session_key
    return access.session_owner(session_key) if session_key else None


def _job_links(slug: str, job_id: str) -> dict[str, str]:
    url = reverse("api-job", args=[slug, job_id])
    return {"self": url, "cancel": url}


def _job_body(slug: str, status: selectors.JobStatus) -> dict[str, Any]:
    body: dict[str, Any] = {"job": status.job_id, "demo": slug, "status": status.status}
    if status.status == "waiting":
        body |= {"rank": status.rank, "eta": round(status.eta or 0, 2)}
    if status.status == "running":
        body |= {"progress": status.progress, "partial": status.partial}
    if status.status == "completed":
        body["output"] = {"data": status.outputs}
    if status.status in ("failed", "expired"):
        body["error"] = status.error
    body["links"] = _job_links(slug, status.job_id)
    return body


def _read_inputs(request: HttpRequest) -> list[Any]:
    """The job's input values from a JSON body, or from multipart form data whose `data`
    part holds the JSON list and whose files `input_<n>` are the n-th values."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.LINEUP_MAX_REQUEST_BYTES:
        raise QueueError(
            "input_too_large",
            f"Requests may be at most {settings.LINEUP_MAX_REQUEST_BYTES} bytes.",
        )
    if request.content_type == "application/json":
        try:
            body = strict_json.loads(request.body)
        except strict_json.UnsafeJSON as error:
            raise QueueError("invalid_input", str(error)) from None
        except (ValueError, RecursionError):
            raise QueueError("bad_request", "The body is not valid JSON.") from None
        if not isinstance(body, dict) or "data" not in body:
            raise QueueError("bad_request", 'Send {"data": [...]}, one value per input.')
        return body["data"]
    if request.content_type == "multipart/form-data":
        try:
            data = strict_json.loads(request.POST.get("data", "[]"))
            files = request.FILES
        except strict_json.UnsafeJSON as error:
            raise QueueError("invalid_input", str(error)) from None
        except (ValueError, RecursionError, MultiPartParserError):
            raise QueueError("bad_request", "The form data could not be read.") from None
        if not isinstance(data, list):
            raise QueueError("bad_request", "The `data` part must be a JSON list.")
        if len(files) > MAX_FILES:
            raise QueueError("bad_request", f"At most {MAX_FILES} files per request.")
        for name, upload in files.items():
            index = access.small_number(name.removeprefix("input_"))
            if not name.startswith("input_") or index is None or index >= MAX_FILES:
                raise QueueError("bad_request", f"Name file parts input_<n>, not '{name}'.")
            limit = max(settings.LINEUP_MAX_FILE_BYTES, settings.LINEUP_MAX_IMAGE_BYTES)
            if upload.size > limit:
                raise QueueError("input_too_large", f"{name}: files may be at most {limit} bytes.")
            data.extend([None] * (index + 1 - len(data)))
            data[index] = upload.read()
        return data
    raise QueueError(
        "unsupported_media_type", "Send application/json, or multipart/form-data with files."
    )


async def _submit(request: HttpRequest, slug: str, owner: str) -> jobs.Joined:
    await run_sync(selectors.demo_open_to_scripts)(slug=slug)
    data = await run_sync(_read_inputs)(request)
    return await jobs.job_submit(
        slug=slug,
        data=data,
        owner=owner,
        channel="",
        address=access.client_address(request.META),
        from_page=False,
    )


@api_view("POST")
async def job_create(request: HttpRequest, slug: str) -> JsonResponse:
    """Put a job in the demo's line: 202 with its id and where to follow it."""
    joined = await _submit(request, slug, await _owner(request, create=True))
    body = {
        "job": joined.job_id,
        "demo": slug,
        "status": "waiting",
        "rank": joined.rank,
        "eta": round(joined.eta, 2),
        "links": _job_links(slug, joined.job_id),
    }
    response = JsonResponse(body, status=202)
    response["Location"] = body["links"]["self"]
    return response


@api_view("POST")
async def predict(request: HttpRequest, slug: str) -> JsonResponse:
    """Put a job in the line and wait for its end, up to `?wait=` seconds: 200 with the
    ended job, or 202 with where to follow it if it has not ended by then."""
    try:
        wait = float(request.GET.get("wait", settings.LINEUP_PREDICT_MAX_WAIT_SECONDS))
    except ValueError:
        wait = math.nan
    if not math.isfinite(wait):
        raise QueueError("bad_request", "`wait` must be a number of seconds.")
    wait = min(max(wait, 0.0), settings.LINEUP_PREDICT_MAX_WAIT_SECONDS)
    owner = await _owner(request, create=True)
    joined = await _submit(request, slug, owner)
    status = await _until_ended(slug, joined.job_id, owner, wait)
    return JsonResponse(_job_body(slug, status), status=200 if status.status in ENDED else 202)


async def _until_ended(slug: str, job_id: str, owner: str, wait: float) -> selectors.JobStatus:
    """Poll the job until it ends or `wait` seconds pass; a short poll first, then longer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    pause = 0.02
    while True:
        status = await run_sync(selectors.job_status)(slug=slug, job_id=job_id, owner=owner)
        left = deadline - loop.time()
        if status.status in ENDED or left <= 0:
            return status
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 0.5)


@api_view("GET", "DELETE")
async def job_detail(request: HttpRequest, slug: str, job_id: str) -> JsonResponse:
    """GET: where the job stands. DELETE: cancel it while it waits. Its owner only."""
    owner = await _owner(request)
    if owner is None or len(job_id) > 64:
        raise QueueError("unknown_job", "There is no such job, or it has expired.")
    if request.method == "DELETE":
        await run_sync(jobs.job_cancel)(slug=slug, job_id=job_id, owner=owner)
    status = await run_sync(selectors.job_status)(slug=slug, job_id=job_id, owner=owner)
    return JsonResponse(_job_body(slug, status))


def _describe(demo: Demo, function: InferenceFunction) -> dict[str, Any]:
    return {
        "slug": demo.slug,
        "title": demo.title,
        "description": demo.description,
        "inputs": [c.describe() for c in function.inputs],
        "outputs": [c.describe() for c in function.outputs],
        "streams": function.streams,
        "links": {
            "jobs": reverse("api-jobs", args=[demo.slug]),
            "predict": reverse("api-predict", args=[demo.slug]),
            "docs": reverse("demo-api", args=[demo.slug]),
        },
    }


def open_demos() -> list[tuple[Demo, InferenceFunction]]:
    """The demos open to the API whose function this process has, with it."""
    found = []
    for demo in Demo.objects.filter(enabled=True, api_open=True).order_by("slug"):
        function = find_function(demo.function)
        if function is not None:
            found.append((demo, function))
    return found


@api_view("GET")
async def demo_list(request: HttpRequest) -> JsonResponse:
    """The demos open to the API."""
    demos = await run_sync(lambda: [_describe(*pair) for pair in open_demos()])()
    return JsonResponse({"demos": demos})


@api_view("GET")
async def demo_detail(request: HttpRequest, slug: str) -> JsonResponse:
    """A demo's inputs and outputs, and its line now."""

    def read() -> dict[str, Any]:
        found = [pair for pair in open_demos() if pair[0].slug == slug]
        if not found:
            if Demo.objects.filter(slug=slug, enabled=True, api_open=False).exists():
                raise QueueError("api_closed", "This demo is not open to the API; use its page.")
            raise QueueError("unknown_demo", f"There is no demo called '{slug}' open to the API.")
        return _describe(*found[0]) | {"line": selectors.line_now(slug=slug)}

    return JsonResponse(await run_sync(read)())
