"""Estimated waits that know about batching and concurrency.

Jobs leave the line in waves of up to `concurrency` batches; a wave's batches hold
`avg_batch` jobs on average (never more than `max_batch_size`). Until a batch has been
measured, a batch is assumed to hold a single job, which errs on the long side.
"""

import math
from dataclasses import dataclass


def jobs_per_wave(*, concurrency: int, max_batch_size: int, avg_batch: float | None) -> float:
    per_batch = min(max(avg_batch or 1.0, 1.0), float(max_batch_size))
    return per_batch * max(concurrency, 1)


@dataclass(frozen=True)
class Pace:
    """How a line moves: waves of `jobs` jobs (on average) leave it every `seconds`."""

    jobs: float
    seconds: float

    def eta(self, rank: int) -> float:
        """Seconds until the job at `rank` (0 = next) starts, roughly. join.lua records the
        same prediction with each new job, to measure the ETA's error when it starts."""
        return math.ceil((rank + 1) / self.jobs) * self.seconds


def pace(*, concurrency: int, max_batch_size: int, avg_run: float, avg_batch: float | None) -> Pace:
    wave = jobs_per_wave(
        concurrency=concurrency, max_batch_size=max_batch_size, avg_batch=avg_batch
    )
    return Pace(jobs=wave, seconds=avg_run)


def rank_eta(
    *, rank: int, concurrency: int, max_batch_size: int, avg_run: float, avg_batch: float | None
) -> float:
    """Seconds until the job at `rank` (0 = next) starts, roughly."""
    return pace(
        concurrency=concurrency,
        max_batch_size=max_batch_size,
        avg_run=avg_run,
        avg_batch=avg_batch,
    ).eta(rank)


def max_rank_within(
    seconds: float,
    *,
    concurrency: int,
    max_batch_size: int,
    avg_run: float,
    avg_batch: float | None,
) -> int:
    """The largest rank whose `rank_eta` is at most `seconds` (-1 when even rank 0's is longer)."""
    if avg_run <= 0:
        return 2**31
    waves = math.floor(seconds / avg_run)
    wave = jobs_per_wave(
        concurrency=concurrency, max_batch_size=max_batch_size, avg_batch=avg_batch
    )
    return math.floor(waves * wave) - 1
