"""Every Redis key the queue uses, named in one place (the table in docs/architecture.md).

A demo's keys carry its slug as a hash tag (`lineup:{slug}:...`), so each script's keys live
on one Redis Cluster slot.
"""

PREFIX = "lineup"
# Demos whose settings were published: what the sweepers visit.
DEMOS_KEY = f"{PREFIX}:demos"
# A fresh random value each time an API key is revoked or a user deactivated: sockets
# showing a key check it again when it changes.
REVOCATIONS_KEY = f"{PREFIX}:revocations"


def line_prefix(slug: str) -> str:
    """The start of every key of the demo's line."""
    return f"{PREFIX}:{{{slug}}}:"


def key(slug: str, name: str) -> str:
    """A key of the demo's line: config, ticket, lanes, seq, waiting, running, slots, idle,
    bell, woken, detached, outbox, active, stats, hist, minutes, waits, eta_errors,
    runs:<size>, batch_sizes."""
    return line_prefix(slug) + name


def job_key(slug: str, job_id: str) -> str:
    return key(slug, f"job:{job_id}")


def session_key(slug: str, session: str) -> str:
    """A client session's jobs in the demo (Gradio's `session_hash`), by when they joined."""
    return key(slug, f"session:{session}")


def usage_key(slug: str, day: int) -> str:
    """The GPU seconds each owner was charged in the demo's line on a day (`quota_day`)."""
    return key(slug, f"usage:{day}")


def rate_key(slug: str, who: str, name: str | None) -> str:
    """Joins this minute by an owner (`who` "owner") or an address (`who` "address")."""
    return key(slug, f"rate:{who}:{name}")


def worker_key(name: str) -> str:
    """What a worker process announced, for as long as its heartbeat lasts."""
    return f"{PREFIX}:worker:{name}"


def pool_key(pool: str) -> str:
    """The pool's live workers, by the time their last heartbeat expires."""
    return f"{PREFIX}:pool:{pool}"


def requests_key(name: str) -> str:
    """A counter of requests (e.g. an address's HTTP API calls) in the current minute."""
    return f"{PREFIX}:requests:{name}"
