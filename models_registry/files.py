"""Result files: kept in Django's storage, served by links that carry their expiry and a
signature, so a link works for its visitor for LINEUP_RESULT_TTL_SECONDS and then stops."""

import mimetypes
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.http import FileResponse
from django.utils.crypto import constant_time_compare, salted_hmac

RESULT_LINK_SALT = "lineup.result-link"
# Files uploaded for a job (a demo's upload route), named by signed paths until a job does.
UPLOADS = "uploads/"
# What signed paths may name: results, and uploads.
SERVED_FOLDERS = ("results/", UPLOADS)
# Kinds of file a browser may show in place; anything else (HTML, SVG, scripts) is only ever
# downloaded, and never runs on the site's origin.
SHOWN_IN_PLACE = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
SHOWN_IN_PLACE_PREFIXES = ("audio/", "video/")


def _link_signature(name: str, expires: int) -> str:
    return salted_hmac(RESULT_LINK_SALT, f"{name}:{expires}").hexdigest()[:32]


def result_link(name: str) -> str:
    """A link to a stored result file that works for LINEUP_RESULT_TTL_SECONDS."""
    expires = int(time.time()) + settings.LINEUP_RESULT_TTL_SECONDS
    return f"{settings.MEDIA_URL}{name}?expires={expires}&sig={_link_signature(name, expires)}"


def result_link_valid(name: str, expires: int, signature: str) -> bool:
    if expires < time.time():
        return False
    return constant_time_compare(signature, _link_signature(name, expires))


def signed_path(name: str) -> str:
    """`<expiry>/<signature>/<name>`: a stored file for clients that name files by a path
    alone (Gradio's `file=` route); it works for LINEUP_RESULT_TTL_SECONDS, like a link."""
    expires = int(time.time()) + settings.LINEUP_RESULT_TTL_SECONDS
    return f"{expires}/{_link_signature(name, expires)}/{name}"


def signed_name(path: str) -> str | None:
    """The stored file a `signed_path` names, while it is valid; None for anything else, so
    no path outside the store (`../../etc/passwd`) can ever be read."""
    expires, _, rest = path.partition("/")
    signature, _, name = rest.partition("/")
    if not (expires.isdigit() and len(expires) <= 12):
        return None
    if not name.startswith(SERVED_FOLDERS) or ".." in name or "\\" in name:
        return None
    return name if result_link_valid(name, int(expires), signature) else None


def file_response(name: str) -> FileResponse:
    """A stored file for the browser: media shown in place, anything else as a download in a
    sandbox, so an uploaded or produced page cannot run scripts as the site."""
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    shown = content_type in SHOWN_IN_PLACE or content_type.startswith(SHOWN_IN_PLACE_PREFIXES)
    response = FileResponse(
        default_storage.open(name, "rb"),
        content_type=content_type if shown else "application/octet-stream",
        as_attachment=not shown,
        filename=name.rsplit("/", 1)[-1],
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


def delete_expired_files(*, inputs_after: float) -> int:
    """Delete result files older than their links' lifetime, and uploaded and input files
    older than `inputs_after` seconds (a job that names them is long gone); return how many
    went."""
    now = datetime.now(UTC)
    kept = (
        ("results", settings.LINEUP_RESULT_TTL_SECONDS),
        (UPLOADS.rstrip("/"), max(inputs_after, settings.LINEUP_RESULT_TTL_SECONDS)),
        ("inputs", inputs_after),
    )
    return sum(_delete_older(folder, now - timedelta(seconds=age)) for folder, age in kept)


def _delete_older(folder: str, cutoff: datetime) -> int:
    """Delete the files under `folder` last changed before `cutoff`, and the folders below it
    (a result's own) that this leaves empty."""
    try:
        folders, names = default_storage.listdir(folder)
    except FileNotFoundError:
        return 0
    deleted = 0
    for sub in folders:
        deleted += _delete_older(f"{folder}/{sub}", cutoff)
        if default_storage.listdir(f"{folder}/{sub}") == ([], []):
            default_storage.delete(f"{folder}/{sub}")
    for name in names:
        path = f"{folder}/{name}"
        if default_storage.get_modified_time(path) < cutoff:
            default_storage.delete(path)
            deleted += 1
    return deleted
