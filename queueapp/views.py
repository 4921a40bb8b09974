import mimetypes

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from models_registry.models import Demo
from models_registry.registry import get_function


@require_GET
def demo_list(request: HttpRequest) -> HttpResponse:
    demos = Demo.objects.filter(enabled=True)
    return render(request, "lineup/demo_list.html", {"demos": demos})


@require_GET
def demo_page(request: HttpRequest, slug: str) -> HttpResponse:
    demo = get_object_or_404(Demo, slug=slug, enabled=True)
    # The websocket finds the visitor's jobs by the browser session, so make sure there is one.
    if not request.session.session_key:
        request.session.save()
    function = get_function(demo.function)
    page = {
        "demo": demo.slug,
        "inputs": [c.describe() for c in function.inputs],
        "outputs": [c.describe() for c in function.outputs],
        "examples": demo.examples,
        "socket": "/ws/queue/",
    }
    return render(
        request,
        "lineup/demo_page.html",
        {"demo": demo, "function": function, "page": page},
    )


@require_GET
def media_file(request: HttpRequest, path: str) -> FileResponse:
    """Serve a produced result. Names are long random tokens, so links cannot be guessed."""
    if not path.startswith("results/") or ".." in path or not default_storage.exists(path):
        raise Http404("No such file")
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = FileResponse(default_storage.open(path, "rb"), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
