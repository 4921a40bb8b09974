"""Input and output components: what a demo takes and gives, and how each value travels.

A value crosses three places: the browser (JSON over the websocket or the HTTP API; files
uploaded over HTTP first), the job record in Redis (JSON, with files kept in Django's
storage and referenced by name), and the inference function (Python values: str, float,
bool, PIL images, file paths, pandas DataFrames, conversations).

- `clean(raw)` checks a visitor's value before admission and returns what the job stores.
- `load(stored)` turns the stored value into what the function receives (on the worker).
- `dump(value)` turns a function's output into JSON for the browser (on the worker).

docs/protocol.md lists every kind's value.
"""

from .audio_video import Audio, Video
from .base import Component, InvalidInput
from .media import File, Gallery, Image
from .rich import HTML, Chatbot, Dataframe, Markdown
from .values import (
    JSON,
    Checkbox,
    CheckboxGroup,
    ColorPicker,
    Dropdown,
    Label,
    Number,
    Radio,
    Slider,
    Text,
)

__all__ = [
    "Audio",
    "Video",
    "HTML",
    "JSON",
    "Chatbot",
    "Checkbox",
    "CheckboxGroup",
    "ColorPicker",
    "Component",
    "Dataframe",
    "Dropdown",
    "File",
    "Gallery",
    "Image",
    "InvalidInput",
    "Label",
    "Markdown",
    "Number",
    "Radio",
    "Slider",
    "Text",
]
