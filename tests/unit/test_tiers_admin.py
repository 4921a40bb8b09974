"""What operators see of tiers: each lane of a line on the dashboard, and a user's tier and
GPU time on their admin page."""

import time

import pytest
from django.contrib.auth.models import User

from models_registry.models import Demo
from queueapp import access
from queueapp.line import Lane, quota_day
from queueapp.models import Tier
from queueapp.store import get_store
from queueapp.store.keys import usage_key

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_dashboard_shows_each_lane_of_a_busy_line(admin_client):
    slug = "lanes-dashboard"
    Demo.objects.create(slug=slug, title="Lanes", function="identity_text")  # published
    store = get_store()
    team, everyone = Lane("team", weight=4), Lane("everyone")
    for n in range(3):
        store.join(slug, job_id=f"e{n}", owner=f"e{n}", channel="", inputs=["x"], lane=everyone)
    for n in range(2):
        store.join(slug, job_id=f"t{n}", owner=f"t{n}", channel="", inputs=["x"], lane=team)
    taken = store.take_batch(slug, slot="s")
    assert [job.id for job in taken.jobs] == ["e0"]  # the head of the line before the team came

    page = admin_client.get("/admin/models_registry/demo/dashboard/?refresh=0").content.decode()
    section = page[page.index(f'data-demo="{slug}"') :]
    assert (
        '<tr data-lane="everyone"><th scope="row">everyone</th><td class="lane-waiting">2</td>'
        in section
    )
    assert (
        '<tr data-lane="team"><th scope="row">team</th><td class="lane-waiting">2</td>' in section
    )


def test_a_users_admin_page_shows_their_tier_and_gpu_time_today(admin_client):
    Tier.objects.create(name="Supporter", slug="supporter", daily_gpu_seconds=600)
    ada = User.objects.create_user("ada")
    ada.tiers.add(Tier.objects.get(slug="supporter"))
    Demo.objects.create(slug="usage-demo", title="Usage", function="identity_text")
    owner = access.user_owner(ada.pk)
    get_store().redis.hincrbyfloat(usage_key("usage-demo", quota_day(time.time())), owner, 12.5)
    page = admin_client.get(f"/admin/auth/user/{ada.pk}/change/").content.decode()
    assert "Supporter: 12.5 s used today of 600 s." in page
