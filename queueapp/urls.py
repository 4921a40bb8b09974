from django.conf import settings
from django.urls import path

from . import views

urlpatterns = [
    path("", views.demo_list, name="demo-list"),
    path("demos/<slug:slug>/", views.demo_page, name="demo-page"),
    path(f"{settings.MEDIA_URL.strip('/')}/<path:path>", views.media_file, name="media-file"),
]
