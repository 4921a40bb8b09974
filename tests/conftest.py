import base64
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from demo_site import embedded_redis, processes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_IMAGE = ROOT / "static" / "lineup" / "examples" / "gradient.png"
TEST_FUNCTIONS = "tests.support.functions"


def pytest_sessionfinish(session, exitstatus):
    # The test run's private Redis, started by the settings when REDIS_URL is unset.
    embedded_redis.stop_if_started_here()


@pytest.fixture
def slug() -> str:
    """A demo slug no other test uses, so tests share one Redis without interfering."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def image_data_url() -> str:
    return "data:image/png;base64," + base64.b64encode(EXAMPLE_IMAGE.read_bytes()).decode()


def operator_code(action: str, slug: str) -> str:
    """Python for `manage.py shell`: an operator's action on a demo ("pause", "resume")."""
    return (
        "from models_registry.models import Demo\n"
        f"from queueapp.services.demos import demo_{action}\n"
        f"demo_{action}(demo=Demo.objects.get(slug={slug!r}))"
    )


def resume_code(slug: str) -> str:
    return operator_code("resume", slug)


@dataclass
class Stack:
    """A running `manage.py runstack`: its own Redis, daphne and a Celery worker."""

    process: subprocess.Popen
    base_url: str
    ws_url: str
    redis_url: str
    admin_user: str
    admin_password: str
    log: Path

    def manage(self, *args: str) -> str:
        env = {
            **os.environ,
            "REDIS_URL": self.redis_url,
            "LINEUP_VAR_DIR": str(self.log.parent),
            "LINEUP_FUNCTION_MODULES": TEST_FUNCTIONS,
        }
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def pause_demo(self, slug: str) -> None:
        self.manage("shell", "-c", operator_code("pause", slug))

    def resume_demo(self, slug: str) -> None:
        self.manage("shell", "-c", operator_code("resume", slug))

    def add_demo(self, slug: str, **fields) -> str:
        """Create a demo as an admin would; its settings reach the queue on save."""
        fields = {"title": slug, **fields}
        self.manage(
            "shell",
            "-c",
            "from models_registry.models import Demo\n"
            f"demo = Demo(slug={slug!r}, **{fields!r})\n"
            "demo.full_clean()\n"
            "demo.save()",
        )
        return slug

    def add_user(self, username: str, password: str) -> None:
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import User\n"
            f"User.objects.create_user({username!r}, password={password!r})",
        )

    def api_key(self, username: str) -> str:
        """A new API key for the user, as their account page makes it."""
        return self.manage(
            "shell",
            "--no-imports",
            "-c",
            "from django.contrib.auth.models import User\n"
            "from queueapp.services.accounts import api_key_issue\n"
            f"print(api_key_issue(user=User.objects.get(username={username!r}), name='t')[1])",
        ).strip()

    def add_tier(self, username: str, **fields) -> str:
        """A new tier (queueapp.models.Tier) with `fields`, given to the user alone; its name."""
        slug = f"tier-{uuid.uuid4().hex[:6]}"
        self.manage(
            "shell",
            "--no-imports",
            "-c",
            "from django.contrib.auth.models import User\n"
            "from queueapp.models import Tier\n"
            f"tier = Tier.objects.create(name='Tier {slug}', slug={slug!r}, **{fields!r})\n"
            f"tier.users.add(User.objects.get(username={username!r}))",
        )
        return f"Tier {slug}"

    def revoke_keys(self, username: str) -> None:
        self.manage(
            "shell",
            "-c",
            "from queueapp.models import ApiKey\n"
            f"ApiKey.objects.filter(user__username={username!r}).delete()",
        )


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    """The whole stack as `make run` starts it, on free ports, in a private folder."""
    var_dir = tmp_path_factory.mktemp("stack")
    port = embedded_redis.free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env |= {
        "LINEUP_VAR_DIR": str(var_dir),
        "LINEUP_PORT": str(port),
        "LINEUP_ADMIN_PASSWORD": "",
        "LINEUP_RECONNECT_GRACE_SECONDS": "2",
        "LINEUP_WEB_PROCESSES": "2",
        # The test functions too (tests/support/functions.py), for demos tests add.
        "LINEUP_FUNCTION_MODULES": TEST_FUNCTIONS,
    }
    log = var_dir / "runstack.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    text = ""
    while "Press Ctrl-C" not in text:
        if process.poll() is not None or time.monotonic() > deadline:
            processes.stop(process)
            pytest.fail(f"runstack did not start:\n{log.read_text()}")
        time.sleep(0.2)
        text = log.read_text()
    login = re.search(r"user: (\S+)\s+password: (\S+)", text)
    redis_url = re.search(r"Redis:\s+(\S+)", text).group(1)
    yield Stack(
        process=process,
        base_url=f"http://127.0.0.1:{port}",
        ws_url=f"ws://127.0.0.1:{port}/ws/queue/",
        redis_url=redis_url,
        admin_user=login.group(1),
        admin_password=login.group(2),
        log=log,
    )
    processes.stop(process, timeout=30)
