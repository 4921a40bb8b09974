"""Worker and web processes for the queue's process-level tests, on the test run's Redis."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings

from demo_site import embedded_redis, processes
from queueapp.store import get_store, job_key, key

ROOT = Path(__file__).resolve().parents[2]


class Cluster:
    """Starts Celery workers (and daphne) as separate processes sharing the test's Redis."""

    def __init__(self, folder: Path, **env: str):
        self.folder = folder
        self.env = {
            "REDIS_URL": settings.REDIS_URL,
            "LINEUP_VAR_DIR": str(folder),
            "LINEUP_FUNCTION_MODULES": "tests.support.functions",
            "LINEUP_SWEEP_SECONDS": "0.2",
            "LOG_LEVEL": "WARNING",
        } | env
        self.processes: list[subprocess.Popen] = []

    def worker(self, pool: str, concurrency: int = 1) -> subprocess.Popen:
        command = processes.worker_command(
            pools=[pool],
            concurrency=concurrency,
            name=f"w{uuid.uuid4().hex[:6]}",
            loglevel="WARNING",
        )
        log = open(self.folder / f"worker-{len(self.processes)}.log", "w")
        process = processes.start(
            command, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def daphne(self) -> int:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
            cwd=ROOT,
            env={**os.environ, **self.env},
            check=True,
        )
        port = embedded_redis.free_port()
        log = open(self.folder / f"daphne-{port}.log", "w")
        (process,) = processes.start_web(
            port=port, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        processes.wait_until_serving(port, process=process)
        return port

    def kill(self, process: subprocess.Popen) -> None:
        """kill -9: the process gets no chance to clean up."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self.processes.remove(process)

    def stop(self) -> None:
        for process in self.processes:
            processes.stop(process)
        self.processes.clear()


def wait_until_ended(slug: str, job_ids: list[str], timeout: float) -> None:
    """Wait until none of the jobs waits or runs."""
    deadline = time.monotonic() + timeout
    store = get_store()
    while time.monotonic() < deadline:
        with store.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(job_key(slug, job_id), "status")
            statuses = pipe.execute()
        if all(status not in ("waiting", "running") for status in statuses):
            return
        time.sleep(0.1)
    raise TimeoutError(f"jobs of {slug} still waiting or running after {timeout} s")


def wait_until_delivered(slug: str, timeout: float) -> None:
    """Wait until every recorded ending was sent to its visitor (the outbox is empty)."""
    deadline = time.monotonic() + timeout
    while get_store().redis.zcard(key(slug, "outbox")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"endings of {slug} still undelivered after {timeout} s")
        time.sleep(0.1)


def max_overlap(runs: list[dict]) -> int:
    """The most runs in progress at one moment."""
    edges = sorted([(run["start"], 1) for run in runs] + [(run["end"], -1) for run in runs])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most
