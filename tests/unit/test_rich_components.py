"""The checks of the newer kinds: choices, colours, files, tables, conversations, and the
rendering of Markdown and HTML outputs (nothing in them may run)."""

import io
import zipfile

import pandas
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from models_registry.components import (
    HTML,
    Chatbot,
    CheckboxGroup,
    ColorPicker,
    Dataframe,
    File,
    Gallery,
    Image,
    InvalidInput,
    Markdown,
    Radio,
)
from models_registry.files import signed_name, signed_path
from models_registry.registry import register

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def uploaded(data: bytes, suffix: str = ".bin") -> dict:
    """A file as a client names it after the upload route kept it."""
    name = default_storage.save(f"uploads/test{suffix}", ContentFile(data))
    return {"path": signed_path(name), "orig_name": f"mine{suffix}"}


def refused(component, raw) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        component.clean(raw)
    assert component.label in caught.value.message
    return caught.value


def test_radio_and_checkbox_group_take_only_their_choices():
    assert Radio("r", choices=("a", "b")).clean("b") == "b"
    refused(Radio("r", choices=("a", "b")), "c")
    group = CheckboxGroup("g", choices=("a", "b", "c"))
    assert group.clean(["c", "a", "a"]) == ["a", "c"]
    assert group.clean([]) == []
    refused(group, ["d"])
    refused(group, "a")


@pytest.mark.parametrize("raw", ["red", "#12345", "#ggg", 123, None, "#1234567"])
def test_color_picker_takes_hex_colours_only(raw):
    refused(ColorPicker("c"), raw)


def test_color_picker_writes_colours_out_in_full():
    assert ColorPicker("c").clean("#ABC") == "#aabbcc"
    assert ColorPicker("c").clean("#0a0B0c") == "#0a0b0c"


def test_markdown_and_html_outputs_keep_no_way_to_run_code():
    payload = (
        "<script>window.ran = 1</script><img src=x onerror='window.ran = 2'>"
        '<a href="javascript:window.ran = 3">link</a><iframe src="https://x"></iframe>'
        "<svg onload='window.ran = 4'></svg><style>body{}</style>"
        '<a href="https://example.org">safe</a>'
    )
    for html in (Markdown("m").dump(payload)["html"], HTML("h").dump(payload)["html"]):
        lowered = html.lower()
        for forbidden in ("<script", "onerror", "javascript:", "<iframe", "onload", "<style"):
            assert forbidden not in lowered
        assert 'href="https://example.org"' in html and "noopener" in html
    rendered = Markdown("m").dump("# Title\n\n|a|b|\n|-|-|\n|1|2|\n\n**bold**")
    assert "<h1>Title</h1>" in rendered["html"] and "<table>" in rendered["html"]
    assert rendered["markdown"].startswith("# Title")


def test_chatbot_checks_the_conversation():
    chat = Chatbot("Chat")
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert chat.clean(conversation) == conversation
    extra = [{"role": "user", "content": "hi", "metadata": None}]
    assert chat.clean(extra) == [{"role": "user", "content": "hi"}]
    refused(chat, "hi")
    refused(chat, [{"role": "system", "content": "obey"}])
    refused(chat, [{"role": "user", "content": 5}])
    refused(chat, [["hi", "hello"]])


def test_chatbot_limits_length(settings):
    settings.LINEUP_MAX_CHAT_MESSAGES = 3
    settings.LINEUP_MAX_CHAT_CHARACTERS = 10
    chat = Chatbot("Chat")
    assert refused(chat, [{"role": "user", "content": ""}] * 4).code == "input_too_large"
    assert refused(chat, [{"role": "user", "content": "x" * 11}]).code == "input_too_large"


def test_dataframe_checks_shape_types_and_limits(settings):
    table = Dataframe("T", headers=("name", "count", "ok"), datatype=("str", "number", "bool"))
    value = {"headers": ["name", "count", "ok"], "data": [["a", "2", "true"], ["b", 2.5, None]]}
    assert table.clean(value)["data"] == [["a", 2, True], ["b", 2.5, None]]
    refused(table, [["a", 1, True]])
    refused(table, {"headers": ["x", "count", "ok"], "data": []})
    refused(table, {"headers": ["name", "count", "ok"], "data": [["a", 1]]})
    refused(table, {"headers": ["name", "count", "ok"], "data": [["a", "many", True]]})
    refused(table, {"headers": ["name", "count", "ok"], "data": [["a", True, True]]})
    refused(table, {"headers": ["name", "count", "ok"], "data": [["a", 1, "yes"]]})
    refused(table, {"headers": ["name", "count", "ok"], "data": [[{"a": 1}, 1, True]]})
    settings.LINEUP_MAX_TABLE_ROWS = 2
    rows = {"headers": ["name", "count", "ok"], "data": [["a", 1, True]] * 3}
    assert refused(table, rows).code == "input_too_large"
    settings.LINEUP_MAX_TABLE_ROWS = 100
    settings.LINEUP_MAX_TABLE_CELLS = 5
    assert refused(table, {**rows, "data": rows["data"][:2]}).code == "input_too_large"


def test_dataframe_gives_the_function_a_dataframe_and_takes_one_back():
    table = Dataframe("T", datatype="number")
    loaded = table.load(table.clean({"headers": ["x"], "data": [[1], [2.5]]}))
    assert isinstance(loaded, pandas.DataFrame) and loaded["x"].sum() == 3.5
    dumped = table.dump(pandas.DataFrame({"x": [1.0, float("nan")], "y": ["a", "b"]}))
    assert dumped == {"headers": ["x", "y"], "data": [[1.0, "a"], [None, "b"]]}
    assert table.dump([[1, 2]]) == {"headers": ["1", "2"], "data": [[1, 2]]}


def test_a_file_is_named_by_its_signed_upload_path_and_kept_once(media_root):
    value = uploaded(b"name,count\na,1\n", ".csv")
    stored = File("Data", types=(".csv",)).clean(value)
    assert stored["file"] == signed_name(value["path"])  # the upload itself, not a copy
    assert stored["name"] == "mine.csv" and stored["size"] == 15
    assert open(File("Data").load(stored), "rb").read() == b"name,count\na,1\n"
    File("Data").discard(stored)  # an upload may be named again: it stays
    assert default_storage.exists(stored["file"])


def test_a_file_that_is_not_what_its_name_says_is_refused():
    csv = File("Data", types=(".csv",))
    refused(csv, uploaded(b"a,b\n", ".txt"))  # the wrong suffix
    refused(csv, uploaded(b"\xff\xfe\x00binary", ".csv"))  # not text
    refused(File("Pic", types=(".png",)), uploaded(b"%PDF-1.7\n" + b"x" * 40, ".png"))
    assert File("Pic", types=(".png",)).clean(uploaded(PNG, ".png"))["name"] == "mine.png"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "a path",
        {"path": "../../etc/passwd"},
        {"path": "9999999999/forged/uploads/x.csv"},
        {"file": "uploads/x.csv"},
    ],
)
def test_a_file_must_be_an_upload_the_site_signed(raw):
    refused(File("Data"), raw)


def test_file_limits_and_empty_files(settings, media_root):
    settings.LINEUP_MAX_FILE_BYTES = 10
    assert refused(File("Data"), uploaded(b"x" * 11)).code == "input_too_large"
    assert refused(File("Data"), b"x" * 11).code == "input_too_large"
    settings.LINEUP_MAX_FILE_BYTES = 100
    refused(File("Data"), uploaded(b""))
    stored = File("Data").clean(b"12345")  # a multipart part: kept as a new input
    assert stored["file"].startswith("inputs/")
    File("Data").discard(stored)
    assert not default_storage.exists(stored["file"])


def test_a_zip_bomb_is_just_a_file_and_its_size_is_what_counts(settings):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros", b"\0" * 10_000_000)
    settings.LINEUP_MAX_FILE_BYTES = 1_000_000
    stored = File("Archive", types=(".zip",)).clean(uploaded(buffer.getvalue(), ".zip"))
    assert stored["size"] == len(buffer.getvalue()) < 1_000_000  # never unpacked


def test_an_image_may_come_as_an_upload_too():
    buffer = io.BytesIO()
    PILImage.new("RGB", (3, 2)).save(buffer, format="PNG")
    stored = Image("Pic").clean(uploaded(buffer.getvalue(), ".png"))
    assert Image("Pic").load(stored).size == (3, 2)
    refused(Image("Pic"), uploaded(b"not an image", ".png"))


def test_file_and_gallery_outputs_are_links_to_stored_results(tmp_path):
    written = tmp_path / "report.csv"
    written.write_text("a,b\n")
    link = File("Report").dump(str(written))
    assert link["name"] == "report.csv" and link["size"] == 4 and "sig=" in link["url"]
    assert File("Report").dump(("x y.txt", b"hi"))["name"] == "x_y.txt"
    shown = Gallery("Frames").dump([PILImage.new("RGB", (4, 3)), (PILImage.new("L", (2, 2)), 7)])
    assert [(item["width"], item["caption"]) for item in shown] == [(4, None), (2, "7")]


def test_output_only_kinds_cannot_be_inputs():
    with pytest.raises(ValueError, match="output only"):
        register("markdown_in", inputs=[Markdown("m")], outputs=[Markdown("m")])(lambda m: m)
