"""The queue's storage: one small interface, with Redis as its implementation.

- `base`: what the engine needs from its storage, and the typed replies of its operations;
- `keys`: every Redis key's name;
- `scripts`: the Lua scripts (lua/), each with its KEYS/ARGV and the reading of its reply;
- `redis_store`: the implementation on Redis, and this process's store.
"""

from .base import (
    UNFINISHED_JOB_TTL,
    Admission,
    Change,
    Ending,
    JobRecord,
    QueueStore,
    Reaped,
    Resumed,
    Taken,
    TakenJob,
    Undelivered,
)
from .keys import job_key, key, pool_key, worker_key
from .redis_store import get_async_store, get_store

__all__ = [
    "UNFINISHED_JOB_TTL",
    "Admission",
    "Change",
    "Ending",
    "JobRecord",
    "QueueStore",
    "Reaped",
    "Resumed",
    "Taken",
    "TakenJob",
    "Undelivered",
    "get_async_store",
    "get_store",
    "job_key",
    "key",
    "pool_key",
    "worker_key",
]
