"""A user's API keys: made (the key shown once) and revoked."""

import secrets

from django.contrib.auth.models import AbstractBaseUser

from ..models import ApiKey


def api_key_issue(*, user: AbstractBaseUser, name: str) -> tuple[ApiKey, str]:
    """A new key for `user`: its record, and the key itself, which is kept nowhere."""
    raw = ApiKey.PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(user=user, name=name, start=raw[:12], digest=ApiKey.digest_of(raw))
    return key, raw


def api_key_revoke(*, user: AbstractBaseUser, key_id: int) -> bool:
    """Revoke one of `user`'s keys; it is refused from the next request on."""
    deleted, _ = ApiKey.objects.filter(user=user, pk=key_id).delete()
    return bool(deleted)
