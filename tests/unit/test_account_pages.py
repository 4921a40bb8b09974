"""The account pages and the API key admin: a key is shown once, kept as its digest, and
revoked by its owner only."""

import re

import pytest
from django.contrib.auth.models import User

from queueapp import access
from queueapp.models import ApiKey

pytestmark = pytest.mark.django_db

KEY = re.compile(rf"{ApiKey.PREFIX}[A-Za-z0-9_-]{{40,}}")


@pytest.fixture
def ada(client) -> User:
    user = User.objects.create_user("ada", password="a long enough password")
    client.force_login(user)
    return user


def test_the_account_page_asks_a_visitor_to_sign_in_first(client):
    answer = client.get("/accounts/")
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")
    assert "Sign in" in client.get(answer["Location"]).content.decode()


def test_a_wrong_password_is_told_and_a_right_one_signs_in(client):
    User.objects.create_user("ada", password="a long enough password")
    wrong = client.post("/accounts/login/", {"username": "ada", "password": "nope"})
    assert "do not match" in wrong.content.decode()
    right = client.post(
        "/accounts/login/", {"username": "ada", "password": "a long enough password"}
    )
    assert right.status_code == 302 and right["Location"] == "/accounts/"
    assert "Signed in as ada" in client.get("/accounts/").content.decode()


def test_a_new_key_is_shown_once_and_works_until_its_owner_revokes_it(client, ada):
    made = client.post("/accounts/", {"action": "create", "name": "laptop"}).content.decode()
    shown = KEY.findall(made)
    assert len(shown) == 1
    assert access.key_user(shown[0]) == ada.pk
    again = client.get("/accounts/").content.decode()
    assert not KEY.search(again) and "laptop" in again

    key = ApiKey.objects.get(user=ada)
    bob = User.objects.create_user("bob", password="a long enough password")
    client.force_login(bob)
    client.post("/accounts/", {"action": "revoke", "key": str(key.pk)})
    assert ApiKey.objects.filter(pk=key.pk).exists()  # not Bob's to revoke

    client.force_login(ada)
    revoked = client.post("/accounts/", {"action": "revoke", "key": str(key.pk)}, follow=True)
    assert "revoked" in revoked.content.decode()
    assert not ApiKey.objects.filter(pk=key.pk).exists()


def test_an_admin_makes_a_key_for_a_user_and_sees_it_only_then(admin_client):
    ada = User.objects.create_user("ada", password="a long enough password")
    made = admin_client.post(
        "/admin/queueapp/apikey/add/", {"user": ada.pk, "name": "batch jobs"}, follow=True
    )
    shown = KEY.findall(made.content.decode())
    assert len(shown) == 1
    assert access.key_user(shown[0]) == ada.pk
    listing = admin_client.get("/admin/queueapp/apikey/").content.decode()
    assert "batch jobs" in listing and not KEY.search(listing)
