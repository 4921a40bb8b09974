"""The one kind of refusal the queue gives, whichever way a request came in."""


class QueueError(Exception):
    """A refusal with a machine-readable code and a message for people; `details` add
    fields to the answer (e.g. `retry_after`)."""

    def __init__(self, code: str, message: str, **details):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
