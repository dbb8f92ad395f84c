"""Group-level charts: each member's value per bucket, then the members' average or the worst
member, over live members of the group only; the page section and its empty state."""

import datetime as dt

import pytest
from django.utils import timezone

from monitoring import series, store
from monitoring.tests.test_storage import make_server, result
from servers import actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def group():
    now = timezone.now().replace(second=0, microsecond=0)
    group = actions.create_group("Prod")
    a, b, outsider = make_server("SQLA"), make_server("SQLB"), make_server("SQLOUT")
    actions.add_to_group(group, [a, b])
    at = now - dt.timedelta(minutes=10)
    store.write([result(a, at, cpu=20), result(b, at, cpu=60), result(outsider, at, cpu=99)])
    return group


def cpu_points(group, aggregate):
    data = series.group_series(group.pk, "cpu", "1h", aggregate)
    [line] = data["series"]
    return [p[1] for p in line["points"]], line["name"]


def test_average_of_members(group):
    assert cpu_points(group, "avg") == ([40.0], "Average of members")


def test_worst_member(group):
    assert cpu_points(group, "max") == ([60.0], "Worst member")


def test_a_deleted_member_no_longer_counts(group):
    from servers.models import Server

    actions.delete_servers([Server.objects.get(name="SQLB")])
    assert cpu_points(group, "max") == ([20.0], "Worst member")


def test_section_draws_four_charts_and_keeps_range_and_aggregate(client, make_user, group):
    from dbtools.tenancy import current
    from tenants.models import Tenant

    client.force_login(make_user("vi", Tenant.objects.get(pk=current().id), "viewer"))
    html = client.get(f"/groups/{group.pk}/metrics?range=6h&agg=max").content.decode()
    assert html.count("<figure") == 4
    assert f'href="/groups/{group.pk}/metrics?range=24h&amp;agg=max"' in html
    assert 'aria-current="true">Worst member' in html
    empty = actions.create_group("Empty")
    html = client.get(f"/groups/{empty.pk}/metrics?range=bogus&agg=bogus").content.decode()
    assert "No data for this range" in html
    assert 'aria-current="true">1h' in html and 'aria-current="true">Average of members' in html
