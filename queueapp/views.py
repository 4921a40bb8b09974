import json
import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from models_registry.files import file_response, result_link_valid
from models_registry.models import Demo
from models_registry.registry import find_function

from . import access, gradio, selectors
from .services import accounts


@require_GET
def demo_list(request: HttpRequest) -> HttpResponse:
    # Only demos whose function is installed here (an optional extra may be missing).
    demos = [d for d in Demo.objects.filter(enabled=True) if find_function(d.function)]
    return render(request, "lineup/demo_list.html", {"demos": demos})


PAGE_POLICY = "script-src 'self'; object-src 'none'; base-uri 'none'"


@require_GET
def demo_page(request: HttpRequest, slug: str) -> HttpResponse:
    demo = get_object_or_404(Demo, slug=slug, enabled=True)
    function = find_function(demo.function)
    if function is None:
        raise Http404("This demo's function is not installed here.")
    page = {
        "demo": demo.slug,
        "inputs": [c.describe() for c in function.inputs],
        "outputs": [c.describe() for c in function.outputs],
        "examples": demo.examples,
        "socket": "/ws/queue/",
        "token": _session_token(request),
        "token_url": reverse("socket-token"),
        "upload_url": reverse("gradio-upload", args=[demo.slug]),
        "max_file_bytes": settings.LINEUP_MAX_FILE_BYTES,
        "max_image_bytes": settings.LINEUP_MAX_IMAGE_BYTES,
    }
    response = render(
        request,
        "lineup/demo_page.html",
        {"demo": demo, "function": function, "page": page, "quota": _quota(request)},
    )
    # The page carries a token tied to this session: it must not come from a shared cache.
    add_never_cache_headers(response)
    # Outputs are sanitized where they are made; should anything slip through, the page still
    # runs no script but its own.
    response["Content-Security-Policy"] = PAGE_POLICY
    return response


def _session_token(request: HttpRequest) -> str:
    """The websocket token for this browser session, which is created when missing, naming
    the signed-in user: the websocket finds the visitor's jobs by their user or session."""
    # The user first: loading the session may find the browser's key stale and drop it.
    user_id = request.user.pk if request.user.is_authenticated else None
    if not request.session.session_key:
        request.session.save()
    return access.socket_token(request.session.session_key, user_id)


@require_GET
def socket_token(request: HttpRequest) -> JsonResponse:
    """A fresh websocket token for the page's session, for a page that reconnects later than
    its first token lasts."""
    response = JsonResponse({"token": _session_token(request)})
    add_never_cache_headers(response)
    return response


@require_GET
def demo_api(request: HttpRequest, slug: str) -> HttpResponse:
    """How to call the demo from a script, with curl and with Python (Gradio's "Use via API")."""
    demo = get_object_or_404(Demo, slug=slug, enabled=True, api_open=True)
    function = find_function(demo.function)
    if function is None:
        raise Http404("This demo's function is not installed here.")
    example = demo.examples[0] if demo.examples else [c.example_value() for c in function.inputs]
    files = {
        f"input_{n}": c.example_file_name() for n, c in enumerate(function.inputs) if c.holds_files
    }
    data = [None if f"input_{n}" in files else value for n, value in enumerate(example)]
    context = {
        "demo": demo,
        "function": function,
        "site": request.build_absolute_uri("/").rstrip("/"),
        "data_json": json.dumps(data),
        "files": files,
        # Gradio's clients take the same values as arguments, and files through handle_file.
        "gradio_args": ", ".join(
            f'handle_file("{files[f"input_{n}"]}")' if f"input_{n}" in files else repr(value)
            for n, value in enumerate(data)
        ),
        "gradio_js_args": ", ".join(
            "handle_file(fileBlob)" if f"input_{n}" in files else json.dumps(value)
            for n, value in enumerate(data)
        ),
        "gradio_api_name": gradio.api_name(demo.slug),
    }
    return render(request, "lineup/demo_api.html", context)


@require_GET
def media_file(request: HttpRequest, path: str) -> FileResponse:
    """Serve a produced result while its link is valid. Names are long random tokens, and a
    link carries its expiry and a signature (models_registry/files.py)."""
    if not path.startswith("results/") or ".." in path:
        raise Http404("No such file")
    expires = access.small_number(request.GET.get("expires", ""))
    if expires is None or not result_link_valid(path, expires, request.GET.get("sig", "")):
        return HttpResponse(
            "This result link has expired or is not valid.", status=410, content_type="text/plain"
        )
    if not default_storage.exists(path):
        raise Http404("No such file")
    response = file_response(path)
    response["Cache-Control"] = f"private, max-age={max(0, expires - int(time.time()))}"
    return response


@login_required
@never_cache
def account(request: HttpRequest) -> HttpResponse:
    """The signed-in visitor's account: their API keys, made (each shown once) and revoked."""
    new_key = None
    if request.method == "POST":
        if request.POST.get("action") == "create":
            name = request.POST.get("name", "").strip()[:100] or "API key"
            _, new_key = accounts.api_key_issue(user=request.user, name=name)
        elif request.POST.get("action") == "revoke":
            key_id = access.small_number(request.POST.get("key", ""))
            if key_id is not None and accounts.api_key_revoke(user=request.user, key_id=key_id):
                messages.success(request, "The key is revoked: it is refused from now on.")
            return redirect("account")
    context = {
        "keys": request.user.api_keys.all(),
        "new_key": new_key,
        "quota": _quota(request),
    }
    return render(request, "lineup/account.html", context)


def _quota(request: HttpRequest) -> selectors.QuotaStatus | None:
    """The signed-in visitor's tier and GPU time today (None: not signed in, or no tier)."""
    if not request.user.is_authenticated:
        return None
    owner = access.user_owner(request.user.pk)
    return selectors.user_quota(user_id=request.user.pk, owner=owner)
