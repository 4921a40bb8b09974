"""Batching inside a worker: the jobs a worker runs at the same time (one per concurrency
slot) each call `Batcher.run(item)`, and the items that arrive within a short window go
through the batched function together, in one call.

This is for work inside a job that cannot be batched by the line itself, such as the model
call at the start of a streaming job (streaming jobs run one per slot).
"""

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class Batcher:
    """Gathers single items from threads into batches for `batched(items) -> results`."""

    def __init__(
        self, batched: Callable[[list], list], *, window: float = 0.01, max_size: int = 32
    ):
        self.batched = batched
        self.window = window
        self.max_size = max_size
        self.lock = threading.Lock()
        self.pending: list[tuple[Any, Future]] = []
        self.sizes: list[int] = []  # every batch run so far, for operators and tests

    def run(self, item: Any) -> Any:
        """The result for `item`, computed in a batch with whatever else came meanwhile."""
        done: Future = Future()
        with self.lock:
            self.pending.append((item, done))
            leads = len(self.pending) == 1  # the first of a batch gathers the others
        if leads:
            threading.Event().wait(self.window)
            with self.lock:
                gathered, self.pending = self.pending, []
            for start in range(0, len(gathered), self.max_size):
                self._run_batch(gathered[start : start + self.max_size])
        return done.result()

    def _run_batch(self, batch: list[tuple[Any, Future]]) -> None:
        self.sizes.append(len(batch))
        try:
            results = self.batched([item for item, _ in batch])
        except Exception as error:
            for _, done in batch:
                done.set_exception(error)
            return
        for (_, done), result in zip(batch, results):
            done.set_result(result)
