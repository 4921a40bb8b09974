from queueapp.eta import Pace, lane_eta, max_rank, rank_eta
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


def test_unmeasured_batches_are_assumed_full_as_a_waiting_line_fills_them():
    config = line(batch=True, max_batch_size=16, expected_seconds=1.0)
    assert rank_eta(config, DemoStats(), 15) == 1.0
    assert rank_eta(config, DemoStats(), 16) == 2.0


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


def test_an_eta_allows_for_the_jobs_other_lanes_will_place_ahead():
    pace = Pace(jobs=1, seconds=1.0)
    assert lane_eta(pace, 4, room=0, rate=0.5) == 5.0  # no room ahead: its rank alone
    # Half a job a second from the other lanes, for as long as it waits: 5 more jobs before
    # it, which is where waiting 10 s and those lanes sending 5 jobs in 10 s agree.
    assert lane_eta(pace, 4, room=8, rate=0.5) == 10.0
    # However fast they send, no more than the room they have.
    assert lane_eta(pace, 4, room=3, rate=100.0) == 8.0
