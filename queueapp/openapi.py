"""The HTTP API's OpenAPI 3.1 schema. Each demo open to the API has its own paths to
submit jobs, with the JSON Schema of its inputs, so a client (or a fuzzer) knows exactly
what each demo takes."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from models_registry.registry import InferenceFunction

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
        "progress": {"description": "The latest progress (while running), or null."},
        "partial": {"description": "A streaming demo's output so far (while running), or null."},
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


def _inputs(function: InferenceFunction) -> dict[str, Any]:
    """The request bodies that submit a job to a demo of `function`."""
    data = {
        "type": "array",
        "prefixItems": [{**c.json_schema(), "title": c.label} for c in function.inputs],
        "items": False,
        "minItems": len(function.inputs),
        "maxItems": len(function.inputs),
        "description": "One value per input of the demo, in order.",
    }
    files = {
        f"input_{n}": {
            "type": "string",
            "format": "binary",
            "description": f"The file for input {n}, {c.label}.",
        }
        for n, c in enumerate(function.inputs)
        if c.holds_files
    }
    return {
        "application/json": {
            "schema": {"type": "object", "required": ["data"], "properties": {"data": data}}
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "data": {"type": "string", "description": "The JSON list of input values."},
                    **files,
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


def _submit_paths(slug: str, function: InferenceFunction) -> dict[str, Any]:
    """The paths that submit jobs to one demo, with its own inputs."""
    refusals = _refusals(400, 403, 404, 405, 413, 415, 429, 503)
    body = {"required": True, "content": _inputs(function)}
    name = slug.replace("-", "_")
    wait = {
        "name": "wait",
        "in": "query",
        "schema": {"type": "number", "minimum": 0},
        "description": "Seconds to wait at most (capped by the site).",
    }
    return {
        f"/api/v1/demos/{slug}/jobs/": {
            "post": {
                "summary": f"Put a job in the line of {slug}",
                "operationId": f"createJob_{name}",
                "requestBody": body,
                "responses": {"202": _job_response("In the line."), **refusals},
            }
        },
        f"/api/v1/demos/{slug}/predict/": {
            "post": {
                "summary": f"Put a job in the line of {slug} and wait for its result",
                "operationId": f"predict_{name}",
                "parameters": [wait],
                "requestBody": body,
                "responses": {
                    "200": _job_response("The job ended."),
                    "202": _job_response("Still going when the wait ran out."),
                    **refusals,
                },
            }
        },
    }


def schema(demos: dict[str, InferenceFunction]) -> dict[str, Any]:
    """The schema, for the demos open to the API (slug: function)."""
    slug = {
        "name": "slug",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": sorted(demos)} if demos else {"type": "string"},
    }
    job = {"name": "job", "in": "path", "required": True, "schema": {"type": "string"}}
    paths: dict[str, Any] = {
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
                "responses": {"200": _job_response("Cancelled."), **_refusals(404, 409, 429)},
            },
        },
    }
    for name, function in sorted(demos.items()):
        paths |= _submit_paths(name, function)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Lineup API",
            "version": "1",
            "description": "Jobs for machine-learning demos, through the same line as the "
            "demo pages. A caller is known by the session cookie its first job sets.",
        },
        "paths": paths,
    }


@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    from .api import open_demos

    return JsonResponse(schema({demo.slug: function for demo, function in open_demos()}))
