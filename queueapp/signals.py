"""Mirror each demo's queue settings to Redis as soon as an admin saves them, and the
site's tiers, part of every demo's settings; and note each revoked API key there, so the
sockets showing one check it again."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from models_registry.models import Demo

from .models import ApiKey, DemoTier, Tier
from .services.demos import demo_config_publish, demo_config_withdraw, demos_config_publish_all
from .store import get_store

User = get_user_model()


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


@receiver(m2m_changed, sender=Tier.users.through)
@receiver(m2m_changed, sender=Tier.groups.through)
@receiver(m2m_changed, sender=User.groups.through)
def publish_tier_members(sender, action: str, **kwargs) -> None:
    """Who has which tier is part of every demo's settings too (each web process keeps a
    signed-in user's lane until the settings change)."""
    if action.startswith("post_"):
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


@receiver(post_delete, sender=ApiKey)
def note_revocation(sender, instance: ApiKey, **kwargs) -> None:
    transaction.on_commit(lambda: get_store().note_revocation())


@receiver(post_save, sender=User)
def note_deactivation(sender, instance, **kwargs) -> None:
    """A deactivated user's keys are refused as revoked ones are."""
    if not instance.is_active:
        transaction.on_commit(lambda: get_store().note_revocation())
