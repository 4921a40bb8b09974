"""Inference functions for tests: they record each run in Redis, so a test can check what
ran where, when and with whom. Worker processes load them through LINEUP_FUNCTION_MODULES."""

import hashlib
import json
import os
import time
from functools import cache

import redis
from django.conf import settings

from models_registry.components import (
    HTML,
    CheckboxGroup,
    ColorPicker,
    File,
    Markdown,
    Number,
    Radio,
    Text,
)
from models_registry.registry import register


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def runs_key(group: str) -> str:
    return f"lineup:test:runs:{group}"


def read_runs(group: str) -> list[dict]:
    """The recorded runs of `group`, oldest first."""
    return [json.loads(item) for item in _redis().lrange(runs_key(group), 0, -1)]


def busy_key(pid: int) -> str:
    """Set while the worker process `pid` runs a recorded function."""
    return f"lineup:test:busy:{pid}"


def _record(labels: list[str], seconds: float) -> None:
    busy = busy_key(os.getpid())
    _redis().set(busy, json.dumps(labels))
    start = time.time()
    time.sleep(seconds)
    run = {"labels": labels, "start": start, "end": time.time(), "pid": os.getpid()}
    # Labels look like "<group>/<n>"; one list of runs per group.
    _redis().rpush(runs_key(labels[0].split("/")[0]), json.dumps(run))
    _redis().delete(busy)


@register(inputs=[Text("Label"), Number("Seconds", minimum=0, maximum=30)], outputs=[Text("Label")])
def recorded_sleep(label: str, seconds: float) -> str:
    _record([label], seconds)
    return label


@register(
    inputs=[Text("Label"), Number("Seconds", minimum=0, maximum=30)],
    outputs=[Text("Label")],
    batch=True,
)
def recorded_sleep_batch(labels: list[str], seconds: list[float]) -> list[list[str]]:
    _record(labels, max(seconds))
    return [labels]


def gate_key(group: str) -> str:
    return f"lineup:test:gate:{group}"


@register(inputs=[Text("Label")], outputs=[Text("Label")])
def gated_label(label: str) -> str:
    """Runs until the test opens the gate of the label's group once (or a minute passes)."""
    deadline = time.monotonic() + 60
    # Short waits: the client's socket times out after a few seconds without a reply.
    while time.monotonic() < deadline:
        if _redis().blpop(gate_key(label.split("/")[0]), timeout=1):
            break
    return label


@register(inputs=[Text("Text")], outputs=[Text("Text")])
def unsendable_text(text: str) -> str:
    """Answers with what no frame can carry: the text and a lone surrogate."""
    return text + "\ud800"


@register(inputs=[Text("Label"), Number("Seconds", minimum=0, maximum=30)], outputs=[Text("Label")])
def sleepy_label(label: str, seconds: float) -> str:
    """Sleeps, touching nothing else (unlike the recorded ones, it works while Redis is away)."""
    time.sleep(seconds)
    return label


@register(
    inputs=[Text("Label"), Number("Seconds", minimum=0, maximum=30)],
    outputs=[Text("Label")],
    batch=True,
)
def sleepy_label_batch(labels: list[str], seconds: list[float]) -> list[list[str]]:
    time.sleep(max(seconds))
    return [labels]


@register(inputs=[Text("Markup", lines=4)], outputs=[Markdown("As Markdown"), HTML("As HTML")])
def markup_echo(text: str) -> tuple[str, str]:
    """Shows the text it is given as Markdown and as HTML: what a visitor's page must make safe."""
    return text, text


@register(inputs=[File("Data", types=(".csv",))], outputs=[Text("Digest")])
def file_digest(path: str) -> str:
    """The size and SHA-256 of the file it is given, as the function read it."""
    with open(path, "rb") as handle:
        data = handle.read()
    return f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}"


@register(
    inputs=[
        Radio("Size", choices=("small", "large"), default="small"),
        CheckboxGroup("Toppings", choices=("cheese", "olives", "basil")),
        ColorPicker("Colour", default="#336699"),
        Text("Note", lines=3),
    ],
    outputs=[
        Radio("Size", choices=("small", "large")),
        CheckboxGroup("Toppings", choices=("cheese", "olives", "basil")),
        ColorPicker("Colour"),
        Text("Note"),
    ],
)
def choices_echo(size: str, toppings: list[str], colour: str, note: str):
    """Gives back the choices it was given: radio, checkbox group, colour, multi-line text."""
    return size, toppings, colour, note
