from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from models_registry.models import Demo
from models_registry.registry import get_function

from . import access
from .models import ApiKey, DemoTier, Tier
from .selectors import demo_dashboard, demo_stats, live_workers, queue_size, user_quota
from .services.accounts import api_key_fill
from .services.demos import demo_clear, demo_pause, demo_resume


def _refresh_seconds(request: HttpRequest) -> int:
    """The dashboard's ?refresh=<seconds>: how often it reloads itself (0: never; 5 if unset)."""
    value = request.GET.get("refresh", "5")
    return int(value) if value.isdecimal() and len(value) <= 4 else 5


class DemoTierInline(admin.TabularInline):
    """The tiers' terms in this demo: refused, or a share of its turns kept for them."""

    model = DemoTier
    extra = 0


@admin.register(Demo)
class DemoAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "slug",
        "function",
        "enabled",
        "paused",
        "concurrency_count",
        "max_size",
        "batch",
        "max_batch_size",
        "api_open",
        "worker_pool",
        "waiting_now",
    )
    list_filter = ("enabled", "paused", "batch", "api_open", "worker_pool")
    actions = ("pause_demos", "resume_demos", "clear_lines")
    inlines = (DemoTierInline,)
    change_list_template = "admin/models_registry/demo/change_list.html"
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
                    "paused",
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

    # --- the dashboard, and pausing, resuming and clearing a line ----------------------

    def get_urls(self):
        urls = [
            path("dashboard/", self.admin_site.admin_view(self.dashboard), name="lineup-dashboard"),
            path(
                "<int:pk>/line/<str:action>/",
                self.admin_site.admin_view(require_POST(self.line_action)),
                name="lineup-line-action",
            ),
        ]
        return urls + super().get_urls()

    def has_clear_line_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("models_registry.clear_line")

    def dashboard(self, request: HttpRequest) -> TemplateResponse:
        """Every demo's live numbers, charts of its last hour, and the live workers."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        demos = list(Demo.objects.order_by("title"))
        # The busiest lines first: what is in them now, then what they did this hour.
        boards = sorted(
            (demo_dashboard(demo=demo) for demo in demos),
            key=lambda board: (-board["in_line"], -board["ended_this_hour"]),
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Lineup dashboard",
            "refresh": _refresh_seconds(request),
            "demos": boards,
            "workers": live_workers(sorted({demo.worker_pool for demo in demos})),
            "can_change": self.has_change_permission(request),
            "can_clear": self.has_clear_line_permission(request),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/lineup_dashboard.html", context)

    def line_action(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        """Pause, resume or clear one demo's line, from the dashboard."""
        demo = get_object_or_404(Demo, pk=pk)
        self._line_action(request, [demo], action)
        dashboard = reverse("admin:lineup-dashboard")
        return HttpResponseRedirect(f"{dashboard}?refresh={_refresh_seconds(request)}")

    def _line_action(self, request: HttpRequest, demos, action: str) -> None:
        if action == "clear":
            if not self.has_clear_line_permission(request):
                raise PermissionDenied
            for demo in demos:
                cleared = demo_clear(slug=demo.slug)
                self.message_user(request, f"{demo.title}: cleared {cleared} waiting job(s).")
        elif action in ("pause", "resume"):
            if not self.has_change_permission(request):
                raise PermissionDenied
            for demo in demos:
                if action == "pause":
                    demo_pause(demo=demo)
                else:
                    demo_resume(demo=demo)
                self.message_user(request, f"{demo.title}: {action}d.")
        else:
            self.message_user(request, f"Unknown action '{action}'.", messages.ERROR)

    @admin.action(description="Pause the selected demos", permissions=["change"])
    def pause_demos(self, request: HttpRequest, queryset) -> None:
        self._line_action(request, queryset, "pause")

    @admin.action(description="Resume the selected demos", permissions=["change"])
    def resume_demos(self, request: HttpRequest, queryset) -> None:
        self._line_action(request, queryset, "resume")

    @admin.action(description="Clear the lines of the selected demos", permissions=["clear_line"])
    def clear_lines(self, request: HttpRequest, queryset) -> None:
        self._line_action(request, queryset, "clear")

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
                "Rejected: full / wait too long / visitor limit / address limit / rate / quota",
                "{full} / {too_long} / {owner_limit} / {address_limit} / {rate_limit} / {quota}".format(
                    **stats["rejected"]
                ),
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
        if not demo.pk:
            return "-"
        return queue_size(slug=demo.slug)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """API keys: made here for a user (the key is shown once, on saving) and revoked by
    deleting them."""

    list_display = ("name", "user", "start", "created")
    list_filter = ("created",)
    search_fields = ("name", "user__username", "start")
    fields = ("user", "name", "start", "created")
    readonly_fields = ("start", "created")
    autocomplete_fields = ("user",)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # a key is made or revoked, never edited

    def save_model(self, request: HttpRequest, obj: ApiKey, form, change: bool) -> None:
        obj.raw = api_key_fill(obj)  # for `response_add` alone: kept nowhere
        super().save_model(request, obj, form, change)

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue=None):
        """The page that shows the new key, once (not a message: those may travel in a
        cookie)."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "New API key",
            "key": obj,
            "raw": obj.raw,
        }
        return TemplateResponse(request, "admin/queueapp/apikey/made.html", context)


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    """Tiers of visitors: each a lane of every line, with its weight and limits; a save
    applies to the next join."""

    list_display = ("name", "slug", "weight", "max_active_jobs", "default_for")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("users", "groups")


class ApiKeyInline(admin.TabularInline):
    """A user's API keys, to revoke (delete) here; they are made under API keys."""

    model = ApiKey
    extra = 0
    fields = ("name", "start", "created")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class LineupUserAdmin(UserAdmin):
    """Django's user admin, with the user's tier, their GPU time today and their API keys."""

    readonly_fields = (*UserAdmin.readonly_fields, "gpu_time_today")
    fieldsets = (*UserAdmin.fieldsets, ("Lineup", {"fields": ("gpu_time_today",)}))
    inlines = (ApiKeyInline,)

    @admin.display(description="Tier and GPU time today")
    def gpu_time_today(self, user: User) -> str:
        if not user.pk:
            return "-"
        quota = user_quota(user_id=user.pk, owner=access.user_owner(user.pk))
        if quota is None:
            return "No tier."
        if quota.daily is None:
            return f"{quota.tier}: {quota.used:.1f} s used today, no quota."
        return f"{quota.tier}: {quota.used:.1f} s used today of {quota.daily:.0f} s."


admin.site.unregister(User)
admin.site.register(User, LineupUserAdmin)
