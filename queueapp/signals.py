"""Mirror each demo's queue settings to Redis as soon as an admin saves them, and the
site's tiers, part of every demo's settings."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from models_registry.models import Demo

from .models import DemoTier, Tier
from .services.demos import demo_config_publish, demo_config_withdraw, demos_config_publish_all


@receiver(post_save, sender=Demo)
def publish_demo_settings(sender, instance: Demo, **kwargs) -> None:
    transaction.on_commit(lambda: demo_config_publish(demo=instance))


@receiver(post_delete, sender=Demo)
def withdraw_demo(sender, instance: Demo, **kwargs) -> None:
    transaction.on_commit(lambda: demo_config_withdraw(slug=instance.slug))


@receiver(post_save, sender=Tier)
@receiver(post_delete, sender=Tier)
def publish_tiers(sender, instance: Tier, **kwargs) -> None:
    transaction.on_commit(demos_config_publish_all)


@receiver(post_save, sender=DemoTier)
@receiver(post_delete, sender=DemoTier)
def publish_demo_terms(sender, instance: DemoTier, **kwargs) -> None:
    demo_id = instance.demo_id
    transaction.on_commit(lambda: _publish_demo(demo_id))


def _publish_demo(demo_id: int) -> None:
    demo = Demo.objects.filter(pk=demo_id).first()
    if demo:  # not deleted with its terms
        demo_config_publish(demo=demo)
