import base64
import io

import pytest
from PIL import Image as PILImage

from models_registry.components import (
    Checkbox,
    Dropdown,
    Image,
    InvalidInput,
    Label,
    Number,
    Slider,
    Text,
)


def data_url(image: PILImage.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_text_refuses_non_text_and_overlong_values():
    component = Text("Word", max_length=5)
    assert component.clean("hello") == "hello"
    with pytest.raises(InvalidInput) as wrong_type:
        component.clean(5)
    assert wrong_type.value.code == "invalid_input"
    with pytest.raises(InvalidInput) as too_long:
        component.clean("toolong")
    assert too_long.value.code == "input_too_large"
    assert "Word" in too_long.value.message


@pytest.mark.parametrize("raw", [True, None, "abc", float("nan"), float("inf"), [1]])
def test_number_refuses_what_is_not_a_finite_number(raw):
    with pytest.raises(InvalidInput):
        Number("n").clean(raw)


def test_number_checks_bounds_and_whole_numbers():
    assert Number("n", minimum=0, maximum=10, integer=True).clean("7") == 7
    with pytest.raises(InvalidInput, match="at most 10"):
        Number("n", maximum=10).clean(11)
    with pytest.raises(InvalidInput, match="whole number"):
        Number("n", integer=True).clean(2.5)
    with pytest.raises(InvalidInput, match="at least 0"):
        Slider("s", minimum=0, maximum=5).clean(-1)


def test_checkbox_and_dropdown_accept_only_their_values():
    assert Checkbox("c").clean(True) is True
    with pytest.raises(InvalidInput):
        Checkbox("c").clean("true")
    assert Dropdown("d", choices=("a", "b")).clean("b") == "b"
    with pytest.raises(InvalidInput, match="choose one of a, b"):
        Dropdown("d", choices=("a", "b")).clean("c")


def test_image_round_trip_through_storage(media_root):
    original = PILImage.new("RGB", (7, 5), (10, 200, 30))
    stored = Image("Image").clean(data_url(original))
    assert (media_root / stored["file"]).exists()
    loaded = Image("Image").load(stored)
    assert loaded.size == (7, 5)
    assert loaded.getpixel((3, 3)) == (10, 200, 30)

    dumped = Image("Out").dump(loaded)
    assert dumped["url"].startswith("/media/results/")
    assert (dumped["width"], dumped["height"]) == (7, 5)


def test_image_discard_removes_the_stored_file(media_root):
    stored = Image("Image").clean(data_url(PILImage.new("RGB", (2, 2))))
    Image("Image").discard(stored)
    assert not (media_root / stored["file"]).exists()


@pytest.mark.parametrize(
    "raw, message",
    [
        ("not a data url", "data URL"),
        ("data:image/png,plain", "base64"),
        ("data:image/png;base64,@@@@", "base64"),
        ("data:image/png;base64," + base64.b64encode(b"not an image").decode(), "not an image"),
    ],
)
def test_image_refuses_what_is_not_a_readable_image(raw, message, media_root):
    with pytest.raises(InvalidInput, match=message):
        Image("Image").clean(raw)
    assert not any(media_root.rglob("*.*"))


def test_image_refuses_too_many_bytes_or_pixels(settings):
    settings.LINEUP_MAX_IMAGE_PIXELS = 100
    with pytest.raises(InvalidInput) as too_many_pixels:
        Image("Image").clean(data_url(PILImage.new("RGB", (20, 20))))
    assert too_many_pixels.value.code == "input_too_large"
    settings.LINEUP_MAX_IMAGE_BYTES = 10
    with pytest.raises(InvalidInput, match="larger than 10 bytes"):
        Image("Image").clean(data_url(PILImage.new("RGB", (2, 2))))


def test_image_refuses_formats_it_does_not_accept():
    with pytest.raises(InvalidInput, match="BMP images are not accepted"):
        Image("Image", formats=("PNG",)).clean(data_url(PILImage.new("RGB", (2, 2)), "BMP"))


def test_label_ranks_confidences():
    dumped = Label("Class", top=2).dump({"cat": 0.2, "dog": 0.7, "fox": 0.1})
    assert dumped["label"] == "dog"
    assert [c["label"] for c in dumped["confidences"]] == ["dog", "cat"]
    assert Label("Class").dump("cat") == {"label": "cat", "confidences": []}
