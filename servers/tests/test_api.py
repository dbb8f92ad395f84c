"""Servers, groups and labels through the REST API, against sqlsim over real TDS."""

import time

import pytest

from core.models import ActivityLog
from dbtools import crypto
from servers import actions
from servers.models import Label, Server, ServerGroup
from sqlsim.instance import InstanceConfig

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def operator(make_user, tenant_alpha):
    return make_user("olga", tenant_alpha, "operator")


@pytest.fixture
def client(api, operator, tenant_alpha):
    return api(operator, tenant_alpha)


def payload(sqlsim, name="SQLPROD01", **extra):
    host, port = sqlsim.address(name)
    body = {
        "name": name,
        "host": host,
        "port": port,
        "auth_type": "sql",
        "username": sqlsim.login,
        "password": sqlsim.password,
    }
    return {**body, **extra}


def test_test_connection_reports_version_edition_and_checks(client, sqlsim):
    r = client.post("/api/servers/test-connection", payload(sqlsim), format="json")
    body = r.json()
    assert r.status_code == 200, body
    assert body["ok"] is True
    assert body["product_name"] == "SQL Server 2019"
    assert "Enterprise" in body["edition"]
    assert body["supports_minimum"] is True
    assert body["has_view_server_state"] is True
    assert not Server.objects.exists()


@pytest.mark.parametrize(
    ("name", "extra", "kind"),
    [
        ("SQLOLD01", {}, "version_unsupported"),
        ("SQLNOPERM01", {}, "permission_missing"),
        ("SQLPROD01", {"password": "wrong"}, "login_failed"),
        ("SQLDOWN01", {}, "unreachable"),
        ("SQLSECURE01", {"encrypt": "off"}, "tls_failure"),
    ],
)
def test_test_connection_errors(client, sqlsim, name, extra, kind):
    r = client.post("/api/servers/test-connection", payload(sqlsim, name, **extra), format="json")
    assert r.status_code == 400
    body = r.json()
    assert body["ok"] is False
    assert body["error_kind"] == kind, body
    assert body["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"host": ""}, "host"),
        ({"host": "db1;Driver=evil"}, "host"),
        ({"port": 70000}, "port"),
        ({"port": "abc"}, "port"),
        ({"auth_type": "kerberos"}, "auth_type"),
        ({"username": ""}, "username"),
        ({"password": ""}, "password"),
        ({"auth_type": "windows", "username": "nodomain"}, "username"),
        ({"instance_name": "A;B"}, "instance_name"),
    ],
)
def test_bad_input_is_400_with_field_errors(client, sqlsim, change, field):
    for url in ("/api/servers/test-connection", "/api/servers"):
        r = client.post(url, {**payload(sqlsim), **change}, format="json")
        assert r.status_code == 400
        assert field in r.json(), r.json()
    assert not Server.objects.exists()


def test_create_with_validate_stores_version_and_encrypted_password(
    client, sqlsim, in_tenant, tenant_alpha
):
    r = client.post("/api/servers", payload(sqlsim, validate=True), format="json")
    body = r.json()
    assert r.status_code == 201, body
    assert "password" not in body
    assert body["product_name"] == "SQL Server 2019"
    assert body["status"] == "online"
    server = Server.objects.get()
    assert server.password_encrypted.startswith("v1:")
    assert sqlsim.password not in server.password_encrypted
    assert crypto.decrypt(server.password_encrypted) == sqlsim.password
    assert ActivityLog.objects.filter(action="server.created", entity_id=str(server.pk)).exists()


def test_failed_validation_creates_nothing(client, sqlsim):
    r = client.post("/api/servers", payload(sqlsim, "SQLDOWN01", validate=True), format="json")
    assert r.status_code == 400
    assert r.json()["connection"]["error_kind"] == "unreachable"
    assert not Server.objects.exists()
    assert not ActivityLog.objects.filter(action="server.created").exists()


def test_named_instance(client, sqlsim):
    host, port = sqlsim.address("SQLNAMED01")
    body = payload(sqlsim, "SQLNAMED01", instance_name="INST1", validate=True)
    r = client.post("/api/servers", body, format="json")
    assert r.status_code == 201, r.json()
    assert Server.objects.get().address == f"{host}\\INST1,{port}"


def test_unique_name_case_insensitive_and_free_after_delete(client, sqlsim):
    assert client.post("/api/servers", payload(sqlsim), format="json").status_code == 201
    dup = client.post("/api/servers", payload(sqlsim, name="sqlprod01"), format="json")
    assert dup.status_code == 400
    assert "name" in dup.json()
    server = Server.objects.get()
    assert client.delete(f"/api/servers/{server.pk}").status_code == 204
    server.refresh_from_db()
    assert server.deleted_at is not None
    assert client.get(f"/api/servers/{server.pk}").status_code == 404
    assert client.get("/api/servers").json()["count"] == 0
    assert client.post("/api/servers", payload(sqlsim), format="json").status_code == 201


def test_update_keeps_password_unless_given(client, sqlsim):
    server_id = client.post("/api/servers", payload(sqlsim), format="json").json()["id"]
    before = Server.objects.get().password_encrypted
    r = client.patch(f"/api/servers/{server_id}", {"name": "Renamed"}, format="json")
    assert r.status_code == 200
    assert r.json()["name"] == "Renamed"
    assert Server.objects.get().password_encrypted == before
    put = {**payload(sqlsim), "name": "Renamed", "password": ""}
    assert client.put(f"/api/servers/{server_id}", put, format="json").status_code == 200
    assert Server.objects.get().password_encrypted == before
    client.patch(f"/api/servers/{server_id}", {"password": "new-secret"}, format="json")
    assert crypto.decrypt(Server.objects.get().password_encrypted) == "new-secret"
    bad = client.patch(f"/api/servers/{server_id}", {"port": 0}, format="json")
    assert bad.status_code == 400
    assert "port" in bad.json()


def test_retest_saved_server_updates_status(client, sqlsim):
    server_id = client.post("/api/servers", payload(sqlsim), format="json").json()["id"]
    assert client.post(f"/api/servers/{server_id}/test-connection").status_code == 200
    sqlsim.stop_instance("SQLPROD01")
    r = client.post(f"/api/servers/{server_id}/test-connection")
    assert r.status_code == 400
    assert r.json()["error_kind"] == "unreachable"
    assert Server.objects.get().status == "offline"


def test_list_search_filter_sort(client, sqlsim):
    for name in ("SQLPROD01", "SQLPROD02", "SQLPROD03"):
        client.post("/api/servers", payload(sqlsim, name), format="json")
    ids = {s.name: s.pk for s in Server.objects.all()}
    client.post(
        f"/api/servers/{ids['SQLPROD02']}/labels", {"labels": ["prod", "eu"]}, format="json"
    )
    client.post(f"/api/servers/{ids['SQLPROD03']}/labels", {"labels": ["prod"]}, format="json")
    assert client.get("/api/servers?q=prod02").json()["count"] == 1
    assert client.get("/api/servers?label=prod").json()["count"] == 2
    assert client.get("/api/servers?label=prod,eu").json()["count"] == 1
    assert client.get("/api/servers?q=eu").json()["count"] == 1  # labels are searched too
    names = [s["name"] for s in client.get("/api/servers?ordering=-name").json()["results"]]
    assert names == ["SQLPROD03", "SQLPROD02", "SQLPROD01"]
    assert client.get("/api/servers?status=bogus").status_code == 400
    chips = client.get(f"/api/servers/{ids['SQLPROD02']}").json()["labels"]
    assert [c["name"] for c in chips] == ["eu", "prod"]
    assert all(c["color"].startswith("#") for c in chips)


def test_groups_crud_and_membership(client, sqlsim):
    s1 = client.post("/api/servers", payload(sqlsim), format="json").json()["id"]
    s2 = client.post("/api/servers", payload(sqlsim, "SQLPROD02"), format="json").json()["id"]
    g = client.post("/api/groups", {"name": "Production", "description": "Prod"}, format="json")
    assert g.status_code == 201, g.json()
    gid = g.json()["id"]
    assert client.post("/api/groups", {"name": "production"}, format="json").status_code == 400
    assert client.post("/api/groups", {"name": ""}, format="json").status_code == 400
    r = client.post(f"/api/groups/{gid}/servers", {"server_ids": [s1, s2]}, format="json")
    assert r.status_code == 200
    assert {s["id"] for s in r.json()["servers"]} == {s1, s2}
    bad = client.post(f"/api/groups/{gid}/servers", {"server_ids": [999999]}, format="json")
    assert bad.status_code == 400
    assert (
        client.post(f"/api/groups/{gid}/servers", {"server_ids": []}, format="json").status_code
        == 400
    )
    listing = client.get("/api/groups").json()["results"]
    assert listing[0]["server_count"] == 2
    assert client.delete(f"/api/groups/{gid}/servers/{s1}").status_code == 204
    assert client.delete(f"/api/groups/{gid}/servers/{s1}").status_code == 404
    assert (
        client.put(f"/api/groups/{gid}", {"name": "Prod EU"}, format="json").json()["name"]
        == "Prod EU"
    )
    assert client.delete(f"/api/groups/{gid}").status_code == 204
    assert Server.objects.alive().count() == 2  # servers remain
    assert not ServerGroup.objects.exists()


def test_labels(client, sqlsim):
    r = client.post("/api/labels", {"name": "critical", "color": "#ff0000"}, format="json")
    assert r.status_code == 201
    assert client.post("/api/labels", {"name": "Critical"}, format="json").status_code == 400
    assert (
        client.post("/api/labels", {"name": "x", "color": "red"}, format="json").status_code == 400
    )
    sid = client.post("/api/servers", payload(sqlsim), format="json").json()["id"]
    r = client.post(
        f"/api/servers/{sid}/labels", {"labels": ["CRITICAL", "new-one"]}, format="json"
    )
    assert [lbl["name"] for lbl in r.json()] == ["critical", "new-one"]
    assert Label.objects.count() == 2  # "CRITICAL" matched "critical"
    assert (
        client.post(f"/api/servers/{sid}/labels", {"labels": []}, format="json").status_code == 400
    )
    lid = Label.objects.get(name="new-one").pk
    assert client.delete(f"/api/servers/{sid}/labels/{lid}").status_code == 204
    assert client.delete(f"/api/servers/{sid}/labels/{lid}").status_code == 404
    assert [lbl["name"] for lbl in client.get("/api/labels").json()] == ["critical", "new-one"]


def test_bulk_actions(client, sqlsim):
    ids = [
        client.post("/api/servers", payload(sqlsim, n), format="json").json()["id"]
        for n in ("SQLPROD01", "SQLPROD02", "SQLPROD03")
    ]
    gid = client.post("/api/groups", {"name": "All"}, format="json").json()["id"]
    r = client.post(
        "/api/servers/bulk",
        {"action": "add_to_group", "server_ids": ids, "group_id": gid},
        format="json",
    )
    assert r.json() == {"affected": 3}
    r = client.post(
        "/api/servers/bulk",
        {"action": "add_label", "server_ids": ids[:2], "label": "bulk"},
        format="json",
    )
    assert r.json() == {"affected": 2}
    # The label the bulk action created on the fly is in the activity log like any other.
    assert ActivityLog.objects.filter(action="label.created", entity_name="bulk").count() == 1
    for bad in [
        {"action": "add_to_group", "server_ids": ids},
        {"action": "add_label", "server_ids": ids},
        {"action": "explode", "server_ids": ids},
        {"action": "delete", "server_ids": [*ids, 424242]},
        {"action": "delete", "server_ids": []},
    ]:
        assert client.post("/api/servers/bulk", bad, format="json").status_code == 400
    assert Server.objects.alive().count() == 3
    r = client.post("/api/servers/bulk", {"action": "delete", "server_ids": ids[:1]}, format="json")
    assert r.json() == {"affected": 1}
    assert Server.objects.alive().count() == 2


def test_viewer_reads_but_cannot_write(api, make_user, tenant_alpha, sqlsim):
    viewer = make_user("vio", tenant_alpha, "viewer")
    client = api(viewer, tenant_alpha)
    assert client.get("/api/servers").status_code == 200
    assert client.post("/api/servers", payload(sqlsim), format="json").status_code == 403
    assert client.post("/api/groups", {"name": "x"}, format="json").status_code == 403
    assert (
        client.post("/api/servers/test-connection", payload(sqlsim), format="json").status_code
        == 403
    )


def test_cross_tenant_ids_are_404(api, admin_user, client, tenant_beta, sqlsim):
    sid = client.post("/api/servers", payload(sqlsim), format="json").json()["id"]
    gid = client.post("/api/groups", {"name": "G"}, format="json").json()["id"]
    lid = client.post("/api/labels", {"name": "L"}, format="json").json()["id"]
    beta = api(admin_user, tenant_beta)
    assert beta.get(f"/api/servers/{sid}").status_code == 404
    assert beta.delete(f"/api/servers/{sid}").status_code == 404
    assert beta.get(f"/api/groups/{gid}").status_code == 404
    assert beta.get("/api/labels").json() == []
    assert beta.delete(f"/api/servers/{sid}/labels/{lid}").status_code == 404
    assert beta.get("/api/servers").json()["count"] == 0


def test_test_connection_ends_within_ten_seconds_in_total(client, sqlsim_factory):
    """An instance that answers each step in 8 s: each step is inside a 10 s step timeout,
    the whole test is not, and the answer comes when the 10 s are up."""
    fleet = sqlsim_factory([InstanceConfig(name="SQLSLOW01", port=0)])
    fleet.slow_steps("SQLSLOW01", prelogin=8, login=8, query=8)
    started = time.monotonic()
    r = client.post("/api/servers/test-connection", payload(fleet, "SQLSLOW01"), format="json")
    assert time.monotonic() - started <= 10.5
    assert r.status_code == 400
    assert r.json()["error_kind"] == "timeout"
    assert "within 10 s in total" in r.json()["message"]


# -- bound on requests that contact instances ---------------------------------------------------
@pytest.fixture
def limits(settings):
    settings.DBTOOLS_TARGET_REQUESTS_PER_PROCESS = 2
    settings.DBTOOLS_TARGET_REQUESTS_PER_USER = 2


@pytest.fixture
def user_limits(settings):
    """Only the per-user limit in reach: the slot holders run in this process too."""
    settings.DBTOOLS_TARGET_REQUESTS_PER_PROCESS = 10
    settings.DBTOOLS_TARGET_REQUESTS_PER_USER = 2


def _contact(kind, client, sqlsim):
    """One API request that contacts an instance: a test, a validated create, a retest."""
    if kind == "test":
        return client.post("/api/servers/test-connection", payload(sqlsim), format="json")
    if kind == "create":
        return client.post("/api/servers", payload(sqlsim, validate=True), format="json")
    server = Server.objects.alive().first() or actions.create_server(payload(sqlsim))
    return client.post(f"/api/servers/{server.pk}/test-connection")


CONTACTS = ["test", "create", "retest"]
BUSY = "2 connection tests already running; try again in a few seconds."
USER_BUSY = "You already have 2 connection tests running; try again in a few seconds."


@pytest.mark.parametrize("kind", CONTACTS)
def test_at_the_per_process_limit_a_test_still_runs(
    client, sqlsim, limits, hold_target_slots, kind
):
    hold_target_slots(None, 1)
    r = _contact(kind, client, sqlsim)
    assert r.status_code in (200, 201), r.json()


@pytest.mark.parametrize("kind", CONTACTS)
def test_past_the_per_process_limit_is_429(client, sqlsim, limits, hold_target_slots, kind):
    hold_target_slots(None, 2)
    before = ActivityLog.objects.count()
    r = _contact(kind, client, sqlsim)
    assert r.status_code == 429
    assert r.json() == {"detail": BUSY}
    assert 3 <= int(r["Retry-After"]) <= 7
    assert Server.objects.count() == (1 if kind == "retest" else 0)  # nothing created
    assert ActivityLog.objects.count() == before + (1 if kind == "retest" else 0)


@pytest.mark.parametrize("kind", CONTACTS)
def test_per_user_limit_counts_requests_elsewhere(
    client, operator, sqlsim, user_limits, hold_target_slots, kind
):
    """The user's tests in other threads or processes (other database sessions) count."""
    release = hold_target_slots(operator, 1)
    assert _contact(kind, client, sqlsim).status_code in (200, 201)
    Server.objects.all().delete()
    release_more = hold_target_slots(operator, 1)
    r = _contact(kind, client, sqlsim)
    assert r.status_code == 429
    assert r.json() == {"detail": USER_BUSY}
    release()
    release_more()
    assert _contact(kind, client, sqlsim).status_code in (200, 201)


def test_other_users_tests_do_not_count_against_a_user(
    client, make_user, tenant_alpha, sqlsim, user_limits, hold_target_slots
):
    other = make_user("otto", tenant_alpha, "operator")
    hold_target_slots(other, 2)
    assert _contact("test", client, sqlsim).status_code == 200


def test_slots_are_freed_after_each_test_passed_or_failed(client, sqlsim, settings):
    settings.DBTOOLS_TARGET_REQUESTS_PER_PROCESS = 1
    settings.DBTOOLS_TARGET_REQUESTS_PER_USER = 1
    down = payload(sqlsim, "SQLDOWN01")
    for body, code in [(down, 400), (payload(sqlsim), 200), (down, 400), (payload(sqlsim), 200)]:
        assert client.post("/api/servers/test-connection", body, format="json").status_code == code
