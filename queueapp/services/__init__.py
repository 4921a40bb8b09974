"""The queue's services: what changes state, called the same way from every way in (the
websocket consumer, the HTTP API, the admin, Celery tasks, tests). Reads are in selectors.

- `jobs`: a visitor's jobs (submit, cancel, resume, detach);
- `demos`: a demo's line as its operators run it (settings, pause, resume, clear, wake-up);
- `recovery`: the sweep that recovers every line.

The place that changes a job's state also tells the visitors concerned.
"""
