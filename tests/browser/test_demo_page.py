"""A visitor in a real browser: list, demo page, upload, place in line, result."""

import pytest

from tests.conftest import EXAMPLE_IMAGE

pytestmark = [pytest.mark.browser, pytest.mark.stack]

# Records every text the status line shows, so a brief "next in line" is not missed.
RECORD_STATUS = """
window.statusLog = [];
const status = document.getElementById("status");
new MutationObserver(() => window.statusLog.push(status.textContent))
  .observe(status, {childList: true, characterData: true, subtree: true});
"""


def test_visitor_submits_an_image_and_gets_it_back(stack, page):
    page.goto(stack.base_url + "/")
    page.get_by_role("link", name="Image echo").click()
    page.wait_for_url("**/demos/image-echo/")

    page.get_by_label("Image").set_input_files(str(EXAMPLE_IMAGE))
    page.locator(".preview").wait_for(state="visible")
    page.evaluate(RECORD_STATUS)
    page.get_by_role("button", name="Submit").click()

    result = page.locator("#outputs img.result-image")
    result.wait_for(state="visible", timeout=20_000)
    page.wait_for_function("() => document.querySelector('#outputs img').naturalWidth > 0")
    assert page.evaluate("document.querySelector('#outputs img').naturalWidth") == 160
    assert page.locator("#status").inner_text() == "Done."
    log = page.evaluate("window.statusLog")
    assert any("next in line" in text or "Position" in text for text in log), log
    assert any("Estimated wait" in text for text in log), log


def test_examples_fill_the_form_and_a_batched_demo_answers(stack, page):
    page.goto(stack.base_url + "/demos/trim-words/")
    page.get_by_role("button", name="Fill the form with example 2").click()
    assert page.get_by_label("Word").input_value() == "batching"
    page.get_by_role("button", name="Submit").click()
    page.locator("#outputs .result-text").wait_for(timeout=20_000)
    assert page.locator("#outputs .result-text").inner_text() == "batch"
