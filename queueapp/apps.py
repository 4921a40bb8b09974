from django.apps import AppConfig


class QueueAppConfig(AppConfig):
    name = "queueapp"
    verbose_name = "Queue"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (publishes a demo's settings when saved)
