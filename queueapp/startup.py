"""What a web process prepares once, as it starts, rather than for the first visitors of a
burst: the registered functions, the Redis scripts, the URL routes, and Celery's way of
publishing a wake-up (its modules, its result backend and a broker connection). A cold
process paid all of it inside its first visitors' joins."""

import logging
import threading

from celery import current_app
from django.urls import get_resolver

from models_registry.registry import all_functions

from .store import get_store

log = logging.getLogger(__name__)


def prepare_web_process() -> None:
    """Load now what the first visitors would load; what fails to load is left to them
    (a function module that does not import costs its demo's joins, not the site)."""
    try:
        all_functions()
        get_resolver().url_patterns  # noqa: B018 (imports every view module)
        get_store()
        current_app.amqp.send_task_message  # noqa: B018 (builds the publisher)
        current_app.backend  # noqa: B018 (the one result backend of every thread)
    except Exception:
        log.exception("preparing the web process failed; its first visitors load the rest")
    # Connecting waits on the network: in a thread, so the process serves at once, and a
    # broker that is down costs a line in the log, not the start.
    threading.Thread(target=_connect_broker, name="lineup-broker", daemon=True).start()


def _connect_broker() -> None:
    try:
        with current_app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
            producer.channel  # noqa: B018 (opens the channel a wake-up publishes on)
    except Exception as error:  # the first wake-up connects instead
        log.warning("the broker could not be reached at start: %s", error)
