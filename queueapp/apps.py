from django.apps import AppConfig


class QueueAppConfig(AppConfig):
    name = "queueapp"
    verbose_name = "Queue"

    def ready(self) -> None:
        # The checks of the Redis given; publishing a demo's settings when it is saved.
        from . import checks, signals  # noqa: F401
