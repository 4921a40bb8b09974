"""The newer kinds in a real browser: a streamed chat with Retry and Undo, a table edited and
summarised into a gallery and a download, a recording from the microphone changed and played
back, a video turned into a gallery, a file checked before and after its upload, and
Markdown and HTML outputs whose payloads run nothing."""

import hashlib
import uuid

import pytest

from tests.conftest import ROOT

from .test_visitor_flows import record, screenshot, seen

pytestmark = [pytest.mark.browser, pytest.mark.stack]

# The reply being written (the assistant's message after the last question) each time it
# changes, in window.replies.
WATCH_REPLIES = """() => {
  window.replies = [];
  new MutationObserver(() => {
    const last = [...document.querySelectorAll('#outputs .message')].at(-1);
    if (!last || !last.classList.contains('message-assistant')) return;
    if (window.replies.at(-1) !== last.textContent) window.replies.push(last.textContent);
  }).observe(document.querySelector('#outputs'), {childList: true, subtree: true, characterData: true});
}"""
DONE_WITH = """n => document.querySelectorAll('#outputs .message').length === n
  && document.querySelector('#status').dataset.kind === 'success'"""


def ready(page, stack, slug: str) -> None:
    page.goto(f"{stack.base_url}/demos/{slug}/")
    page.wait_for_function("() => document.querySelector('#status').textContent === 'Ready.'")


def messages(page) -> list[tuple[str, str]]:
    return page.evaluate(
        """() => [...document.querySelectorAll('#outputs .message')]
          .map(m => [m.classList.contains('message-user') ? 'user' : 'assistant', m.textContent])"""
    )


def ask(page, question: str, expect_messages: int) -> list[str]:
    """Send a question; the growing replies seen until the conversation has its new answer."""
    page.evaluate("window.replies = []")
    page.get_by_label("Question").fill(question)
    page.get_by_role("button", name="Submit").click()
    page.wait_for_function(DONE_WITH, arg=expect_messages, timeout=60_000)
    return page.evaluate("window.replies")


def assert_streamed(replies: list[str]) -> None:
    assert len(replies) >= 5, replies
    for shorter, longer in zip(replies, replies[1:]):
        assert longer.startswith(shorter) and len(longer) > len(shorter), (shorter, longer)


def test_a_chat_of_three_turns_streams_and_retry_undo_and_clear_work(stack, page, tmp_path):
    ready(page, stack, "ask-the-docs")
    page.evaluate(WATCH_REPLIES)
    questions = [
        "How do I limit how many visitors wait in line?",
        "What happens to a job when its worker dies?",
        "How is Redis kept safe from losing the line?",
    ]
    for turn, question in enumerate(questions, 1):
        assert_streamed(ask(page, question, 2 * turn))
        # The page sent the conversation back, and the answer came on top of it.
        assert [text for role, text in messages(page) if role == "user"] == questions[:turn]
        assert page.get_by_label("Question").input_value() == ""
    screenshot(page, "chat", tmp_path)

    page.evaluate("window.replies = []")
    page.get_by_role("button", name="Retry").click()
    page.wait_for_function("() => window.replies.length > 0")  # the last question went out again
    page.wait_for_function(DONE_WITH, arg=6, timeout=60_000)
    assert_streamed(page.evaluate("window.replies"))
    assert [text for role, text in messages(page) if role == "user"] == questions

    page.get_by_role("button", name="Undo").click()
    assert [text for role, text in messages(page) if role == "user"] == questions[:2]
    assert page.get_by_label("Question").input_value() == questions[2]

    page.reload()  # the conversation is kept across a refresh
    page.wait_for_function("() => document.querySelectorAll('#outputs .message').length === 4")
    page.get_by_role("button", name="Clear").click()
    assert messages(page) == []


def test_a_table_is_edited_summarised_and_its_results_shown_and_downloaded(stack, page, tmp_path):
    ready(page, stack, "table-stats")
    page.get_by_role("button", name="Fill the form with example 1").click()
    grid = page.locator("#input-0 tbody tr")
    assert grid.count() == 5
    page.get_by_role("button", name="Add row").click()
    last = grid.nth(5).locator("input")
    last.nth(0).fill("Reykjavik")
    last.nth(1).fill("5.1")
    last.nth(2).fill("70")
    page.get_by_role("button", name="Submit").click()
    page.locator("#status[data-kind=success]").wait_for(timeout=60_000)

    assert "6 rows" in page.locator(".output-markdown").inner_text()
    assert not page.get_by_role("button", name="Retry").is_visible()  # not a chat
    summary = page.locator(".output-dataframe tbody tr")
    assert summary.count() == 2 and summary.nth(0).locator("td").nth(1).inner_text() == "6"
    items = page.locator(".gallery-item")
    assert items.all_inner_texts() == ["temperature", "rain_mm"]
    page.wait_for_function(
        "() => [...document.querySelectorAll('.gallery-item img')].every(i => i.naturalWidth === 320)"
    )
    screenshot(page, "gallery", tmp_path)
    items.nth(0).click()
    assert page.locator("#viewer").is_visible()
    assert page.locator("#viewer-caption").inner_text() == "temperature (1 of 2)"
    page.get_by_role("button", name="Next").click()
    assert page.locator("#viewer-caption").inner_text() == "rain_mm (2 of 2)"
    page.get_by_role("button", name="Close the viewer").click()

    with page.expect_download() as download:
        page.locator(".output-file a.download").click()
    assert download.value.suggested_filename == "summary.csv"
    csv = open(download.value.path()).read().splitlines()
    assert csv[0].startswith("column,count,mean") and csv[1].startswith("temperature,6.0,")


@pytest.fixture(scope="module")
def markup(stack) -> str:
    return stack.add_demo(f"t-markup-{uuid.uuid4().hex[:8]}", function="markup_echo")


# Every way a payload could run, each reporting to window.ran if it ever does.
PAYLOADS = """**bold**, <strong>strong</strong> and <a href="https://example.org">a safe link</a>
<script>window.ran.push('script')</script>
<img src="missing.png" onerror="window.ran.push('onerror')">
<a id="js-link" href="javascript:window.ran.push('href')">click me</a>
<svg><animate onbegin="window.ran.push('svg')" attributeName="x" dur="1s"></animate></svg>
<iframe srcdoc="<script>parent.ran.push('iframe')</script>"></iframe>
<details open ontoggle="window.ran.push('toggle')"><summary>more</summary>inside</details>
<form action="javascript:window.ran.push('form')"><button id="js-button">go</button></form>"""
HOOK = """window.ran = [];
window.violations = [];
document.addEventListener('securitypolicyviolation', e => window.violations.push(e.violatedDirective));"""


def test_markdown_and_html_payloads_run_nothing(stack, page, markup):
    page.add_init_script(HOOK)
    ready(page, stack, markup)
    page.get_by_label("Markup").fill(PAYLOADS)
    page.get_by_role("button", name="Submit").click()
    page.locator("#status[data-kind=success]").wait_for(timeout=30_000)
    assert page.locator(".output-markdown strong", has_text="bold").count() == 1
    for output in (".output-markdown", ".output-html"):
        shown = page.locator(output)
        assert shown.locator("strong", has_text="strong").count() == 1
        assert shown.locator("a[href='https://example.org']").count() == 1
        assert shown.locator("script, iframe, svg, form").count() == 0
    for link in page.locator("#outputs a", has_text="click me").all():
        link.click()
    page.wait_for_timeout(500)  # anything that would run has had its chance
    assert page.evaluate("window.ran") == []
    # Nothing even tried: the sanitizer removed it before the page's own policy had to act.
    assert page.evaluate("window.violations") == []


@pytest.fixture(scope="module")
def digest(stack) -> str:
    return stack.add_demo(f"t-digest-{uuid.uuid4().hex[:8]}", function="file_digest")


def test_a_file_is_checked_in_the_browser_then_uploaded_and_read_by_the_function(
    stack, page, digest, tmp_path
):
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if r.method == "POST" else None)
    ready(page, stack, digest)
    wrong = tmp_path / "photo.png"
    wrong.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    page.get_by_label("Data").set_input_files(str(wrong))
    page.locator(".file-note", has_text="only .csv files").wait_for()
    page.get_by_role("button", name="Submit").click()
    page.locator("#status[data-kind=error]", has_text="only .csv files").wait_for()
    assert uploads == []  # refused before anything was sent

    data = tmp_path / "cities.csv"
    data.write_text("city,temperature\n" + "".join(f"c{n},{n}\n" for n in range(200_000)))
    page.get_by_label("Data").set_input_files(str(data))
    record(page, "status", "#status")
    page.get_by_role("button", name="Submit").click()
    page.locator("#status[data-kind=success]").wait_for(timeout=30_000)
    expected = hashlib.sha256(data.read_bytes()).hexdigest()
    assert page.locator(".output-text").inner_text().endswith(f"sha256 {expected}")
    assert [url for url in uploads if url.endswith("/gradio_api/upload")]
    assert any(text.startswith("Uploading Data: ") for text in seen(page, "status"))


@pytest.fixture(scope="module")
def choices(stack) -> str:
    return stack.add_demo(f"t-choices-{uuid.uuid4().hex[:8]}", function="choices_echo")


def test_radio_checkbox_group_colour_and_long_text(stack, page, choices):
    ready(page, stack, choices)
    assert page.get_by_label("small").is_checked()
    page.get_by_label("large").check()
    page.get_by_label("olives").check()
    page.get_by_label("basil").check()
    page.get_by_label("Colour").fill("#ff8800")
    page.get_by_label("Note").fill("first line\nsecond line")
    page.get_by_role("button", name="Submit").click()
    page.locator("#status[data-kind=success]").wait_for(timeout=30_000)
    shown = page.locator(".output .result-text").all_inner_texts()
    assert shown == ["large", "olives, basil", "#ff8800", "first line\nsecond line"]


# The length of the sound an <audio> element holds, decoded by the browser itself.
DECODED_SECONDS = """async selector => {
  const blob = await (await fetch(document.querySelector(selector).src)).blob();
  const sound = await new AudioContext().decodeAudioData(await blob.arrayBuffer());
  return sound.duration;
}"""


def test_a_recording_from_the_microphone_comes_back_slower_and_plays(stack, page, tmp_path):
    ready(page, stack, "speech-tools")
    page.get_by_role("button", name="Record Recording").click()
    page.locator("#status", has_text="Recording").wait_for()
    page.wait_for_timeout(1500)  # how long the visitor speaks: the input, not a wait
    page.get_by_role("button", name="Stop recording").click()
    page.locator(".field-audio audio").wait_for(state="visible")
    recorded = page.evaluate(DECODED_SECONDS, ".field-audio audio")
    assert recorded > 1
    page.get_by_label("slower").check()
    page.get_by_role("button", name="Submit").click()
    page.locator("#status[data-kind=success]").wait_for(timeout=60_000)

    result = ".output-audio audio"
    assert abs(page.evaluate(DECODED_SECONDS, result) - recorded / 0.75) < 0.15
    page.evaluate(f"document.querySelector('{result}').play()")
    page.wait_for_function(f"() => document.querySelector('{result}').currentTime > 0.2")
    page.wait_for_function(
        "() => document.querySelector('.output-image img').naturalWidth === 480"
    )  # the spectrogram
    screenshot(page, "audio", tmp_path)


def test_a_video_upload_comes_back_as_a_gallery_of_key_frames(stack, page):
    ready(page, stack, "video-thumbnails")
    page.get_by_label("Video").set_input_files(str(ROOT / "static/lineup/examples/ball.webm"))
    page.locator(".field-video video").wait_for(state="visible")
    page.get_by_role("button", name="Submit").click()
    page.locator("#status[data-kind=success]").wait_for(timeout=60_000)
    items = page.locator(".gallery-item")
    assert items.count() == 6
    assert all(text.endswith(" s") for text in items.all_inner_texts())
    times = page.locator(".output-dataframe tbody tr")
    assert times.count() == 6
    assert times.nth(0).locator("td").nth(2).inner_text() == "160"


@pytest.mark.parametrize(
    "slug", ["ask-the-docs", "table-stats", "speech-tools", "video-thumbnails"]
)
def test_the_new_demos_fit_a_phone_screen(stack, browser, slug):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    ready(page, stack, slug)
    page.get_by_role("button", name="Fill the form with example 1").click()
    page.get_by_role("button", name="Submit").click()
    page.locator("#status[data-kind=success]").wait_for(timeout=60_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for label in page.locator("#inputs label, #inputs legend").all():
        assert label.inner_text().strip()  # every input is named
    context.close()
