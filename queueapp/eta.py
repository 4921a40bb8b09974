"""Estimated waits that know about batching and concurrency."""

import math


def rank_eta(
    *, rank: int, concurrency: int, max_batch_size: int, avg_run: float, avg_batch: float | None
) -> float:
    """Seconds until the job at `rank` (0 = next) starts, roughly.

    Jobs leave the line in waves of up to `concurrency` batches; a wave's batches hold
    `avg_batch` jobs on average (never more than `max_batch_size`). Until a batch has been
    measured, a batch is assumed to hold a single job, which errs on the long side.
    """
    per_batch = min(max(avg_batch or 1.0, 1.0), float(max_batch_size))
    waves = math.ceil((rank + 1) / (per_batch * max(concurrency, 1)))
    return waves * avg_run
