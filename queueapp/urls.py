from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import path

from . import api, gradio, metrics, openapi, views

urlpatterns = [
    path("", views.demo_list, name="demo-list"),
    path("demos/<slug:slug>/", views.demo_page, name="demo-page"),
    path("demos/<slug:slug>/api/", views.demo_api, name="demo-api"),
    # Gradio's clients, at the demo's own URL (docs/gradio-clients.md).
    path("demos/<slug:slug>/config", gradio.config, name="gradio-config"),
    path("demos/<slug:slug>/gradio_api/info", gradio.info, name="gradio-info"),
    path("demos/<slug:slug>/gradio_api/queue/join", gradio.queue_join, name="gradio-join"),
    path("demos/<slug:slug>/gradio_api/queue/data", gradio.queue_data, name="gradio-data"),
    path("demos/<slug:slug>/gradio_api/cancel", gradio.cancel, name="gradio-cancel"),
    path("demos/<slug:slug>/gradio_api/upload", gradio.upload, name="gradio-upload"),
    path("demos/<slug:slug>/gradio_api/call/<str:name>", gradio.call, name="gradio-call"),
    path(
        "demos/<slug:slug>/gradio_api/call/<str:name>/<str:event_id>",
        gradio.call_events,
        name="gradio-call-events",
    ),
    path("demos/<slug:slug>/gradio_api/file=<path:path>", gradio.served_file, name="gradio-file"),
    path("socket-token/", views.socket_token, name="socket-token"),
    # Accounts: optional; a signed-in visitor's jobs belong to them.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="lineup/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", views.account, name="account"),
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", views.media_file, name="media-file"),
    path("metrics", metrics.metrics, name="metrics"),
    path("healthz", metrics.healthz, name="healthz"),
    path("readyz", metrics.readyz, name="readyz"),
    # The HTTP API (docs/api.md).
    path("api/v1/openapi.json", openapi.openapi_json, name="api-openapi"),
    path("api/v1/demos/", api.demo_list, name="api-demos"),
    path("api/v1/demos/<str:slug>/", api.demo_detail, name="api-demo"),
    path("api/v1/demos/<str:slug>/jobs/", api.job_create, name="api-jobs"),
    path("api/v1/demos/<str:slug>/predict/", api.predict, name="api-predict"),
    path("api/v1/demos/<str:slug>/jobs/<str:job_id>/", api.job_detail, name="api-job"),
]
