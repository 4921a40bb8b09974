"""A user's API keys: made (the key shown once) and revoked."""

import secrets

from django.contrib.auth.models import AbstractBaseUser

from ..models import ApiKey


def api_key_issue(*, user: AbstractBaseUser, name: str) -> tuple[ApiKey, str]:
    """A new key for `user`: its record, and the key itself, which is kept nowhere."""
    key = ApiKey(user=user, name=name)
    raw = api_key_fill(key)
    key.save()
    return key, raw


def api_key_fill(key: ApiKey) -> str:
    """Give an unsaved key its secret: set what is kept of it, and return the key itself."""
    raw = ApiKey.PREFIX + secrets.token_urlsafe(32)
    key.start, key.digest = raw[:12], ApiKey.digest_of(raw)
    return raw


def api_key_revoke(*, user: AbstractBaseUser, key_id: int) -> bool:
    """Revoke one of `user`'s keys; it is refused from the next request on."""
    deleted, _ = ApiKey.objects.filter(user=user, pk=key_id).delete()
    return bool(deleted)
