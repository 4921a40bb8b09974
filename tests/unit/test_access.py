import time

import pytest
from django.contrib.auth.models import User

from queueapp import access
from queueapp.errors import QueueError
from queueapp.models import ApiKey
from queueapp.services.accounts import api_key_issue, api_key_revoke


def test_a_page_token_is_tied_to_its_session_and_does_not_reveal_it(settings):
    token = access.socket_token("k" * 32)
    assert "k" * 8 not in token
    assert access.read_socket_token(token, "k" * 32) == access.PageToken(user_id=None)
    assert access.read_socket_token(token, "j" * 32) is None
    assert access.read_socket_token(token + "0", "k" * 32) is None
    assert access.read_socket_token(token, None) is None
    for junk in ("", ":", "::", "²:abc", "9" * 40 + ":abc", "1:x:abc", "nonsense"):
        assert access.read_socket_token(junk, "k" * 32) is None


def test_a_page_token_names_its_signed_in_user_and_cannot_be_made_to_name_another(settings):
    token = access.socket_token("k" * 32, user_id=7)
    assert access.read_socket_token(token, "k" * 32) == access.PageToken(user_id=7)
    issued, _, signature = token.split(":")
    for forged in (f"{issued}:8:{signature}", f"{issued}::{signature}"):
        assert access.read_socket_token(forged, "k" * 32) is None


def test_a_page_token_expires(settings, monkeypatch):
    token = access.socket_token("k" * 32)
    later = time.time() + settings.LINEUP_SOCKET_TOKEN_SECONDS + 1
    monkeypatch.setattr(access.time, "time", lambda: later)
    assert access.read_socket_token(token, "k" * 32) is None


def test_a_bearer_key_is_read_from_its_header():
    assert access.bearer_key("Bearer lk_abc") == "lk_abc"
    assert access.bearer_key("bearer  lk_abc ") == "lk_abc"
    for other in (None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "lk_abc"):
        assert access.bearer_key(other) is None


@pytest.mark.django_db
def test_an_api_key_is_kept_only_as_its_digest_and_names_its_user_until_revoked():
    user = User.objects.create_user("ada", password="x" * 12)
    key, raw = api_key_issue(user=user, name="laptop")
    assert raw.startswith(ApiKey.PREFIX) and len(raw) > 40
    stored = ApiKey.objects.get(pk=key.pk)
    assert raw not in (stored.digest, stored.start, stored.name)
    assert stored.start == raw[:12]
    assert access.key_user(raw) == user.pk
    for wrong in (raw + "x", raw[:-1], "lk_", "hf_" + raw[3:]):
        with pytest.raises(QueueError) as refused:
            access.key_user(wrong)
        assert refused.value.code == "invalid_key"
    other = User.objects.create_user("bob", password="x" * 12)
    assert not api_key_revoke(user=other, key_id=key.pk)  # only its owner revokes it
    assert access.key_user(raw) == user.pk
    assert api_key_revoke(user=user, key_id=key.pk)
    with pytest.raises(QueueError):
        access.key_user(raw)


@pytest.mark.django_db
def test_the_key_of_a_deactivated_user_is_refused():
    user = User.objects.create_user("ada", password="x" * 12)
    _, raw = api_key_issue(user=user, name="laptop")
    user.is_active = False
    user.save()
    with pytest.raises(QueueError):
        access.key_user(raw)
