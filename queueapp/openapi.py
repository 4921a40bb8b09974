"""The HTTP API's OpenAPI 3.0 schema, with the demos open to the API named in it."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from models_registry.models import Demo

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "retry_after": {"type": "integer"},
            },
        }
    },
}

JOB = {
    "type": "object",
    "required": ["job", "demo", "status", "links"],
    "properties": {
        "job": {"type": "string"},
        "demo": {"type": "string"},
        "status": {
            "type": "string",
            "enum": ["waiting", "running", "completed", "failed", "cancelled", "expired"],
        },
        "rank": {"type": "integer", "description": "Jobs ahead of this one (while waiting)."},
        "eta": {"type": "number", "description": "Seconds until it should start."},
        "progress": {"nullable": True, "description": "The latest progress (while running)."},
        "partial": {"nullable": True, "description": "A streaming demo's output so far."},
        "output": {
            "type": "object",
            "properties": {"data": {"type": "array", "items": {}}},
        },
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        },
        "links": {
            "type": "object",
            "properties": {"self": {"type": "string"}, "cancel": {"type": "string"}},
        },
    },
}

INPUTS = {
    "application/json": {
        "schema": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": {
                    "type": "array",
                    "items": {},
                    "description": "One value per input of the demo, in order.",
                }
            },
        }
    },
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "properties": {
                "data": {"type": "string", "description": "The JSON list of input values."},
                "input_0": {
                    "type": "string",
                    "format": "binary",
                    "description": "A file for input 0 (likewise input_1, ...).",
                },
            },
        }
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR}}}


def _refusals(*codes: int) -> dict[str, Any]:
    text = {
        400: "Bad input: the body or a value does not fit (`bad_request`, `invalid_input`).",
        403: "The demo is not open to the API (`api_closed`).",
        404: "No such demo, or no such job of yours (`unknown_demo`, `unknown_job`).",
        405: "Method not allowed.",
        409: "The job has started or ended and cannot be cancelled (`not_waiting`).",
        413: "An input or the request is too large (`input_too_large`).",
        415: "Neither JSON nor multipart form data.",
        429: "Line full, wait too long, too many jobs, or too many requests; see Retry-After.",
        503: "The demo is off, or no worker runs it now (`demo_disabled`, `no_worker`).",
    }
    return {str(code): _error(text[code]) for code in codes}


def _job_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": JOB}}}


def schema(slugs: list[str]) -> dict[str, Any]:
    slug = {
        "name": "slug",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": slugs} if slugs else {"type": "string"},
    }
    job = {"name": "job", "in": "path", "required": True, "schema": {"type": "string"}}
    submit_refusals = _refusals(400, 403, 404, 405, 413, 415, 429, 503)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Lineup API",
            "version": "1",
            "description": "Jobs for machine-learning demos, through the same line as the "
            "demo pages. A caller is known by the session cookie its first job sets.",
        },
        "paths": {
            "/api/v1/demos/": {
                "get": {
                    "summary": "The demos open to the API",
                    "operationId": "listDemos",
                    "responses": {"200": {"description": "The demos."}, **_refusals(429)},
                }
            },
            "/api/v1/demos/{slug}/": {
                "get": {
                    "summary": "A demo's inputs, outputs and line",
                    "operationId": "getDemo",
                    "parameters": [slug],
                    "responses": {"200": {"description": "The demo."}, **_refusals(404, 429)},
                }
            },
            "/api/v1/demos/{slug}/jobs/": {
                "post": {
                    "summary": "Put a job in the demo's line",
                    "operationId": "createJob",
                    "parameters": [slug],
                    "requestBody": {"required": True, "content": INPUTS},
                    "responses": {"202": _job_response("In the line."), **submit_refusals},
                }
            },
            "/api/v1/demos/{slug}/predict/": {
                "post": {
                    "summary": "Put a job in the line and wait for its result",
                    "operationId": "predict",
                    "parameters": [
                        slug,
                        {
                            "name": "wait",
                            "in": "query",
                            "schema": {"type": "number", "minimum": 0},
                            "description": "Seconds to wait at most (capped by the site).",
                        },
                    ],
                    "requestBody": {"required": True, "content": INPUTS},
                    "responses": {
                        "200": _job_response("The job ended."),
                        "202": _job_response("Still going when the wait ran out."),
                        **submit_refusals,
                    },
                }
            },
            "/api/v1/demos/{slug}/jobs/{job}/": {
                "get": {
                    "summary": "Where one of your jobs stands",
                    "operationId": "getJob",
                    "parameters": [slug, job],
                    "responses": {"200": _job_response("The job."), **_refusals(404, 429)},
                },
                "delete": {
                    "summary": "Cancel one of your waiting jobs",
                    "operationId": "cancelJob",
                    "parameters": [slug, job],
                    "responses": {
                        "200": _job_response("Cancelled."),
                        **_refusals(404, 409, 429),
                    },
                },
            },
        },
    }


@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    slugs = list(
        Demo.objects.filter(enabled=True, api_open=True)
        .order_by("slug")
        .values_list("slug", flat=True)
    )
    return JsonResponse(schema(slugs))
