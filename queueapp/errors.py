"""The one kind of refusal the queue gives, whichever way a request came in."""


class QueueError(Exception):
    """A refusal with a machine-readable code and a message for people; `details` add
    fields to the answer (e.g. `retry_after`)."""

    def __init__(self, code: str, message: str, **details):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def unavailable() -> QueueError:
    """The queue's store (Redis) cannot be reached for a moment: down, or failing over."""
    return QueueError(
        "unavailable",
        "The line cannot be reached for a moment; please try again shortly.",
        retry_after=5,
    )
