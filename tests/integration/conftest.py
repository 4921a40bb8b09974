import pytest

from models_registry.models import Demo
from queueapp.line import LineConfig
from queueapp.store import get_store


@pytest.fixture
def publish(slug):
    """Publish queue settings for the test's demo, as an admin's save would."""

    def publish(**fields) -> LineConfig:
        # "nowhere": no worker serves this pool, so the test alone drives the line.
        values = {
            "slug": slug,
            "title": slug,
            "function": "identity_text",
            "worker_pool": "nowhere",
        } | fields
        config = LineConfig.from_demo(Demo(**values))
        get_store().publish_config(slug, config)
        return config

    return publish
