"""Who may call: API keys, each belonging to a user."""

import hashlib

from django.conf import settings
from django.db import models


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
