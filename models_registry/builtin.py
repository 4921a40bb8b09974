"""The built-in demo functions, loaded by `make run` (see `load_demos`)."""

import time

from PIL import Image as PILImage
from PIL import ImageFilter, ImageOps

from .components import Dropdown, Image, Slider, Text
from .registry import register


@register(inputs=[Image("Image")], outputs=[Image("Same image")])
def identity_image(image: PILImage.Image) -> PILImage.Image:
    """Returns the image it is given: the shortest path through the line and back."""
    return image


@register(inputs=[Text("Text")], outputs=[Text("Same text")])
def identity_text(text: str) -> str:
    """Returns the text it is given."""
    return text


FILTERS = ("grayscale", "blur", "contour", "invert", "mirror")


def _apply_filter(image: PILImage.Image, name: str) -> PILImage.Image:
    image = image.convert("RGB")
    if name == "grayscale":
        return ImageOps.grayscale(image)
    if name == "blur":
        return image.filter(ImageFilter.GaussianBlur(radius=3))
    if name == "contour":
        return image.filter(ImageFilter.CONTOUR)
    if name == "invert":
        return ImageOps.invert(image)
    return ImageOps.mirror(image)


@register(
    inputs=[Image("Image"), Dropdown("Filter", choices=FILTERS, default="grayscale")],
    outputs=[Image("Filtered image")],
    batch=True,
)
def image_filter(images: list[PILImage.Image], filters: list[str]) -> list[list[PILImage.Image]]:
    """Applies a filter to each image of a batch."""
    return [[_apply_filter(image, name) for image, name in zip(images, filters)]]


@register(
    inputs=[
        Text("Word", max_length=200),
        Slider("Length", minimum=0, maximum=50, step=1, default=3),
    ],
    outputs=[Text("Trimmed word")],
    batch=True,
)
def trim_words(words: list[str], lengths: list[float]) -> list[list[str]]:
    """Keeps the first `length` letters of each word (Gradio's batching example)."""
    return [[word[: int(length)] for word, length in zip(words, lengths)]]


@register(
    inputs=[Slider("Steps", minimum=1, maximum=20, step=1, default=5)],
    outputs=[Text("Report")],
)
def slow_steps(steps: float, progress) -> str:
    """Works through its steps for half a second each, reporting progress after each one."""
    total = int(steps)
    for done in range(total):
        time.sleep(0.5)
        progress(done + 1, total, f"step {done + 1} of {total}")
    return f"finished {total} steps"


@register(inputs=[Text("Text")], outputs=[Text("Same text")], batch=True)
def sleepy_batch(texts: list[str]) -> list[list[str]]:
    """Sleeps 50 ms plus 1 ms per item, then echoes the batch: a model-like cost profile."""
    time.sleep(0.050 + 0.001 * len(texts))
    return [list(texts)]
