from django.apps import AppConfig


class QueueAppConfig(AppConfig):
    name = "queueapp"
    verbose_name = "Queue"
