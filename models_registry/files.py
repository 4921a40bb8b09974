"""Result files: kept in Django's storage, served by links that carry their expiry and a
signature, so a link works for its visitor for LINEUP_RESULT_TTL_SECONDS and then stops."""

import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.utils.crypto import constant_time_compare, salted_hmac

RESULT_LINK_SALT = "lineup.result-link"
# What signed paths may name: results, and files uploaded for a job (Gradio's `upload`).
SERVED_FOLDERS = ("results/", "uploads/")


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


def delete_expired_files(*, inputs_after: float) -> int:
    """Delete result and uploaded files older than their links' lifetime, and input files
    older than `inputs_after` seconds (their jobs are long gone); return how many went."""
    now = datetime.now(UTC)
    deleted = 0
    kept = (
        ("results", settings.LINEUP_RESULT_TTL_SECONDS),
        ("uploads", settings.LINEUP_RESULT_TTL_SECONDS),
        ("inputs", inputs_after),
    )
    for folder, age in kept:
        try:
            _, names = default_storage.listdir(folder)
        except FileNotFoundError:
            continue
        for name in names:
            path = f"{folder}/{name}"
            if default_storage.get_modified_time(path) < now - timedelta(seconds=age):
                default_storage.delete(path)
                deleted += 1
    return deleted
