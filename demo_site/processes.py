"""The stack's processes (daphne, Celery workers), as `make run`, the tests and the
benchmarks start them."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

# How far above LINEUP_MAX_REQUEST_BYTES daphne drops a websocket message unread.
DAPHNE_MESSAGE_MARGIN = 1024 * 1024


# Connections the kernel holds for the web processes before they accept them. Twisted's
# default, 50, drops the SYNs of a burst beyond it (the visitor's connect then waits a second
# or more for its retry); the kernel caps this at net.core.somaxconn.
LISTEN_BACKLOG = 4096


def daphne_command(*, fd: int, app: str = "demo_site.asgi:application") -> list[str]:
    """daphne serving `app` on the listening IPv4 socket `fd`."""
    from django.conf import settings

    message_limit = str(settings.LINEUP_MAX_REQUEST_BYTES + DAPHNE_MESSAGE_MARGIN)
    return [
        sys.executable,
        "-m",
        "daphne",
        "--fd",
        str(fd),
        # Warnings and errors only: no access log line for every request and websocket
        # (nginx keeps the access log in production).
        "-v",
        "0",
        "--websocket_timeout",
        "-1",
        "--websocket_connect_timeout",
        str(settings.LINEUP_WEBSOCKET_CONNECT_TIMEOUT),
        "--ping-interval",
        "20",
        # Above Lineup's own limit, which answers an oversized message with a clear error
        # (daphne's defaults, 1 MiB, would drop a browser's larger image uploads).
        "--websocket-max-message-size",
        message_limit,
        "--websocket-max-frame-size",
        message_limit,
        app,
    ]


def start_web(
    *,
    host: str = "127.0.0.1",
    port: int,
    count: int = 1,
    app: str = "demo_site.asgi:application",
    **kwargs,
) -> list[subprocess.Popen]:
    """`count` daphne processes sharing one socket listening on host:port (IPv4; nginx takes
    IPv6 in production); the kernel hands each new connection to one of them, as
    `deploy/supervisor` does with `--fd`."""
    listener = socket.create_server((host, port), backlog=LISTEN_BACKLOG)
    with listener:  # the children keep it open
        command = daphne_command(fd=listener.fileno(), app=app)
        return [start(command, pass_fds=(listener.fileno(),), **kwargs) for _ in range(count)]


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


def wait_until_serving(
    port: int, *, host: str = "127.0.0.1", path: str = "/healthz", timeout: float = 60, process=None
) -> None:
    """Until the web process behind `port` answers HTTP: a socket that was listening before
    the process started (see `start_web`) takes connections while it is still loading."""
    host = "127.0.0.1" if host == "0.0.0.0" else host
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answered, if not with a 200 (a host name not in ALLOWED_HOSTS)
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing serves on port {port} after {timeout} s")
