"""Mirror each demo's queue settings to Redis as soon as an admin saves them."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from models_registry.models import Demo

from .services.demos import demo_config_publish, demo_config_withdraw


@receiver(post_save, sender=Demo)
def publish_demo_settings(sender, instance: Demo, **kwargs) -> None:
    transaction.on_commit(lambda: demo_config_publish(demo=instance))


@receiver(post_delete, sender=Demo)
def withdraw_demo(sender, instance: Demo, **kwargs) -> None:
    transaction.on_commit(lambda: demo_config_withdraw(slug=instance.slug))
