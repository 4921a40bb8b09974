"""Who may do what: page tokens for the websocket, job owners, and expiring result links.

- A demo page hands its websocket a token: when it was issued, who was signed in, and a
  signature of both with the browser session's key (never the key itself, which must stay
  in its HttpOnly cookie). A socket that shows a fresh token signed for its own session came through a
  page; any other socket is a script, which only demos with `api_open` take.
- A job belongs to its user: the signed-in visitor a page's token names, or the owner of
  the API key a script sends (`Authorization: Bearer <key>`). Without either, it belongs to
  the browser session that submitted it (page, websocket or HTTP API).
- The HTTP API counts each address's requests a minute.
Result files are served by expiring links (models_registry/files.py).
"""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest
from django.http.cookie import parse_cookie
from django.utils.crypto import constant_time_compare, salted_hmac

from . import selectors
from .errors import QueueError, unavailable
from .models import ApiKey
from .store import get_store
from .threads import run_sync

log = logging.getLogger(__name__)

SOCKET_TOKEN_SALT = "lineup.socket-token"


def session_key(scope: dict) -> str | None:
    """The browser session's key, read from a websocket's cookie (None without one).

    The queue needs the key alone: it names the owner of the socket's jobs and checks the
    page token. So, unlike Channels' session and auth middleware, the socket loads neither
    the session nor the user, which would cost every arriving visitor a hop through the one
    database thread. As with a loaded session, a key is taken as the browser gives it:
    owning a job takes the session's cookie, and only a page of that session has a matching
    token."""
    cookie = header(scope, b"cookie")
    key = parse_cookie(cookie).get(settings.SESSION_COOKIE_NAME, "") if cookie else ""
    # The shape of Django's keys: anything else is no session at all.
    return key if 8 <= len(key) <= 64 and key.isascii() and key.isalnum() else None


def header(scope: dict, name: bytes) -> str | None:
    """A request header from an ASGI scope (`name` in lower case), or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def session_owner(session_key: str) -> str:
    return f"session:{session_key}"


def user_owner(user_id: int) -> str:
    return f"user:{user_id}"


def owner_user(owner: str) -> int | None:
    """The user an owner name names (`user_owner`), or None for a session or connection."""
    kind, _, user_id = owner.partition(":")
    return small_number(user_id) if kind == "user" else None


def bearer_key(authorization: str | None) -> str | None:
    """The Lineup API key of an `Authorization: Bearer <key>` header; None without one. A
    bearer token of another kind (a Hugging Face token that Gradio's client sends, a proxy's)
    is no key of ours, and is left alone."""
    scheme, _, key = (authorization or "").partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key.startswith(ApiKey.PREFIX) else None


def key_user(key: str) -> int:
    """The user whose API key this is; refused if it is unknown or revoked."""
    try:
        user_id = selectors.api_key_user(raw=key)
    except DatabaseError:
        log.warning("the database is unreachable: an API key could not be checked")
        raise unavailable() from None
    if user_id is None:
        raise QueueError("invalid_key", "This API key is unknown or has been revoked.")
    return user_id


async def request_user(request: HttpRequest, *key_headers: str) -> int | None:
    """The user an HTTP request comes from: the owner of the API key in the first of
    `key_headers` that holds one (refused if the key is unknown or revoked), else the user
    signed in on its session; None for anyone else."""
    for name in key_headers:
        key = bearer_key(request.headers.get(name))
        if key:
            return await run_sync(key_user)(key)
    if request.session.session_key:
        user = await request.auser()
        if user.is_authenticated:
            return user.pk
    return None


@dataclass(frozen=True)
class PageToken:
    """What a valid page token says: the page's session, and who was signed in on it."""

    user_id: int | None


def _token_signature(session_key: str, issued: int, user: str) -> str:
    return salted_hmac(SOCKET_TOKEN_SALT, f"{session_key}:{issued}:{user}").hexdigest()


def socket_token(session_key: str, user_id: int | None = None) -> str:
    """A page's token: when it was issued, the signed-in user's id (empty for none), and a
    signature of both with the session's key. Signing in or out changes the session's key,
    so a token never outlives the sign-in it names."""
    issued, user = int(time.time()), str(user_id or "")
    return f"{issued}:{user}:{_token_signature(session_key, issued, user)}"


def read_socket_token(token: str, session_key: str | None) -> PageToken | None:
    """What `token` says, if it was issued to this session within the tokens' lifetime."""
    issued, user, signature = (token.split(":") + ["", ""])[:3]
    if not session_key or small_number(issued) is None or (user and small_number(user) is None):
        return None
    if time.time() - int(issued) > settings.LINEUP_SOCKET_TOKEN_SECONDS:
        return None
    if not constant_time_compare(signature, _token_signature(session_key, int(issued), user)):
        return None
    return PageToken(user_id=int(user) if user else None)


def small_number(text: str) -> int | None:
    """`text` as a whole number of at most 12 ASCII digits (a Unix time, an index), or None."""
    if text.isascii() and text.isdecimal() and len(text) <= 12:
        return int(text)
    return None


def client_address(scope_or_meta: dict) -> str | None:
    """The visitor's network address: daphne puts it (from X-Forwarded-For behind a proxy,
    with --proxy-headers) in the ASGI scope, and Django in REMOTE_ADDR."""
    if "client" in scope_or_meta:
        client = scope_or_meta["client"]
        return client[0] if client else None
    return scope_or_meta.get("REMOTE_ADDR") or None


def api_request_allowed(*, address: str | None) -> None:
    """Count an HTTP API request from `address`; refuse it over the per-address rate."""
    limit = settings.LINEUP_API_REQUESTS_PER_MINUTE_PER_ADDRESS
    if not limit or not address:
        return
    count, left = get_store().count_request(f"api:{address}")
    if count > limit:
        raise QueueError(
            "rate_limited",
            f"Too many requests; please wait {left} s before trying again.",
            retry_after=left,
        )
