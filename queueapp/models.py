"""Who is calling: API keys, each belonging to a user, and the tiers visitors belong to."""

import hashlib

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .line import DEFAULT_LANE


class ApiKey(models.Model):
    """A key a user's scripts call with (`Authorization: Bearer <key>`). Only its SHA-256
    digest is kept: the key itself is shown once, when it is made. Revoking deletes it."""

    PREFIX = "lk_"  # every key starts so, which tells a key from any other token

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100, help_text="What the key is for.")
    start = models.CharField(
        max_length=12, editable=False, help_text="The key's first characters, to tell keys apart."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API key"
        ordering = ("-created",)

    def __str__(self) -> str:
        return f"{self.name} ({self.start}…)"

    @staticmethod
    def digest_of(raw: str) -> str:
        # Keys are random and long: a fast hash keeps them as safe as a slow one would.
        return hashlib.sha256(raw.encode()).hexdigest()


def validate_lane_name(slug: str) -> None:
    if slug == DEFAULT_LANE.name:
        raise ValidationError(f"'{slug}' is the lane of visitors without a tier; choose another.")


class Tier(models.Model):
    """A class of visitors with a lane of its own in every line. While a line is busy, its
    lanes take turns in proportion to their weights, first come first served within each
    (docs/architecture.md, "Lanes"). A user belongs to the tiers given to them or to their
    groups, the heaviest counting; others to the tiers marked for them."""

    ANONYMOUS, SIGNED_IN = "anonymous", "signed_in"
    DEFAULT_FOR = [
        ("", "its members only"),
        (ANONYMOUS, "visitors who are not signed in"),
        (SIGNED_IN, "signed-in users without a tier of their own"),
    ]

    name = models.CharField(max_length=60)
    slug = models.SlugField(
        max_length=40,
        unique=True,
        validators=[validate_lane_name],
        help_text="The lane's name.",
    )
    weight = models.PositiveIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Its share of each busy line's turns: a tier of weight 4 starts four jobs "
        "for each job of a tier of weight 1, while both have jobs waiting.",
    )
    max_active_jobs = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="The most jobs one visitor of this tier may have waiting or running in one "
        "line. Empty: the demo's own limit.",
    )
    daily_gpu_seconds = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="The GPU seconds one visitor of this tier may use a day (UTC), across all "
        "demos: each job counts its share of its batch's run time. A join that would need "
        "more than is left is refused. Empty: no quota.",
    )
    default_for = models.CharField(
        max_length=12,
        choices=DEFAULT_FOR,
        blank=True,
        help_text="Who is in it without being given it.",
    )
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="tiers")
    groups = models.ManyToManyField(Group, blank=True, related_name="tiers")

    class Meta:
        ordering = ("-weight", "name")
        constraints = [
            models.UniqueConstraint(
                fields=["default_for"],
                condition=~models.Q(default_for=""),
                name="one_tier_for_each_kind_of_visitor",
                violation_error_message="Another tier is already the one for these visitors.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class DemoTier(models.Model):
    """A tier's terms in one demo: refused there, or a share of its busy line's turns kept
    for it (its weight there is raised as far as the share needs)."""

    demo = models.ForeignKey(
        "models_registry.Demo", on_delete=models.CASCADE, related_name="tier_terms"
    )
    tier = models.ForeignKey(Tier, on_delete=models.CASCADE, related_name="demo_terms")
    refused = models.BooleanField(
        default=False, help_text="Visitors of this tier may not use this demo."
    )
    min_share = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text="The percentage of this demo's turns kept for the tier while its line is "
        "busy, whatever the weights of the others. Empty: its weight alone.",
    )

    class Meta:
        verbose_name = "tier's terms"
        verbose_name_plural = "tiers' terms"
        constraints = [
            models.UniqueConstraint(fields=["demo", "tier"], name="one_set_of_terms_per_tier")
        ]

    def __str__(self) -> str:
        return f"{self.tier} in {self.demo}"
