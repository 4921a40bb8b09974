"""What a visitor lives through in a real browser: waiting, two tabs, a refresh, cancelling,
a full line, progress, streamed output, every component, and a phone-sized screen."""

import os
import uuid
from pathlib import Path

import pytest
import redis

from queueapp.store import job_key, key

pytestmark = [pytest.mark.browser, pytest.mark.stack]

# Every text the element shows, kept in window.seen[name], so brief states are not missed.
RECORD = """([name, selector, attribute]) => {
  window.seen = window.seen || {};
  const log = window.seen[name] = [];
  const element = document.querySelector(selector);
  const read = () => attribute ? element.getAttribute(attribute) : element.textContent;
  new MutationObserver(() => { if (log.at(-1) !== read()) log.push(read()); })
    .observe(element, {childList: true, characterData: true, subtree: true, attributes: true});
}"""

WAITING = "text=/next in line|Position \\d+ in line/"


def record(page, name: str, selector: str, attribute: str | None = None) -> None:
    page.evaluate(RECORD, [name, selector, attribute])


def seen(page, name: str) -> list[str]:
    return page.evaluate(f"window.seen[{name!r}]")


def screenshot(page, name: str, tmp_path: Path) -> None:
    """Keep a screenshot: in LINEUP_SCREENSHOT_DIR when set (docs/screenshots), else aside."""
    folder = Path(os.environ.get("LINEUP_SCREENSHOT_DIR") or tmp_path)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


@pytest.fixture(scope="module")
def line(stack) -> str:
    """A slow demo that runs one job at a time, so the second visitor waits."""
    return stack.add_demo(
        f"t-line-{uuid.uuid4().hex[:8]}",
        title="Slow line",
        description="Takes half a second per step, one visitor at a time.",
        function="slow_steps",
        concurrency_count=1,
        expected_seconds=1.0,
    )


def open_demo(context, stack, slug: str):
    page = context.new_page()
    page.goto(f"{stack.base_url}/demos/{slug}/")
    page.wait_for_function("() => document.querySelector('#status').textContent === 'Ready.'")
    return page


def submit_steps(page, steps: int) -> None:
    page.get_by_label("Steps").fill(str(steps))
    page.get_by_role("button", name="Submit").click()


def visitor_in_line(browser, stack, slug: str, steps: int, shows: str, **context):
    """A visitor in a browser of their own who submits `steps` and waits until the page
    shows `shows` (a Playwright text selector)."""
    page = open_demo(browser.new_context(**context), stack, slug)
    submit_steps(page, steps)
    page.locator(shows).wait_for()
    return page


def result_text(page) -> str:
    page.locator("#status[data-kind=success]").wait_for(timeout=30_000)
    return page.locator("#outputs .result-text").inner_text()


def test_two_tabs_each_get_their_own_result(stack, browser, line):
    context = browser.new_context()
    first, second = open_demo(context, stack, line), open_demo(context, stack, line)
    record(second, "status", "#status")
    submit_steps(first, 2)
    first.locator("text=Running").wait_for()
    submit_steps(second, 3)
    assert result_text(first) == "finished 2 steps"
    assert result_text(second) == "finished 3 steps"
    assert any("Estimated wait" in text for text in seen(second, "status"))
    context.close()


def test_refresh_while_waiting_keeps_the_place_then_shows_the_result(
    stack, browser, line, tmp_path
):
    ahead = visitor_in_line(browser, stack, line, 10, "text=Running")
    viewport = {"width": 1100, "height": 700}
    page = visitor_in_line(browser, stack, line, 1, WAITING, viewport=viewport)
    assert "Estimated wait" in page.locator("#status").inner_text()
    job = page.evaluate(f"sessionStorage.getItem('lineup:job:{line}')")
    screenshot(page, "waiting", tmp_path)

    page.reload()
    page.locator(WAITING).wait_for()
    assert page.evaluate(f"sessionStorage.getItem('lineup:job:{line}')") == job
    assert result_text(page) == "finished 1 steps"
    assert result_text(ahead) == "finished 10 steps"
    ahead.context.close()
    page.context.close()


# The page's websockets go to a port where nothing listens, as a connect turned away in a
# crowd would fail, while window.refusals (REFUSALS at first) is above 0; each refused connect
# counts it down. Every status the page shows is kept from the start.
REFUSING = """(() => {
  const RealWebSocket = window.WebSocket;
  window.connects = 0;
  window.refusals = REFUSALS;
  window.WebSocket = function (url, protocols) {
    window.connects += 1;
    const refused = window.refusals > 0;
    window.refusals -= 1;
    return new RealWebSocket(refused ? "ws://127.0.0.1:9/" : url, protocols);
  };
  Object.assign(window.WebSocket, {OPEN: RealWebSocket.OPEN, CLOSED: RealWebSocket.CLOSED});
  window.statuses = [];
  document.addEventListener("DOMContentLoaded", () => {
    const element = document.querySelector("#status");
    new MutationObserver(() => window.statuses.push(element.textContent))
      .observe(element, {childList: true, characterData: true, subtree: true});
  });
})()"""


def refuse_sockets(page, refusals: int) -> None:
    page.add_init_script(REFUSING.replace("REFUSALS", str(refusals)))


def test_a_refused_first_connect_is_retried_and_the_visitor_told(stack, page, line):
    refuse_sockets(page, 2)
    page.goto(f"{stack.base_url}/demos/{line}/")
    page.wait_for_function(
        "() => window.connects === 3 && document.querySelector('#status').textContent === 'Ready.'"
    )
    assert any("arriving at once" in text for text in page.evaluate("window.statuses"))
    submit_steps(page, 1)
    assert result_text(page) == "finished 1 steps"


def test_a_visitor_who_submits_before_the_page_is_connected_joins_once_it_is(stack, page, line):
    refuse_sockets(page, 1000)  # every connect, until the test lets them through
    page.goto(f"{stack.base_url}/demos/{line}/")
    page.locator("body[data-connection=closed]").wait_for()
    submit_steps(page, 1)
    page.locator("#status", has_text="you join the line as soon as").wait_for()
    assert page.get_by_role("button", name="Submit").is_disabled()
    page.evaluate("window.refusals = 0")  # until now, no socket could carry the join
    assert result_text(page) == "finished 1 steps"


def test_a_refreshed_page_offers_no_second_submit_before_it_finds_its_place(stack, browser, line):
    ahead = visitor_in_line(browser, stack, line, 10, "text=Running")
    page = browser.new_context().new_page()
    refuse_sockets(page, 0)
    page.goto(f"{stack.base_url}/demos/{line}/")
    submit_steps(page, 1)
    page.locator(WAITING).wait_for()
    page.add_init_script("window.refusals = 1000")  # after the refusals are set on each load
    page.reload()
    page.locator("body[data-connection=closed]").wait_for()
    assert "Your place in line is kept" in page.locator("#status").inner_text()
    assert page.get_by_role("button", name="Submit").is_disabled()
    page.evaluate("window.refusals = 0")
    page.locator(WAITING).wait_for()
    assert result_text(page) == "finished 1 steps"
    assert result_text(ahead) == "finished 10 steps"
    ahead.context.close()
    page.context.close()


def test_cancel_takes_the_job_out_of_the_line(stack, browser, line):
    ahead = visitor_in_line(browser, stack, line, 6, "text=Running")
    page = visitor_in_line(browser, stack, line, 1, WAITING)
    job = page.evaluate(f"sessionStorage.getItem('lineup:job:{line}')")
    page.get_by_role("button", name="Cancel").click()
    page.locator("#status", has_text="Cancelled.").wait_for()

    client = redis.Redis.from_url(stack.redis_url, decode_responses=True)
    assert client.zscore(key(line, "waiting"), job) is None
    assert client.hget(job_key(line, job), "status") == "cancelled"
    assert page.get_by_role("button", name="Submit").is_enabled()
    assert result_text(ahead) == "finished 6 steps"
    assert page.locator("#outputs").inner_text() == ""
    assert client.hget(job_key(line, job), "status") == "cancelled"  # it never ran
    ahead.context.close()
    page.context.close()


def test_a_full_line_says_when_to_try_again(stack, browser):
    slug = stack.add_demo(
        f"t-full-{uuid.uuid4().hex[:8]}", function="slow_steps", concurrency_count=1, max_size=1
    )
    # Running for 20 s: long enough, even on a busy machine, for two more visitors to open
    # the page and submit while it runs; short enough for the waiting one's result to follow.
    running = visitor_in_line(browser, stack, slug, 40, "text=Running")
    waiting = visitor_in_line(browser, stack, slug, 1, WAITING)

    refused = open_demo(browser.new_context(), stack, slug)
    submit_steps(refused, 1)
    refused.locator("text=/line for this demo is full. Please try again in \\d+ s/").wait_for()
    assert refused.locator("#status").get_attribute("data-kind") == "warn"
    assert refused.get_by_role("button", name="Submit").is_enabled()
    assert result_text(waiting) == "finished 1 steps"  # the others were untouched
    for page in (running, waiting, refused):
        page.context.close()


def test_the_progress_bar_moves_for_the_slow_demo(stack, page):
    page.goto(stack.base_url + "/demos/slow-steps/")
    record(page, "bar", "#bar-fill", "style")
    record(page, "status", "#status")
    submit_steps(page, 6)
    assert result_text(page) == "finished 6 steps"
    widths = [int(style.split(":")[1].strip(" %;")) for style in seen(page, "bar") if style]
    assert len(set(widths)) >= 4, widths
    assert widths[-1] == 100
    assert "Running: step 3 of 6" in seen(page, "status")


def test_a_generator_demo_streams_its_output(stack, page):
    page.goto(stack.base_url + "/demos/story/")
    page.get_by_label("Topic").fill("a lighthouse")
    record(page, "outputs", "#outputs")
    page.get_by_role("button", name="Submit").click()
    page.locator("text=streaming the output").wait_for()
    story = result_text(page)
    assert story.startswith("Once upon a time a lighthouse") and story.endswith("home happy.")
    partials = [text for text in seen(page, "outputs") if text.startswith("Story")]
    assert len(partials) >= 5, partials
    assert all(len(a) < len(b) for a, b in zip(partials, partials[1:]))


def test_every_component_on_a_phone_sized_screen(stack, browser, tmp_path):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = open_demo(context, stack, "colour-report")
    labels = ["Image", "Colour names", "Colours to show", "Minimum share (%)", "Note"]
    for label in labels + ["Ignore black, white and gray"]:
        assert page.get_by_label(label, exact=True).count() == 1, label

    page.get_by_role("button", name="Submit").click()
    page.locator("#status", has_text='choose an image for "Image"').wait_for()

    page.get_by_role("button", name="Fill the form with example 1").click()
    page.locator(".preview").wait_for(state="visible")
    page.get_by_label("Minimum share (%)").fill("500")
    page.get_by_role("button", name="Submit").click()
    page.locator("#status", has_text="Minimum share (%): must be at most 100").wait_for()

    page.get_by_label("Minimum share (%)").fill("1")
    page.get_by_role("button", name="Submit").click()
    page.locator("#status[data-kind=success]").wait_for(timeout=20_000)
    assert page.locator(".output-label .confidence").count() == 4
    assert '"note": "a gradient"' in page.locator(".output-json pre").inner_text()
    page.wait_for_function("() => document.querySelector('.output-image img').naturalWidth === 160")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "phone", tmp_path)
    context.close()


def test_results_of_every_component_on_a_wide_screen(stack, page, tmp_path):
    page.goto(stack.base_url + "/demos/colour-report/")
    page.get_by_role("button", name="Fill the form with example 2").click()
    page.locator(".preview").wait_for(state="visible")
    assert page.get_by_label("Colour names").input_value() == "basic"
    assert page.get_by_label("Ignore black, white and gray").is_checked()
    page.get_by_role("button", name="Submit").click()
    page.locator("#status[data-kind=success]").wait_for(timeout=20_000)
    assert page.locator(".output-label .confidence").count() == 3
    page.wait_for_function("() => document.querySelector('.output-image img').naturalWidth === 120")
    screenshot(page, "done", tmp_path)
