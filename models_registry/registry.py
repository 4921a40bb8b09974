"""The registry of inference functions. Functions exist only in code.

A module registers its functions with the `@register` decorator; installed packages add
modules through the `lineup.functions` entry-point group, and the LINEUP_FUNCTION_MODULES
setting names more modules to import. The admin picks a function by its
registered name from this list; nothing typed in the admin is ever imported or evaluated.

Batched functions follow Gradio's convention: they receive one list per input (the batch's
values of that input, in order) and return one list per output.

A generator function streams: each value it yields is its whole output so far (the text
written up to now, the image refined up to now), shown to the visitor as it comes; the
last value yielded is the result. Streaming functions take one job at a time.
"""

import inspect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from .components import Component, InvalidInput

ENTRY_POINT_GROUP = "lineup.functions"
# The module of the built-in functions.
BUILTIN_MODULE = "models_registry.builtin"


@dataclass(frozen=True)
class InferenceFunction:
    name: str
    func: Callable[..., Any]
    inputs: tuple[Component, ...]
    outputs: tuple[Component, ...]
    batch: bool
    description: str
    wants_progress: bool
    wants_log: bool = False
    streams: bool = False
    # Loads what the function needs (a model) into this process; workers call it when they
    # start, for the demos of their pools, so the first visitor does not wait for it.
    warm_up: Callable[[], Any] | None = None

    @property
    def heavy_check(self) -> bool:
        """Whether checking its inputs is work for a thread (files, large values)."""
        return any(component.heavy_check for component in self.inputs)

    def clean_inputs(self, raw: Any) -> list[Any]:
        """Check a visitor's values against the inputs; return what the job stores."""
        if not isinstance(raw, list):
            raise InvalidInput("invalid_input", "data must be a list with one value per input")
        if len(raw) != len(self.inputs):
            raise InvalidInput(
                "invalid_input", f"expected {len(self.inputs)} input values, got {len(raw)}"
            )
        cleaned: list[Any] = []
        try:
            for component, value in zip(self.inputs, raw):
                cleaned.append(component.clean(value))
        except InvalidInput:
            self.discard_inputs(cleaned)
            raise
        return cleaned

    def discard_inputs(self, stored: Sequence[Any]) -> None:
        """Release what stored inputs hold (the files kept for them) when their job is not
        admitted, or has ended."""
        for component, value in zip(self.inputs, stored):
            component.discard(value)


_functions: dict[str, InferenceFunction] = {}
_entry_points_loaded = False
_loading = threading.RLock()


def register(
    name: str | None = None,
    *,
    inputs: Sequence[Component],
    outputs: Sequence[Component],
    batch: bool = False,
    description: str = "",
    warm_up: Callable[[], Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an inference function under `name` (default: the function's name).

    A function that takes a `progress` parameter is given a callable
    `progress(done, total, description="")` to report how far it has got; one that takes a
    `log` parameter is given `log(message, level="info")` to tell its visitors something as
    it runs (level "info", "success", "warning" or "error"; Gradio's gr.Info and friends).
    `warm_up`, if given, loads the function's model; a worker calls it once when it starts.
    """

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        key = name or func.__name__
        if key in _functions and _functions[key].func is not func:
            raise ValueError(f"an inference function named {key!r} is already registered")
        for component in inputs:
            if not component.input_ok:
                raise ValueError(f"{key!r}: a {component.kind} is an output only")
        for component in outputs:
            if not component.output_ok:
                raise ValueError(f"{key!r}: a {component.kind} is an input only")
        streams = inspect.isgeneratorfunction(func)
        if streams and batch:
            raise ValueError(f"{key!r}: a generator function streams one job; it cannot batch")
        _functions[key] = InferenceFunction(
            name=key,
            func=func,
            inputs=tuple(inputs),
            outputs=tuple(outputs),
            batch=batch,
            description=description or inspect.getdoc(func) or "",
            wants_progress="progress" in inspect.signature(func).parameters,
            wants_log="log" in inspect.signature(func).parameters,
            streams=streams,
            warm_up=warm_up,
        )
        return func

    return decorator


def _load_entry_points() -> None:
    """Import every module that registers functions, once per process."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    with _loading:  # threads of a new process may all ask at once
        if _entry_points_loaded:
            return
        from django.conf import settings

        # The built-in functions are loaded like any others, by name, and also when the
        # project is not installed (no entry points then).
        import_module(BUILTIN_MODULE)
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            entry_point.load()
        for module in settings.LINEUP_FUNCTION_MODULES:
            import_module(module)
        _entry_points_loaded = True


def get_function(name: str) -> InferenceFunction:
    """The registered function called `name`; KeyError if there is none."""
    _load_entry_points()
    return _functions[name]


def find_function(name: str) -> InferenceFunction | None:
    """The registered function called `name`, or None (say, its extra is not installed)."""
    _load_entry_points()
    return _functions.get(name)


def all_functions() -> dict[str, InferenceFunction]:
    _load_entry_points()
    return dict(sorted(_functions.items()))
