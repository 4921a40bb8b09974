"""Every key a Lua script touches is one it was given in KEYS, as Redis asks of scripts (Redis
Cluster and Redis-compatible servers enforce it). Redis itself lets a script reach an
undeclared key of the same slot, so this test watches the server with MONITOR while every
script runs through its paths, and compares the keys of each command a script ran (as
`COMMAND GETKEYS` names them) with the keys the script was called with."""

import re
import socket
import time
from urllib.parse import urlparse

from django.conf import settings
from redis.exceptions import ResponseError

from queueapp.line import VisitorLimits
from queueapp.store import Ending, get_store, key

END_MARK = "lineup-key-audit-end"
ARGUMENT = re.compile(r'"((?:[^"\\]|\\.)*)"')
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", '"': '"', "\\": "\\"}


def unescape(text: str) -> str:
    """An argument as MONITOR quotes it, back to its text."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            if text[i + 1] == "x":
                out.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
                continue
            out.append(ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


class Monitor:
    """A raw MONITOR connection to the test's Redis."""

    def __init__(self) -> None:
        url = urlparse(settings.REDIS_URL)
        self.socket = socket.create_connection((url.hostname, url.port or 6379))
        self.file = self.socket.makefile("rb")
        self.socket.sendall(b"MONITOR\r\n")
        assert self.file.readline().strip() == b"+OK"

    def lines_until_the_end(self) -> list[str]:
        get_store().redis.echo(END_MARK)
        lines = []
        while True:
            line = self.file.readline().decode("latin-1").rstrip("\r\n")
            if END_MARK in line:
                self.socket.close()
                return lines
            lines.append(line)


def keys_of(command: list[str]) -> set[str]:
    """The keys a command touches, as Redis itself names them."""
    connection = get_store().redis.connection_pool.get_connection()
    try:
        connection.send_command("COMMAND", "GETKEYS", *command)
        return set(connection.read_response())
    except ResponseError:
        return set()  # a command without keys (TIME)
    finally:
        get_store().redis.connection_pool.release(connection)


def undeclared(lines: list[str]) -> tuple[list[tuple[str, str]], int]:
    """Each (command, key) a script ran on a key it was not given; and how many commands ran
    inside scripts."""
    declared: set[str] = set()
    found, inside = [], 0
    for line in lines:
        if not line.startswith("+") or " [" not in line:
            continue
        source = line.split(" [", 1)[1].split("]", 1)[0]
        command = [unescape(a) for a in ARGUMENT.findall(line.split("] ", 1)[1])]
        if not command:
            continue
        if command[0].upper() in ("EVAL", "EVALSHA"):
            declared = set(command[3 : 3 + int(command[2])])
        elif source.endswith(" lua"):
            inside += 1
            found += [(command[0], k) for k in sorted(keys_of(command) - declared)]
    return found, inside


def test_every_script_touches_only_the_keys_it_declares(slug, publish, settings):
    settings.LINEUP_SLOT_LEASE_SECONDS = 0.2
    store = get_store()
    limits = VisitorLimits(address_active=2, owner_rate=5, address_rate=50)
    monitor = Monitor()

    def join(job_id: str, owner: str = "o", **kwargs):
        return store.join(
            slug,
            job_id=job_id,
            owner=owner,
            channel=f"ch-{job_id}",
            inputs=["x"],
            address="10.0.0.1",
            version=store.config(slug).version,
            **{"limits": limits} | kwargs,
        )

    # join: admitted; stale; refused by every rule.
    publish(batch=True, function="trim_words", max_batch_size=2, max_size=3, batch_wait_ms=50)
    assert join("a", "o1").status == "ok"
    assert store.join(slug, job_id="s", owner="o", channel="", inputs=[], version=-1).status == (
        "stale"
    )
    assert join("b", "o1", max_rank=0).status == "too_long"
    assert join("c", "o2").status == "ok"
    assert join("d", "o3").status == "address_limit"
    for n in range(5):
        join(f"r{n}", "o4")
    assert join("r5", "o4").status == "rate_limit"
    publish(batch=True, function="trim_words", max_batch_size=2, max_size=1)
    assert join("f", "o5", limits=VisitorLimits()).status == "full"

    # take_batch: waits for a fuller batch, takes one; finishing it lingers on the empty
    # line.
    publish(batch=True, function="trim_words", max_batch_size=4, batch_wait_ms=60_000)
    assert store.take_batch(slug, slot="w1").status == "wait"
    publish(batch=True, function="trim_words", max_batch_size=4)
    taken = store.take_batch(slug, slot="w1")
    assert [job.id for job in taken.jobs] == ["a", "c"]
    assert store.renew(slug, slot="w1")
    assert store.note_live(slug, ["a"], "progress", [{"index": 1}]) == ["ch-a"]
    endings = [Ending("a", "completed", ["A"]), Ending("c", "failed", {"code": "x"})]
    channels, following = store.finish_and_take(
        slug, slot="w1", endings=endings, duration=0.1, linger=1
    )
    assert (channels, following.status) == (["ch-a", "ch-c"], "idle")
    assert [lost.job_id for lost in store.undelivered(slug, older_than=0)] == ["a", "c"]
    assert store.take_batch(slug, slot="w1").status == "empty"

    # resume, detach and expiry; cancel; a dead worker's jobs requeued, then failed; clear.
    publish(max_jobs_per_visitor=None)
    for job_id in ("g", "h", "i", "j"):
        assert join(job_id, f"owner-{job_id}", limits=VisitorLimits()).status == "ok"
    assert store.resume(slug, job_id="g", owner="owner-g", channel="new").status == "waiting"
    store.detach(slug, ["g"], channel="new", grace_seconds=0)
    assert store.cancel(slug, job_id="h", owner="owner-h")[0] == "cancelled"
    assert [change.what for change in store.reap(slug).changes] == ["expired"]
    assert [job.id for job in store.take_batch(slug, slot="doomed").jobs] == ["i"]
    time.sleep(0.3)  # the worker holding "i" died: its lease ran out
    assert [change.what for change in store.reap(slug).changes] == ["requeued"]
    settings.LINEUP_MAX_ATTEMPTS = 1
    assert [job.id for job in store.take_batch(slug, slot="doomed-too").jobs] == ["i"]
    time.sleep(0.3)
    assert [change.what for change in store.reap(slug).changes] == ["failed"]
    seq, cleared = store.clear(slug, error={"code": "line_cleared", "message": "cleared"})
    assert [job_id for job_id, _, _ in cleared] == ["j"]
    assert store.queue_size(slug) == 0

    found, inside = undeclared(monitor.lines_until_the_end())
    assert inside > 100  # the scripts' own commands were seen
    assert found == []


def test_the_audit_sees_a_script_that_reaches_an_undeclared_key(slug):
    """The audit itself can fail: a script that writes a key it was not given is caught."""
    store = get_store()
    monitor = Monitor()
    script = "redis.call('SET', KEYS[1], 1); redis.call('SET', KEYS[1] .. ':hidden', 1)"
    store.redis.eval(script, 1, key(slug, "declared"))
    found, _ = undeclared(monitor.lines_until_the_end())
    assert found == [("SET", key(slug, "declared") + ":hidden")]
