"""`manage.py check --deploy` is clean with the production environment that
docs/operations.md documents, and is not without it."""

import os
import secrets
import subprocess
import sys

import redis

from demo_site import embedded_redis, processes
from tests.conftest import ROOT

PRODUCTION = {
    "LINEUP_PRODUCTION": "1",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "demos.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://demos.example.org",
    "REDIS_URL": "redis://127.0.0.1:1/0",  # unreachable: its settings are not judged
}


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "DEBUG"}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
    )


def test_check_deploy_is_clean_in_production():
    result = deploy_check(PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_flags_a_laptop_setup():
    result = deploy_check({"REDIS_URL": PRODUCTION["REDIS_URL"]})
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS" in result.stderr + result.stdout


def test_session_cookies_stay_same_site(settings):
    # The HTTP API takes cookie-authenticated POSTs without a CSRF token: only because
    # another site's page cannot make the browser send the session cookie along.
    assert settings.SESSION_COOKIE_SAMESITE in ("Lax", "Strict")


def test_the_migrations_match_the_models():
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env={**os.environ, "REDIS_URL": PRODUCTION["REDIS_URL"]},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_refuses_a_redis_that_would_lose_the_line(tmp_path):
    port = embedded_redis.free_port()
    server = embedded_redis.start(port, tmp_path)  # the embedded default: it keeps the line
    try:
        url = f"redis://127.0.0.1:{port}/0"
        assert deploy_check({**PRODUCTION, "REDIS_URL": url}).returncode == 0
        client = redis.Redis(port=port)
        client.config_set("appendonly", "no")
        client.config_set("maxmemory-policy", "allkeys-lru")
        result = deploy_check({**PRODUCTION, "REDIS_URL": url})
        assert result.returncode != 0
        assert "lineup.E001" in result.stderr and "appendonly yes" in result.stderr
        assert "maxmemory-policy noeviction" in result.stderr
    finally:
        processes.stop(server)
