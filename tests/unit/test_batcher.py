"""Items that threads hand in at the same time are computed in one batch, each thread gets
its own result, and a failing batch fails each of its callers."""

import threading

import pytest

from models_registry.batcher import Batcher


def run_together(batcher: Batcher, items: list) -> list:
    results: dict = {}
    start = threading.Barrier(len(items))

    def call(item):
        start.wait()
        try:
            results[item] = batcher.run(item)
        except Exception as error:
            results[item] = error

    threads = [threading.Thread(target=call, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[item] for item in items]


def test_items_handed_in_together_run_in_one_batch_with_their_own_results():
    batcher = Batcher(lambda items: [item * 10 for item in items], window=2.0)
    assert run_together(batcher, [1, 2, 3, 4]) == [10, 20, 30, 40]
    assert batcher.sizes == [4]


def test_batches_keep_to_their_size():
    batcher = Batcher(lambda items: [-item for item in items], window=2.0, max_size=3)
    assert run_together(batcher, list(range(7))) == [0, -1, -2, -3, -4, -5, -6]
    assert sorted(batcher.sizes) == [1, 3, 3]


def test_a_failing_batch_fails_each_caller():
    def broken(items):
        raise ValueError("no model")

    results = run_together(Batcher(broken, window=0.2), ["a", "b"])
    assert all(isinstance(result, ValueError) for result in results)
    with pytest.raises(ValueError):
        Batcher(broken, window=0).run("c")
