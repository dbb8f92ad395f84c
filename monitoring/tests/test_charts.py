"""Charts: a gap where no sample exists, the range in the URL (Back works), and a rate chart
with one sample saying why it is empty."""

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from dbtools.tenancy import use_tenant
from monitoring import store
from monitoring.tests.test_storage import make_server, result
from tenants.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]


def test_gaps_url_state_and_rate_note(page, login, tenant_alpha):
    now = timezone.now().replace(second=0, microsecond=0)
    with use_tenant(tenant_alpha):
        gappy = make_server("SQLGAP01")
        # Four samples a minute apart, nothing for 27 minutes (collection was down), three more.
        minutes = [50, 49, 48, 47, 20, 19, 18]
        for m in minutes:  # one write per collection, as the collector does
            store.write([result(gappy, now - dt.timedelta(minutes=m), cpu=30 + m % 7)])
        single = make_server("SQLONE01")
        store.write([result(single, now - dt.timedelta(minutes=1))])
    user = get_user_model().objects.create_user("ch", password="Ch-pass-12345")
    Membership.objects.create(user=user, tenant=tenant_alpha, role="viewer")
    login("ch", "Ch-pass-12345")

    page.goto(f"/servers/{gappy.pk}/metrics")
    cpu = page.locator('figure[data-chart="series-cpu"]')
    expect(cpu.locator("canvas")).to_have_count(1)
    expect(cpu).to_have_attribute("data-gaps", "1")  # one break in the line, not a straight jump

    # The range is in the URL, and Back returns to the previous one, charts drawn.
    page.get_by_role("link", name="6h", exact=True).click()
    expect(page).to_have_url(re.compile(r"range=6h"))
    expect(page.get_by_role("link", name="6h", exact=True)).to_have_attribute(
        "aria-current", "true"
    )
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"range=6h"))
    expect(page.get_by_role("link", name="1h", exact=True)).to_have_attribute(
        "aria-current", "true"
    )
    expect(cpu.locator("canvas")).to_have_count(1)

    # One sample: the rate charts say why they are empty.
    page.goto(f"/servers/{single.pk}/metrics")
    expect(page.locator('figure[data-chart="series-cpu"] canvas')).to_have_count(1)
    expect(page.locator('figure[data-chart="series-batch_requests"]')).to_contain_text(
        "Rates need two samples"
    )
