"""The stack's processes (daphne, Celery workers), as `make run`, the tests and the
benchmarks start them."""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

# How far above LINEUP_MAX_REQUEST_BYTES daphne drops a websocket message unread.
DAPHNE_MESSAGE_MARGIN = 1024 * 1024


def daphne_command(*, host: str = "127.0.0.1", port: int) -> list[str]:
    from django.conf import settings

    return [
        sys.executable,
        "-m",
        "daphne",
        "-b",
        host,
        "-p",
        str(port),
        "--websocket_timeout",
        "-1",
        "--ping-interval",
        "20",
        # Above Lineup's own limit, which answers an oversized message with a clear error
        # (daphne's defaults, 1 MiB, would drop a browser's larger image uploads).
        "--websocket-max-message-size",
        str(settings.LINEUP_MAX_REQUEST_BYTES + DAPHNE_MESSAGE_MARGIN),
        "--websocket-max-frame-size",
        str(settings.LINEUP_MAX_REQUEST_BYTES + DAPHNE_MESSAGE_MARGIN),
        "demo_site.asgi:application",
    ]


def worker_command(
    *, pools: Sequence[str], concurrency: int = 1, name: str = "lineup", loglevel: str = "INFO"
) -> list[str]:
    """A Celery worker on `pools`; threads, so models load once per process."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "demo_site",
        "worker",
        "-Q",
        ",".join(pools),
        "-P",
        "threads",
        "-c",
        str(concurrency),
        "-n",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        loglevel,
    ]


def start(command: list[str], *, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Start a child in its own process group, so it can be stopped with its children."""
    return subprocess.Popen(
        command, env={**os.environ, **(env or {})}, start_new_session=True, **kwargs
    )


def stop(process: subprocess.Popen, *, timeout: float = 10) -> None:
    """Stop a child started by `start`: SIGTERM to its group, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def wait_for_port(port: int, *, host: str = "127.0.0.1", timeout: float = 30, process=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before listening on {port}"
            )
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")
