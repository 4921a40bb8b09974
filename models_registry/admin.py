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
    readonly_fields = (
        "function_signature",
        "waiting_now",
        "queue_statistics",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            "Demo",
            {
                "fields": (
                    "title",
                    "slug",
                    "description",
                    "function",
                    "function_signature",
                    "enabled",
                    "examples",
                )
            },
        ),
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
        ("Statistics", {"fields": ("queue_statistics",)}),
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

    @admin.display(description="Queue statistics")
    def queue_statistics(self, demo: Demo) -> str:
        from queueapp.selectors import demo_stats

        if not demo.pk:
            return "-"
        stats = demo_stats(slug=demo.slug)

        def seconds(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f} s"

        rows = [
            ("Waiting / running now", f"{stats['waiting']} / {stats['running']}"),
            ("Admitted", stats["admitted"]),
            (
                "Completed / failed / cancelled / expired",
                "{completed} / {failed} / {cancelled} / {expired}".format(**stats),
            ),
            (
                "Timeouts / requeued after a worker died",
                f"{stats['timeouts']} / {stats['requeued']}",
            ),
            (
                "Rejected: full / wait too long / visitor limit",
                "{full} / {too_long} / {owner_limit}".format(**stats["rejected"]),
            ),
            (
                "Batches / mean batch size",
                f"{stats['batches']} / {stats['mean_batch_size'] or 0:.2f}",
            ),
            (
                "Wait p50 / p95",
                f"{seconds(stats['wait_seconds']['p50'])} / {seconds(stats['wait_seconds']['p95'])}",
            ),
            (
                "ETA error mean / mean absolute",
                f"{seconds(stats['eta_error_seconds']['mean'])} / {seconds(stats['eta_error_seconds']['mean_abs'])}",
            ),
        ]
        rows += [
            (
                f"Run time, batches of {size}: mean / p95 ({run['count']})",
                f"{seconds(run['mean'])} / {seconds(run['p95'])}",
            )
            for size, run in stats["run_seconds_by_batch_size"].items()
        ]
        body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        return format_html('<table class="queue-stats">{}</table>', body)

    @admin.display(description="Waiting now")
    def waiting_now(self, demo: Demo) -> int | str:
        from queueapp.store import get_store

        if not demo.pk:
            return "-"
        return get_store().queue_size(demo.slug)
