from django.contrib import admin
from django.utils.html import format_html, format_html_join

from .models import Demo
from .registry import get_function


@admin.register(Demo)
class DemoAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "slug",
        "function",
        "enabled",
        "concurrency_count",
        "max_size",
        "batch",
        "max_batch_size",
        "api_open",
        "worker_pool",
        "waiting_now",
    )
    list_filter = ("enabled", "batch", "api_open", "worker_pool")
    search_fields = ("title", "slug", "function")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("function_signature", "waiting_now", "created_at", "updated_at")
    fieldsets = (
        ("Demo", {"fields": ("title", "slug", "description", "function", "function_signature", "enabled", "examples")}),
        (
            "Queue",
            {
                "description": "Changes apply to the next join or batch; nothing needs a restart.",
                "fields": (
                    "concurrency_count",
                    "max_size",
                    "max_wait_seconds",
                    "max_jobs_per_visitor",
                    "job_timeout_seconds",
                    "expected_seconds",
                    "waiting_now",
                ),
            },
        ),
        ("Batching", {"fields": ("batch", "max_batch_size", "batch_wait_ms")}),
        ("Access and workers", {"fields": ("api_open", "worker_pool")}),
        ("History", {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Inputs and outputs")
    def function_signature(self, demo: Demo) -> str:
        try:
            function = get_function(demo.function)
        except KeyError:
            return "-"
        describe = format_html_join(", ", "{} ({})", ((c.label, c.kind) for c in function.inputs))
        produce = format_html_join(", ", "{} ({})", ((c.label, c.kind) for c in function.outputs))
        batched = "batched" if function.batch else "one job at a time"
        return format_html("{} &rarr; {}; {}", describe, produce, batched)

    @admin.display(description="Waiting now")
    def waiting_now(self, demo: Demo) -> int | str:
        from queueapp.store import get_store

        if not demo.pk:
            return "-"
        return get_store().queue_size(demo.slug)
