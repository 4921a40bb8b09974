"""The admin dashboard in a real browser: live numbers while load runs, and pausing,
resuming and clearing a line, with the waiting visitors told, for those allowed only."""

import json
import os
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from queueapp.store import key

pytestmark = [pytest.mark.browser, pytest.mark.stack]


def log_in(page, stack, user: str, password: str) -> None:
    page.goto(f"{stack.base_url}/admin/login/")
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/admin/")


class SocketVisitor:
    """A visitor on the websocket, in a thread: joins, and keeps every frame it hears."""

    def __init__(self, stack, demo: str, data: list):
        self.frames: list[dict] = []
        self.connection = connect(stack.ws_url, origin=stack.base_url)
        self.socket = self.connection.__enter__()
        self.socket.recv(timeout=10)  # hello
        self.socket.send(json.dumps({"msg": "join", "demo": demo, "data": data, "ref": "r"}))
        threading.Thread(target=self._listen, daemon=True).start()
        self.job = self.wait_for(lambda f: f.get("ref") == "r")["job"]

    def _listen(self) -> None:
        try:
            for message in self.socket:
                self.frames.append(json.loads(message))
        except ConnectionClosed:
            pass  # the test is over

    def close(self) -> None:
        self.connection.__exit__(None, None, None)

    def wait_for(self, match, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for frame in list(self.frames):
                if match(frame):
                    return frame
            time.sleep(0.05)
        raise AssertionError(f"no such frame among {self.frames}")


class Blocker:
    """A job that holds the demo's only slot for `steps` half-seconds."""

    def __init__(self, stack, demo: str, steps: int):
        self.caller = requests.Session()
        job = self.caller.post(
            f"{stack.base_url}/api/v1/demos/{demo}/jobs/", json={"data": [steps]}
        )
        self.url = stack.base_url + job.json()["links"]["self"]
        self.wait_for("running")

    def wait_for(self, status: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.caller.get(self.url).json()["status"] != status:
            assert time.monotonic() < deadline, f"the blocker is not {status}"
            time.sleep(0.05)


def demo_section(page, slug: str):
    return page.locator(f"section[data-demo='{slug}']")


def test_pause_resume_and_clear_tell_the_waiting_visitors(stack, page):
    slug = stack.add_demo(
        f"t-ops-{uuid.uuid4().hex[:8]}",
        title="Operated line",
        function="slow_steps",
        concurrency_count=1,
        max_jobs_per_visitor=None,
    )
    log_in(page, stack, stack.admin_user, stack.admin_password)
    page.goto(f"{stack.base_url}/admin/models_registry/demo/dashboard/?refresh=0")
    blocker = Blocker(stack, slug, 6)
    visitor = SocketVisitor(stack, slug, [1])

    demo_section(page, slug).get_by_role("button", name="Pause").click()
    notice = visitor.wait_for(lambda f: f["msg"] == "notice")
    assert notice["paused"] is True and "paused" in notice["message"]
    assert "paused" in demo_section(page, slug).locator("h2").inner_text()
    blocker.wait_for("completed")
    time.sleep(1)  # a worker would have started the next job by now; the paused line does not
    waiting = redis.Redis.from_url(stack.redis_url)
    assert waiting.zscore(key(slug, "waiting"), visitor.job) is not None

    demo_section(page, slug).get_by_role("button", name="Resume").click()
    resumed = visitor.wait_for(lambda f: f["msg"] == "notice" and f["paused"] is False)
    assert "running again" in resumed["message"]
    done = visitor.wait_for(lambda f: f["msg"] == "process_completed")
    assert done["success"] is True

    Blocker(stack, slug, 6)
    cleared = SocketVisitor(stack, slug, [1])
    page.once("dialog", lambda dialog: dialog.accept())
    demo_section(page, slug).get_by_role("button", name="Clear the line").click()
    ending = cleared.wait_for(lambda f: f["msg"] == "process_completed")
    assert ending["success"] is False and ending["error"]["code"] == "line_cleared"
    assert waiting.zcard(key(slug, "waiting")) == 0
    assert "cleared 1 waiting job(s)" in page.locator(".messagelist").inner_text()
    visitor.close()
    cleared.close()


def test_only_those_allowed_may_pause_or_clear(stack, browser):
    stack.manage(
        "shell",
        "-c",
        "from django.contrib.auth.models import Permission, User\n"
        "user, _ = User.objects.get_or_create(username='watcher', defaults={'is_staff': True})\n"
        "user.set_password('watch-only-pw'); user.save()\n"
        "user.user_permissions.set([Permission.objects.get(codename='view_demo')])",
    )
    context = browser.new_context()
    page = context.new_page()
    log_in(page, stack, "watcher", "watch-only-pw")
    page.goto(f"{stack.base_url}/admin/models_registry/demo/dashboard/")
    section = demo_section(page, "slow-steps")
    assert section.count() == 1
    assert section.get_by_role("button").count() == 0  # neither pause nor clear offered

    csrf = next(c["value"] for c in context.cookies() if c["name"] == "csrftoken")
    pk = page.locator("section[data-demo='slow-steps'] h2 a").get_attribute("href").split("/")[-3]
    for action in ("pause", "clear"):
        response = page.request.post(
            f"{stack.base_url}/admin/models_registry/demo/{pk}/line/{action}/",
            headers={"X-CSRFToken": csrf, "Referer": page.url},
        )
        assert response.status == 403
    context.close()


def test_the_dashboard_while_load_runs(stack, page, tmp_path):
    stop = threading.Event()  # the load runs until the dashboard has been seen under it
    load_errors: list[str] = []

    def load(demo: str, data: list) -> None:
        caller = requests.Session()
        while not stop.is_set():
            response = caller.post(
                f"{stack.base_url}/api/v1/demos/{demo}/predict/?wait=5", json={"data": data}
            )
            if response.status_code not in (200, 202, 429):
                load_errors.append(response.text)

    loaders = [
        threading.Thread(target=load, args=("trim-words", [f"word{n}", 3]), daemon=True)
        for n in range(4)
    ] + [threading.Thread(target=load, args=("slow-steps", [2]), daemon=True) for _ in range(4)]
    for loader in loaders:
        loader.start()
    try:
        log_in(page, stack, stack.admin_user, stack.admin_password)

        def seen_under_load() -> bool:
            page.goto(f"{stack.base_url}/admin/models_registry/demo/dashboard/")
            slow = demo_section(page, "slow-steps")
            in_line = int(slow.locator(".waiting").inner_text()) + int(
                slow.locator(".running").inner_text()
            )
            return in_line >= 1 and int(slow.locator(".ended").inner_text().split("/")[0]) >= 2

        deadline = time.monotonic() + 60
        while not seen_under_load():
            assert time.monotonic() < deadline, "the dashboard never showed the load"
            time.sleep(0.5)
        slow = demo_section(page, "slow-steps")
        assert slow.locator("svg rect[height]").count() == 3 * 60
        workers = page.locator("#lineup-workers tbody tr")
        assert "default" in workers.first.inner_text()
        folder = Path(os.environ.get("LINEUP_SCREENSHOT_DIR") or tmp_path)
        page.set_viewport_size({"width": 1280, "height": 1000})
        page.locator("#toggle-nav-sidebar").click()  # the admin's side menu, folded away
        page.screenshot(path=str(folder / "dashboard.png"))
    finally:
        # Stopped whatever the verdict: a load left running would hold up every later test.
        stop.set()
        for loader in loaders:
            loader.join(timeout=30)
    assert load_errors == []
