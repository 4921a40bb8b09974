"""What a web process prepares as it starts serves every thread that wakes a worker."""

import threading

from demo_site.celery import app


def test_every_thread_sends_wake_ups_through_the_one_result_backend():
    here = app.backend
    seen = []
    thread = threading.Thread(target=lambda: seen.append(app.backend))
    thread.start()
    thread.join()
    assert seen == [here]
