"""The Celery app that GPU and CPU worker nodes run: `celery -A demo_site worker -Q <pool>`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_site.settings")

app = Celery("lineup")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
