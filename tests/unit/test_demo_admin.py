import os

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from models_registry.builtin_demos import BUILTIN_DEMOS
from models_registry.models import Demo
from models_registry.registry import all_functions
from queueapp.store import get_store

pytestmark = pytest.mark.django_db(transaction=True)


def demo(**fields) -> Demo:
    values = {"slug": "d", "title": "D", "function": "identity_text"} | fields
    return Demo(**values)


def test_batch_on_a_function_that_takes_no_batches_is_refused():
    with pytest.raises(ValidationError) as refused:
        demo(batch=True).full_clean()
    assert "does not accept batches" in str(refused.value.message_dict["batch"])


def test_batched_function_requires_batching_on():
    with pytest.raises(ValidationError) as refused:
        demo(function="trim_words").full_clean()
    assert "turn batching on" in str(refused.value.message_dict["batch"])


def test_unregistered_function_is_refused():
    with pytest.raises(ValidationError) as refused:
        demo(function="os.system").full_clean()
    assert "function" in refused.value.message_dict


def test_zero_concurrency_and_mismatched_examples_are_refused():
    with pytest.raises(ValidationError) as refused:
        demo(concurrency_count=0, examples=[["a", "b"]]).full_clean()
    assert set(refused.value.message_dict) >= {"concurrency_count", "examples"}


def test_batch_wait_without_batching_is_refused():
    with pytest.raises(ValidationError) as refused:
        demo(batch_wait_ms=50).full_clean()
    assert "batch_wait_ms" in refused.value.message_dict


def test_saving_a_demo_publishes_its_queue_settings(slug):
    saved = Demo.objects.create(
        slug=slug, title="T", function="trim_words", batch=True, max_batch_size=8, max_size=3
    )
    config = get_store().config(slug)
    assert config.function == "trim_words"
    assert (config.max_batch_size, config.max_size, config.batch) == (8, 3, True)

    saved.max_size = None
    saved.concurrency_count = 3
    saved.save()
    config = get_store().config(slug)
    assert (config.max_size, config.concurrency) == (None, 3)
    assert config.version == 2

    saved.delete()
    assert get_store().config(slug).enabled is False


def test_load_demos_creates_the_builtin_demos_and_keeps_admin_changes():
    call_command("load_demos")
    # Every built-in demo whose function is installed (the MiniLM one needs its extra).
    functions = all_functions()
    assert set(Demo.objects.values_list("slug", flat=True)) == {
        spec["slug"] for spec in BUILTIN_DEMOS if spec["function"] in functions
    }
    if os.environ.get("LINEUP_REQUIRE_MINILM"):
        assert Demo.objects.filter(slug="sentence-similarity").exists()
    Demo.objects.filter(slug="trim-words").update(max_batch_size=2)
    call_command("load_demos")
    assert Demo.objects.get(slug="trim-words").max_batch_size == 2
    call_command("load_demos", "--reset")
    assert Demo.objects.get(slug="trim-words").max_batch_size == 16


def test_admin_shows_queue_settings_and_refuses_bad_combinations(admin_client):
    call_command("load_demos")
    trim = Demo.objects.get(slug="trim-words")
    page = admin_client.get(f"/admin/models_registry/demo/{trim.pk}/change/").content.decode()
    for label in (
        "Concurrency count",
        "Max size",
        "Max batch size",
        "Batch wait ms",
        "Api open",
        "Worker pool",
    ):
        assert label in page
    assert "Changes apply to the next join or batch" in page
    assert "Queue statistics" in page and "Rejected: full / wait too long / visitor limit" in page

    form = {
        "title": "Echo",
        "slug": "echo-batched",
        "function": "identity_text",
        "enabled": "on",
        "examples": "[]",
        "concurrency_count": "1",
        "max_size": "",
        "job_timeout_seconds": "60",
        "expected_seconds": "1",
        "batch": "on",
        "max_batch_size": "4",
        "batch_wait_ms": "0",
        "worker_pool": "default",
        # The tiers' terms in the demo: none.
        "tier_terms-TOTAL_FORMS": "0",
        "tier_terms-INITIAL_FORMS": "0",
    }
    response = admin_client.post("/admin/models_registry/demo/add/", form)
    assert response.status_code == 200
    assert "does not accept batches" in response.content.decode()
    assert not Demo.objects.filter(slug="echo-batched").exists()

    form.pop("batch")
    response = admin_client.post("/admin/models_registry/demo/add/", form)
    assert response.status_code == 302
    assert Demo.objects.filter(slug="echo-batched").exists()


def test_load_demos_leaves_out_a_demo_whose_extra_is_missing(monkeypatch):
    from models_registry.management.commands import load_demos

    missing = {"slug": "needs-extra", "title": "Needs an extra", "function": "not_installed"}
    monkeypatch.setattr(load_demos, "BUILTIN_DEMOS", [*BUILTIN_DEMOS, missing])
    call_command("load_demos")
    assert not Demo.objects.filter(slug="needs-extra").exists()
    assert Demo.objects.filter(slug="text-echo").exists()
