"""A signed-in visitor in a real browser: their tier and GPU time on the account and demo
pages, going down as their jobs run; and a visitor whose time is used up is told so, and
when it renews, before anything joins the line."""

import re
import uuid

import pytest
import redis
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from queueapp.store import key

from .test_visitor_flows import open_demo, record, result_text, seen, submit_steps

pytestmark = [pytest.mark.browser, pytest.mark.stack]

PASSWORD = "a long enough password"


def user_in_tier(stack, daily_seconds: float) -> str:
    """A new user, alone in a new tier with this daily quota."""
    name = f"u-{uuid.uuid4().hex[:6]}"
    stack.add_user(name, PASSWORD)
    stack.add_tier(name, daily_gpu_seconds=daily_seconds)
    return name


def sign_in(page, stack, username: str) -> None:
    page.goto(f"{stack.base_url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name=f"Signed in as {username}").wait_for()


def seconds_left(page) -> float:
    text = page.locator("#quota").inner_text()
    return float(re.search(r"([\d.]+) s left", text).group(1))


def test_a_signed_in_visitor_sees_their_tier_and_gpu_time_go_down_as_a_job_runs(stack, page):
    name = user_in_tier(stack, 600)
    sign_in(page, stack, name)
    assert "Your tier: Tier tier-" in page.locator("#quota").inner_text()
    assert seconds_left(page) == 600

    demo = open_demo(page.context, stack, "slow-steps")
    assert seconds_left(demo) == 600
    submit_steps(demo, 2)  # about a second of work
    assert result_text(demo) == "finished 2 steps"
    demo.reload()
    after = seconds_left(demo)
    assert 590 < after < 600
    page.reload()
    assert seconds_left(page) == after


def test_a_visitor_whose_time_is_used_up_is_told_when_it_renews_before_anything_waits(stack, page):
    name = user_in_tier(stack, 0)
    sign_in(page, stack, name)
    demo = open_demo(page.context, stack, "slow-steps")
    assert seconds_left(demo) == 0
    store = redis.Redis.from_url(stack.redis_url)
    admitted_before = store.hget(key("slow-steps", "stats"), "admitted")
    record(demo, "status", "#status")
    submit_steps(demo, 1)
    try:
        demo.locator("#status[data-kind=error]").wait_for()
    except PlaywrightTimeoutError:
        pytest.fail(f"no refusal shown; the page's status went: {seen(demo, 'status')}")
    told = demo.locator("#status").inner_text()
    assert "GPU time for today is used up" in told
    assert re.search(r"renews at midnight UTC, in \d+ h \d+ min", told), told
    assert not any("in line" in text for text in seen(demo, "status"))
    assert store.hget(key("slow-steps", "stats"), "admitted") == admitted_before
    assert demo.get_by_role("button", name="Submit").is_enabled()
