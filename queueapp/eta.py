"""Estimated waits that know about batching and concurrency: the one place an ETA is computed.

Jobs leave the line in waves of up to `concurrency` batches; a wave's batches hold
`avg_batch` jobs on average (never more than `max_batch_size`) and each keeps its worker
`avg_run` seconds, from taking it to recording its ending (finish_batch.lua). Until a batch
has been measured, a batch is assumed to be full, as the batches of a line that has jobs
waiting are, and to take the demo's `expected_seconds`.
"""

import math
from dataclasses import dataclass

from .line import DemoStats, LineConfig


@dataclass(frozen=True)
class Pace:
    """How a line moves: waves of `jobs` jobs (on average) leave it every `seconds`."""

    jobs: float
    seconds: float

    def eta(self, rank: int) -> float:
        """Seconds until the job at `rank` (0 = next) starts, roughly. join.lua records the
        same prediction with each new job, to measure the ETA's error when it starts."""
        return math.ceil((rank + 1) / self.jobs) * self.seconds

    def max_rank_within(self, seconds: float) -> int:
        """The largest rank whose ETA is at most `seconds` (-1 when even rank 0's is longer)."""
        if self.seconds <= 0:
            return 2**31
        return math.floor(math.floor(seconds / self.seconds) * self.jobs) - 1


def line_pace(config: LineConfig, stats: DemoStats) -> Pace:
    """How fast the demo's line moves, from its settings and its measured batches."""
    measured = stats.avg_batch if stats.avg_batch is not None else config.max_batch_size
    per_batch = min(max(measured, 1.0), float(config.max_batch_size))
    avg_run = stats.avg_run if stats.avg_run is not None else config.expected_seconds
    return Pace(jobs=per_batch * max(config.concurrency, 1), seconds=avg_run)


def job_seconds(config: LineConfig, stats: DemoStats) -> float:
    """A job's expected share of its batch's run time: what a quota counts for it."""
    pace = line_pace(config, stats)
    return pace.seconds * max(config.concurrency, 1) / pace.jobs


def lane_eta(pace: Pace, rank: int, room: float, rate: float) -> float:
    """Seconds until the job at `rank` starts, when other lanes may still place up to `room`
    jobs ahead of it and send `rate` jobs a second: as many of them as arrive while it
    waits. join.lua makes this estimate lane by lane when it admits the job; a waiting job's
    later estimates use the lanes' totals, which allow for a little more with three lanes
    or more."""
    extra = 0.0
    for _ in range(5):
        extra = min(room, rate * pace.eta(rank + extra))
    return pace.eta(rank + extra)


def rank_eta(config: LineConfig, stats: DemoStats, rank: int) -> float:
    """Seconds until the job at `rank` (0 = next) of the demo's line starts, roughly."""
    return line_pace(config, stats).eta(rank)


def max_rank(config: LineConfig, stats: DemoStats) -> int | None:
    """The last rank a join may take under the demo's max_wait_seconds (None: no limit)."""
    if config.max_wait_seconds is None:
        return None
    return line_pace(config, stats).max_rank_within(config.max_wait_seconds)
