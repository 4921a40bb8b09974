from queueapp.eta import rank_eta


def test_next_job_waits_one_run():
    assert rank_eta(rank=0, concurrency=1, max_batch_size=1, avg_run=2.0, avg_batch=None) == 2.0


def test_jobs_leave_in_waves_of_batches_times_slots():
    # 16 per batch, 2 slots: ranks 0..31 start in the first wave, 32 in the second.
    kwargs = {"concurrency": 2, "max_batch_size": 16, "avg_run": 0.5, "avg_batch": 16}
    assert rank_eta(rank=31, **kwargs) == 0.5
    assert rank_eta(rank=32, **kwargs) == 1.0


def test_unmeasured_batches_are_assumed_to_hold_one_job():
    assert rank_eta(rank=9, concurrency=1, max_batch_size=16, avg_run=1.0, avg_batch=None) == 10.0


def test_average_batch_never_exceeds_the_current_maximum():
    # The admin lowered max_batch_size from 16 to 4: the old average must not shorten the ETA.
    assert rank_eta(rank=7, concurrency=1, max_batch_size=4, avg_run=1.0, avg_batch=16) == 2.0
