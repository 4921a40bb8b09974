"""Mirror each demo's queue settings to Redis as soon as an admin saves them."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from .models import Demo


@receiver(post_save, sender=Demo)
def publish_demo_settings(sender, instance: Demo, **kwargs) -> None:
    from queueapp.services import demo_config_publish

    transaction.on_commit(lambda: demo_config_publish(demo=instance))


@receiver(post_delete, sender=Demo)
def withdraw_demo(sender, instance: Demo, **kwargs) -> None:
    from queueapp.services import demo_config_withdraw

    transaction.on_commit(lambda: demo_config_withdraw(slug=instance.slug))
