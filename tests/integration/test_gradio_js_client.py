"""Gradio's JavaScript client (`@gradio/client` 2.7, the real package, under Node) calls
Lineup demos at the URL a visitor sees."""

import html
import io
import json
import re
import subprocess

import pytest
import requests
from PIL import Image as PILImage

from tests.conftest import EXAMPLE_IMAGE, ROOT

pytestmark = pytest.mark.stack

NODE_CLIENT = ROOT / "tests" / "node"


def call(stack, slug: str, inputs: list, mode: str = "predict"):
    """What the JS client prints for one call to the demo's endpoint."""
    endpoint = "/" + slug.replace("-", "_")
    ran = subprocess.run(
        [
            "node",
            "gradio_call.mjs",
            f"{stack.base_url}/demos/{slug}/",
            endpoint,
            json.dumps(inputs),
            mode,
        ],
        cwd=NODE_CLIENT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout.strip().splitlines()[-1])


def test_predict_on_a_text_demo(stack):
    assert call(stack, "trim-words", ["lineup", 4]) == ["line"]


def test_predict_with_an_image_in_and_out(stack):
    (echoed,) = call(stack, "image-echo", [{"file": str(EXAMPLE_IMAGE)}])
    back = PILImage.open(io.BytesIO(requests.get(echoed["url"], timeout=30).content))
    sent = PILImage.open(EXAMPLE_IMAGE)
    assert back.convert("RGB").tobytes() == sent.convert("RGB").tobytes()


def test_a_generator_s_partial_outputs_arrive_through_submit(stack):
    outputs = [data[0] for data in call(stack, "story", ["a cat"], mode="submit")]
    assert len(outputs) > 1
    assert all(outputs[-1].startswith(partial) for partial in outputs)


def test_the_api_page_s_js_snippet_runs_as_shown(stack, tmp_path):
    page = requests.get(f"{stack.base_url}/demos/text-echo/api/", timeout=30).text
    shown = re.search(r"<pre><code>(import \{ Client.*?)</code></pre>", page, re.S)
    snippet = NODE_CLIENT / f"snippet-{tmp_path.name}.mjs"  # where @gradio/client resolves
    snippet.write_text(html.unescape(shown.group(1)) + "\nprocess.exit(0);\n")
    try:
        ran = subprocess.run(
            ["node", snippet.name], cwd=NODE_CLIENT, capture_output=True, text=True, timeout=120
        )
    finally:
        snippet.unlink()
    assert ran.returncode == 0, ran.stderr
    assert "Hello, Lineup!" in ran.stdout
