import datetime as dt

import pytest
from django.utils import timezone

from monitoring import store
from monitoring.tests.test_storage import make_server, result

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def viewer_client(client, make_user, tenant_alpha):
    client.force_login(make_user("vv", tenant_alpha, "viewer"))
    return client


def test_dashboard_cards_tiles_and_groups(viewer_client):
    from servers import actions

    hot, calm = make_server("HOT"), make_server("CALM")
    make_server("NEW")
    store.write([result(hot, timezone.now(), cpu=99), result(calm, timezone.now(), cpu=10)])
    group = actions.create_group("Prod")
    actions.add_to_group(group, [hot, calm])
    page = viewer_client.get("/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-critical="1"' in html
    assert 'href="/servers/?health=critical"' in html
    assert 'class="tile tile-critical"' in html
    assert 'data-status="unknown"' in html  # NEW: never collected
    assert "Prod" in html
    partial = viewer_client.get("/", headers={"HX-Request": "true"}).content.decode()
    assert partial.lstrip().startswith('<div id="board"')


def test_dashboard_empty_state(viewer_client):
    assert b"Welcome to Alpha Corp" in viewer_client.get("/").content


def test_server_list_filters_by_health(viewer_client):
    hot, calm = make_server("HOT"), make_server("CALM")
    store.write([result(hot, timezone.now(), cpu=99), result(calm, timezone.now(), cpu=10)])
    html = viewer_client.get("/servers/?health=critical").content.decode()
    assert "HOT" in html
    assert "CALM" not in html


def test_metrics_tab_ranges_and_no_data(viewer_client):
    server = make_server()
    empty = viewer_client.get(f"/servers/{server.pk}/metrics")
    assert b"No data" in empty.content
    for i in range(3):
        store.write([result(server, timezone.now() - dt.timedelta(minutes=3 - i))])
    for rng in ("1h", "6h", "24h", "7d", "30d"):
        page = viewer_client.get(f"/servers/{server.pk}/metrics?range={rng}")
        assert page.status_code == 200
        assert b'data-chart="series-cpu"' in page.content
        assert b'id="series-cpu"' in page.content
    partial = viewer_client.get(
        f"/servers/{server.pk}/metrics?range=7d", headers={"HX-Request": "true"}
    )
    assert partial.content.lstrip().startswith(b'<div id="metrics-panel"')
    assert viewer_client.get("/servers/999999/metrics").status_code == 404


def test_collection_card_shows_state_and_saves(client, make_user, tenant_alpha):
    from core.models import ActivityLog
    from monitoring.models import CollectionConfig

    server = make_server()
    store.write([result(server, timezone.now())])
    client.force_login(make_user("op", tenant_alpha, "operator"))
    card = client.get(f"/servers/{server.pk}/collection").content.decode()
    assert "Last collected" in card
    assert "ago" in card
    url = f"/servers/{server.pk}/collection/save"
    for bad in (
        {"interval_seconds": 10},
        {"interval_seconds": 4000},
        {"interval_seconds": "x"},
        {},
    ):
        assert client.post(url, bad).status_code == 400
    assert not ActivityLog.objects.filter(action="server.collection_configured").exists()
    r = client.post(url, {"interval_seconds": 120})  # checkbox unticked: collection off
    assert r.status_code == 200
    config = CollectionConfig.objects.get(pk=server.pk)
    assert (config.enabled, config.interval_seconds) == (False, 120)
    assert "collection is off" in r.content.decode()


def test_viewer_sees_collection_without_form(viewer_client):
    server = make_server()
    card = viewer_client.get(f"/servers/{server.pk}/collection").content.decode()
    assert "<form" not in card
    assert (
        viewer_client.post(
            f"/servers/{server.pk}/collection/save", {"interval_seconds": 60}
        ).status_code
        == 403
    )


def test_reading_collection_settings_writes_nothing(viewer_client, api, make_user, tenant_alpha):
    """A viewer opening the card, or a GET of the API, sees the defaults without creating a
    row; the first change creates it."""
    from core.models import ActivityLog
    from monitoring.models import CollectionConfig

    server = make_server()
    card = viewer_client.get(f"/servers/{server.pk}/collection")
    assert card.status_code == 200
    body = api(make_user("reader", tenant_alpha, "viewer"), tenant_alpha).get(
        f"/api/servers/{server.pk}/collection-config"
    )
    assert body.status_code == 200
    assert body.json()["enabled"] is True
    assert body.json()["updated_at"] is None
    assert not CollectionConfig.objects.filter(pk=server.pk).exists()
    operator = api(make_user("writer", tenant_alpha, "operator"), tenant_alpha)
    assert operator.post(f"/api/servers/{server.pk}/collection/stop").status_code == 200
    assert CollectionConfig.objects.get(pk=server.pk).enabled is False
    entry = ActivityLog.objects.get(action="server.collection_configured")
    assert entry.user_name == "writer"


def test_dashboard_tiles_escape_what_users_typed(viewer_client):
    # Tiles are built as one string for speed (monitoring.views.TILE): nothing typed may run.
    make_server('<script>x</script>"q')
    html = viewer_client.get("/").content.decode()
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;&quot;q" in html


def test_dashboard_panels_have_their_empty_states(viewer_client):
    make_server("CALM")
    html = viewer_client.get("/").content.decode()
    assert "No alerts firing, none in the last day." in html
    assert "Nothing measured yet" in html
    assert "No job failed in the last 24 hours." in html
    assert "No backup of this tenant yet" in html


def test_dashboard_queries_do_not_grow_with_alerts_and_servers(viewer_client):
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    from alerts.models import Alert, AlertRule
    from dbtools import tenancy

    rule = AlertRule.objects.first()
    alias = tenancy.current().alias

    def fire(servers):
        now = timezone.now()
        Alert.objects.bulk_create(
            Alert(rule=rule, server=s, severity="critical", threshold=90, triggered_at=now)
            for s in servers
        )

    def queries():
        with CaptureQueriesContext(connections[alias]) as captured:
            assert viewer_client.get("/").status_code == 200
        return len(captured)

    fire([make_server(f"A{i}") for i in range(2)])
    few = queries()
    fire([make_server(f"B{i}") for i in range(20)])
    # One fewer with a full panel of firing alerts: no need to fill it with resolved ones.
    assert queries() <= few
