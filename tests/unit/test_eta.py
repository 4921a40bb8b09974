from queueapp.eta import max_rank, rank_eta
from queueapp.line import DemoStats, LineConfig


def line(**settings) -> LineConfig:
    return LineConfig(function="f", **settings)


def test_next_job_waits_one_run():
    assert rank_eta(line(), DemoStats(avg_run=2.0), 0) == 2.0


def test_an_unmeasured_line_waits_the_expected_seconds():
    assert rank_eta(line(expected_seconds=3.0), DemoStats(), 1) == 6.0


def test_jobs_leave_in_waves_of_batches_times_slots():
    # 16 per batch, 2 slots: ranks 0..31 start in the first wave, 32 in the second.
    config = line(concurrency=2, batch=True, max_batch_size=16)
    stats = DemoStats(avg_run=0.5, avg_batch=16)
    assert rank_eta(config, stats, 31) == 0.5
    assert rank_eta(config, stats, 32) == 1.0


def test_unmeasured_batches_are_assumed_to_hold_one_job():
    config = line(batch=True, max_batch_size=16)
    assert rank_eta(config, DemoStats(avg_run=1.0), 9) == 10.0


def test_average_batch_never_exceeds_the_current_maximum():
    # The admin lowered max_batch_size from 16 to 4: the old average must not shorten the ETA.
    config = line(batch=True, max_batch_size=4)
    assert rank_eta(config, DemoStats(avg_run=1.0, avg_batch=16), 7) == 2.0


def test_the_longest_wait_allowed_bounds_the_rank():
    config = line(concurrency=2, max_wait_seconds=3)
    stats = DemoStats(avg_run=1.0)
    # Three waves of two jobs start within 3 s: ranks 0..5.
    assert max_rank(config, stats) == 5
    assert rank_eta(config, stats, 5) <= 3 < rank_eta(config, stats, 6)
    assert max_rank(line(), stats) is None
