"""Who may do what: page tokens for the websocket, job owners, and expiring result links.

- A demo page hands its websocket a token: the browser session's key, signed and
  timestamped. A socket that shows a valid token for its own session came through a page;
  any other socket is a script, which only demos with `api_open` take.
- A job belongs to the browser session that submitted it (page, websocket or HTTP API).
Result files are served by expiring links (models_registry/files.py).
"""

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare

SOCKET_TOKEN_SALT = "lineup.socket-token"


def session_owner(session_key: str) -> str:
    return f"session:{session_key}"


def socket_token(session_key: str) -> str:
    return signing.TimestampSigner(salt=SOCKET_TOKEN_SALT).sign(session_key)


def token_matches_session(token: str, session_key: str | None) -> bool:
    """Whether `token` was issued to this session within the tokens' lifetime."""
    if not token or not session_key:
        return False
    try:
        signed = signing.TimestampSigner(salt=SOCKET_TOKEN_SALT).unsign(
            token, max_age=settings.LINEUP_SOCKET_TOKEN_SECONDS
        )
    except signing.BadSignature:  # includes expired tokens
        return False
    return constant_time_compare(signed, session_key)


def client_address(scope_or_meta: dict) -> str | None:
    """The visitor's network address: daphne puts it (from X-Forwarded-For behind a proxy,
    with --proxy-headers) in the ASGI scope, and Django in REMOTE_ADDR."""
    if "client" in scope_or_meta:
        client = scope_or_meta["client"]
        return client[0] if client else None
    return scope_or_meta.get("REMOTE_ADDR") or None
