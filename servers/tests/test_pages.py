"""Servers and Groups pages through Django's test client; connections go to sqlsim over TDS."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from core.models import ActivityLog
from dbtools import crypto, tenancy
from servers import actions
from servers.models import Label, Server, ServerGroup

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def operator(make_user, tenant_alpha):
    return make_user("opie", tenant_alpha, "operator")


@pytest.fixture
def op(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def viewer_client(client, make_user, tenant_alpha):
    client.force_login(make_user("vera", tenant_alpha, "viewer"))
    return client


def form(sqlsim, instance="SQLPROD01", **extra):
    host, port = sqlsim.address(instance)
    data = {
        "name": instance,
        "host": host,
        "port": str(port),
        "instance_name": "",
        "auth_type": "sql",
        "username": sqlsim.login,
        "password": sqlsim.password,
        "encrypt": "on",
    }
    return {**data, **extra}


def make_server(name, **extra):
    fields = {
        "name": name,
        "host": f"{name.lower()}.corp",
        "port": 1433,
        "auth_type": "sql",
        "username": "dbtools",
        "password": "secret",
        **extra,
    }
    return actions.create_server(fields)


# -- list ------------------------------------------------------------------------------------------
def test_empty_state_prompts_to_add(op):
    r = op.get("/servers/")
    assert r.status_code == 200
    assert b"No servers yet" in r.content
    assert b'href="/servers/add"' in r.content


def test_list_shows_columns_chips_and_status(op):
    s = make_server("SQLA01")
    Server.objects.filter(pk=s.pk).update(
        status="online", product_name="SQL Server 2019", version="15.0.4345.5"
    )
    group = actions.create_group("Production")
    actions.add_to_group(group, [s])
    actions.assign_labels([s], ["tier-1"])
    r = op.get("/servers/")
    html = r.content.decode()
    assert "SQLA01" in html and "sqla01.corp" in html
    assert "status-online" in html and "SQL Server 2019" in html and "15.0.4345.5" in html
    assert 'class="tag">Production<' in html
    assert "tier-1" in html and Label.objects.get(name="tier-1").color in html
    assert f'href="/servers/{s.pk}/"' in html


def test_search_filter_sort_and_htmx_partial(op):
    a = make_server("SQLAPP01")
    b = make_server("SQLDW01", host="warehouse.corp")
    make_server("SQLWEB01")
    Server.objects.filter(pk=b.pk).update(status="offline")
    actions.assign_labels([a, b], ["prod"])
    actions.assign_labels([b], ["dw"])
    group = actions.create_group("Finance")
    actions.add_to_group(group, [a])

    r = op.get("/servers/", {"q": "warehouse"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    html = r.content.decode()
    assert "<html" not in html and 'id="server-rows"' in html  # only the rows partial
    assert "SQLDW01" in html and "SQLAPP01" not in html
    assert "HX-Request" in r["Vary"]
    restore = op.get(
        "/servers/",
        {"q": "warehouse"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    assert b"<html" in restore.content  # history restore gets the whole page

    html = op.get("/servers/", {"q": "finance"}).content.decode()  # search by group name
    assert "SQLAPP01" in html and "SQLDW01" not in html
    html = op.get("/servers/", {"status": "offline"}).content.decode()
    assert "SQLDW01" in html and "SQLWEB01" not in html
    html = op.get("/servers/", {"group": group.pk}).content.decode()
    assert "SQLAPP01" in html and "SQLWEB01" not in html
    html = op.get("/servers/", {"label": "prod,dw"}).content.decode()  # AND of labels
    assert "SQLDW01" in html and "SQLAPP01" not in html
    html = op.get("/servers/", {"label": "nothing"}).content.decode()
    assert "No servers match these filters." in html

    html = op.get("/servers/", {"ordering": "-name"}).content.decode()
    assert html.index("SQLWEB01") < html.index("SQLDW01") < html.index("SQLAPP01")
    assert 'aria-sort="descending"' in html
    html = op.get("/servers/", {"ordering": "name"}).content.decode()
    assert html.index("SQLAPP01") < html.index("SQLDW01") < html.index("SQLWEB01")
    assert "ordering=-name" in html  # clicking the header again flips the direction


def test_bad_filter_value_is_reported_not_fatal(op):
    make_server("SQLA01")
    r = op.get("/servers/", {"status": "bogus"})
    assert r.status_code == 200
    assert b"status:" in r.content


def test_pagination_past_50_without_n_plus_one(op):
    group = actions.create_group("All")
    servers = [make_server(f"SQL{i:03d}") for i in range(120)]
    actions.add_to_group(group, servers)
    actions.assign_labels(servers, ["fleet", "prod"])
    alias = tenancy.current().alias
    with CaptureQueriesContext(connections[alias]) as tenant_queries:
        r = op.get("/servers/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "1–50 of 120 servers" in html and "Page 1 of 3" in html
    assert "SQL049" in html and "SQL050" not in html
    # count, page, labels, groups, toolbar groups and labels, the page's health and the
    # settings it is judged by, the bulk bar's jobs and policies: not one query per row
    assert len(tenant_queries) <= 13, [q["sql"] for q in tenant_queries]
    html = op.get("/servers/", {"page": 3}).content.decode()
    assert "101–120 of 120" in html and "SQL119" in html and "SQL000" not in html


# -- wizard ----------------------------------------------------------------------------------------
def test_wizard_renders_with_defaults(op):
    r = op.get("/servers/add")
    html = r.content.decode()
    assert r.status_code == 200
    assert 'name="port" value="1433"' in html
    assert 'type="password"' in html
    assert "data-save" in html and "disabled" in html
    assert "Advanced" in html


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "This field is required"),
        ({"host": ""}, "host", "This field is required"),
        ({"host": "db1;Driver=evil"}, "host", "host name or IP address"),
        ({"port": "70000"}, "port", "less than or equal to 65535"),
        ({"port": "abc"}, "port", "Enter a whole number"),
        ({"auth_type": "kerberos"}, "auth_type", "Select a valid choice"),
        ({"username": ""}, "username", "A login is required"),
        ({"password": ""}, "password", "A password is required"),
        ({"auth_type": "windows", "username": "nodomain"}, "username", "DOMAIN"),
        ({"instance_name": "A;B"}, "instance_name", "An instance name"),
        ({"encrypt": "maybe"}, "encrypt", "Select a valid choice"),
    ],
)
def test_wizard_bad_input_is_400_and_writes_nothing(op, sqlsim, change, field, message):
    before = ActivityLog.objects.count()
    r = op.post("/servers/add", form(sqlsim, **change))
    assert r.status_code == 400
    html = r.content.decode()
    assert f'id="id_{field}-errors"' in html and message in html
    assert not Server.objects.exists()
    assert ActivityLog.objects.count() == before
    assert sqlsim.password not in html  # the typed password is never rendered back


def test_wizard_test_connection_reports_version_and_checks(op, sqlsim):
    r = op.post("/servers/add/test-connection", form(sqlsim, name=""))  # no name needed to test
    html = r.content.decode()
    assert r.status_code == 200
    assert "data-test-ok" in html and "SQL Server 2019" in html and "Enterprise" in html
    assert "SQL Server 2016 or later" in html and "VIEW SERVER STATE" in html
    assert not Server.objects.exists()


@pytest.mark.parametrize(
    ("instance", "extra", "text"),
    [
        ("SQLOLD01", {}, "Version not supported"),
        ("SQLNOPERM01", {}, "Permission missing"),
        ("SQLPROD01", {"password": "wrong"}, "Login failed"),
        ("SQLDOWN01", {}, "Unreachable"),
    ],
)
def test_wizard_test_connection_failures(op, sqlsim, instance, extra, text):
    r = op.post("/servers/add/test-connection", form(sqlsim, instance, **extra))
    assert r.status_code == 200
    html = r.content.decode()
    assert text in html and "data-test-ok" not in html
    assert not Server.objects.exists()


def test_wizard_test_connection_bad_fields_are_400_out_of_band(op, sqlsim):
    r = op.post("/servers/add/test-connection", form(sqlsim, host="", port="0"))
    assert r.status_code == 400
    html = r.content.decode()
    assert 'id="id_host-errors" class="field-errors" hx-swap-oob="true"' in html
    assert "greater than or equal to 1" in html
    assert "Check the fields" in html


def test_create_with_sqlsim_validates_and_redirects_with_toast(op, sqlsim):
    r = op.post("/servers/add", form(sqlsim), follow=True)
    s = Server.objects.get(name="SQLPROD01")
    assert r.redirect_chain[-1] == (f"/servers/{s.pk}/", 302)  # done: the new server's page
    assert "Server SQLPROD01 added." in r.content.decode()
    assert s.status == "online" and s.product_name == "SQL Server 2019"
    assert crypto.decrypt(s.password_encrypted) == sqlsim.password
    assert ActivityLog.objects.filter(action="server.created", entity_id=str(s.pk)).exists()


def test_create_with_closed_port_creates_nothing(op, sqlsim):
    r = op.post("/servers/add", form(sqlsim, "SQLDOWN01"))
    assert r.status_code == 400
    assert "Unreachable" in r.content.decode()
    assert not Server.objects.exists()
    assert not ActivityLog.objects.filter(action="server.created").exists()


def test_create_duplicate_name_is_400(op, sqlsim):
    make_server("SQLPROD01")
    r = op.post("/servers/add", form(sqlsim))
    assert r.status_code == 400
    assert "already exists" in r.content.decode()
    assert Server.objects.count() == 1


def test_edit_keeps_password_when_left_empty(op, sqlsim):
    op.post("/servers/add", form(sqlsim))
    s = Server.objects.get(name="SQLPROD01")
    stored = s.password_encrypted
    page = op.get(f"/servers/{s.pk}/edit").content.decode()
    assert "Leave empty to keep the stored password" in page and stored not in page
    assert sqlsim.password not in page
    # Rename only: no connection change, no test needed.
    r = op.post(f"/servers/{s.pk}/edit", form(sqlsim, name="Prod One", password=""))
    assert r.status_code == 302 and r["Location"] == f"/servers/{s.pk}/"
    s.refresh_from_db()
    assert s.name == "Prod One" and s.password_encrypted == stored
    # A connection change is tested with the stored password before it is saved.
    _, port = sqlsim.address("SQLPROD02")
    r = op.post(f"/servers/{s.pk}/edit", form(sqlsim, name="Prod One", port=str(port), password=""))
    assert r.status_code == 302
    s.refresh_from_db()
    assert s.port == port and crypto.decrypt(s.password_encrypted) == sqlsim.password


def test_edit_to_a_failing_connection_saves_nothing(op, sqlsim):
    op.post("/servers/add", form(sqlsim))
    s = Server.objects.get(name="SQLPROD01")
    r = op.post(f"/servers/{s.pk}/edit", form(sqlsim, password="wrong"))
    assert r.status_code == 400
    assert "Login failed" in r.content.decode()
    s.refresh_from_db()
    assert crypto.decrypt(s.password_encrypted) == sqlsim.password
    r = op.post(f"/servers/{s.pk}/edit", form(sqlsim, host=""))
    assert r.status_code == 400
    s.refresh_from_db()
    assert s.host == "127.0.0.1"


def test_edit_test_connection_uses_stored_password(op, sqlsim):
    op.post("/servers/add", form(sqlsim))
    s = Server.objects.get(name="SQLPROD01")
    r = op.post(f"/servers/{s.pk}/edit/test-connection", form(sqlsim, password=""))
    assert "data-test-ok" in r.content.decode()


# -- detail ----------------------------------------------------------------------------------------
def test_detail_shows_cards_and_activity(op):
    s = make_server("SQLA01", instance_name="INST1")
    actions.assign_labels([s], ["prod"])
    r = op.get(f"/servers/{s.pk}/")
    html = r.content.decode()
    assert r.status_code == 200
    assert 'class="breadcrumb"' in html and 'href="/servers/"' in html
    expected = (
        "Connection",
        "sqla01.corp",
        "INST1",
        "SQL Server authentication",
        "Groups",
        "Labels",
        "Monitoring objects",
        "Not deployed",
        "Deploy",
        "Recent activity",
        "server.created",
        "server.labels_added",
        "Test connection",
        "Edit",
        "Delete",
    )
    for text in expected:
        assert text in html, text
    assert "secret" not in html and s.password_encrypted not in html


def test_detail_retest_updates_the_card(op, sqlsim):
    op.post("/servers/add", form(sqlsim))
    s = Server.objects.get(name="SQLPROD01")
    sqlsim.stop_instance("SQLPROD01")
    try:
        r = op.post(f"/servers/{s.pk}/test-connection", HTTP_HX_REQUEST="true")
    finally:
        sqlsim.start_instance("SQLPROD01")
    html = r.content.decode()
    assert r.status_code == 200 and "Unreachable" in html and "toast" in r["HX-Trigger"]
    s.refresh_from_db()
    assert s.status == "offline"


def test_label_add_autocreates_and_remove(op):
    s = make_server("SQLA01")
    Label.objects.create(name="prod", color="#3fb950")
    page = op.get(f"/servers/{s.pk}/").content.decode()
    assert '<datalist id="all-labels"><option value="prod">' in page
    r = op.post(f"/servers/{s.pk}/labels/add", {"labels": "prod, tier-1"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert sorted(s.labels.values_list("name", flat=True)) == ["prod", "tier-1"]
    assert Label.objects.count() == 2
    assert "Labelled prod, tier-1" in r["HX-Trigger"]
    tier = Label.objects.get(name="tier-1")
    r = op.post(f"/servers/{s.pk}/labels/{tier.pk}/remove")
    assert r.status_code == 302
    assert list(s.labels.values_list("name", flat=True)) == ["prod"]
    assert ActivityLog.objects.filter(action="server.label_removed").exists()


@pytest.mark.parametrize("value", ["", " , ", "x" * 65])
def test_label_bad_input_is_400(op, value):
    s = make_server("SQLA01")
    r = op.post(f"/servers/{s.pk}/labels/add", {"labels": value})
    assert r.status_code == 400
    assert b'class="error"' in r.content
    assert not Label.objects.exists()


def test_groups_from_detail_page(op):
    s = make_server("SQLA01")
    g = actions.create_group("Production")
    assert op.post(f"/servers/{s.pk}/groups/add", {"group": ""}).status_code == 400
    assert op.post(f"/servers/{s.pk}/groups/add", {"group": "999999"}).status_code == 400
    assert op.post(f"/servers/{s.pk}/groups/add", {"group": g.pk}).status_code == 302
    assert list(s.groups.all()) == [g]
    assert op.post(f"/servers/{s.pk}/groups/{g.pk}/remove").status_code == 302
    assert not s.groups.exists()


def test_deploy_marks_and_polls(op, sqlsim, committing):
    host, port = sqlsim.address("SQLPROD01")
    s = make_server("SQLA01", host=host, port=port, username=sqlsim.login, password=sqlsim.password)
    r = committing(op).post(f"/servers/{s.pk}/deploy", HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    # The answer is drawn before the request commits, so before any worker starts: the user
    # sees the deployment queued, and the card polls for its outcome.
    assert "Queued, waiting for a worker" in r.content.decode()
    assert 'data-live-interval="2"' in r.content.decode()
    s.refresh_from_db()
    # Tasks run synchronously in tests, once the request commits: the worker's outcome is
    # already recorded.
    assert s.monitoring_status in ("monitored", "failed")
    assert ActivityLog.objects.filter(action="server.deploy_requested").exists()
    Server.objects.filter(pk=s.pk).update(monitoring_status="deploying")
    html = op.get(f"/servers/{s.pk}/monitoring").content.decode()
    assert 'data-live-interval="2"' in html and "<html" not in html
    Server.objects.filter(pk=s.pk).update(monitoring_status="failed", deployment_error="boom")
    html = op.get(f"/servers/{s.pk}/monitoring").content.decode()
    assert "data-live-url" not in html and "boom" in html and "Retry deploy" in html


def test_delete_from_detail(op):
    s = make_server("SQLA01")
    r = op.post(f"/servers/{s.pk}/delete", follow=True)
    assert "Server SQLA01 deleted." in r.content.decode()
    s.refresh_from_db()
    assert s.deleted_at is not None
    assert op.get(f"/servers/{s.pk}/").status_code == 404
    assert "SQLA01" not in op.get("/servers/").content.decode()


# -- bulk ------------------------------------------------------------------------------------------
def test_bulk_actions(op):
    a, b = make_server("SQLA01"), make_server("SQLB01")
    c = make_server("SQLC01", host="127.0.0.1", port=9)  # closed: the deployment fails fast
    g = actions.create_group("Batch")
    ids = [a.pk, b.pk]
    r = op.post("/servers/bulk", {"server_ids": ids, "action": "add_to_group", "group": g.pk})
    assert r.status_code == 302
    assert set(g.servers.values_list("pk", flat=True)) == set(ids)
    r = op.post(
        "/servers/bulk", {"server_ids": ids, "action": "add_label", "label": "batch"}, follow=True
    )
    assert "Label “batch” added to 2 server(s)." in r.content.decode()
    assert set(Label.objects.get(name="batch").servers.values_list("pk", flat=True)) == set(ids)
    # A label created on the fly is logged like one created on purpose, with who created it.
    created = ActivityLog.objects.get(action="label.created", entity_name="batch")
    assert created.user_name == "opie"
    op.post("/servers/bulk", {"server_ids": [c.pk], "action": "deploy"})
    c.refresh_from_db()
    assert c.monitoring_status != "not_deployed"
    r = op.post("/servers/bulk", {"server_ids": ids, "action": "delete"}, follow=True)
    assert "2 server(s) deleted." in r.content.decode()
    assert list(Server.objects.alive()) == [c]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "delete"}, "Select at least one server"),
        ({"server_ids": ["x"], "action": "delete"}, "Select at least one server"),
        ({"server_ids": ["{a}"], "action": "explode"}, "Select a valid choice"),
        ({"server_ids": ["{a}"], "action": "add_to_group"}, "Choose a group"),
        ({"server_ids": ["{a}"], "action": "add_to_group", "group": "999999"}, "Unknown group"),
        ({"server_ids": ["{a}"], "action": "add_label", "label": " "}, "Name a label"),
        ({"server_ids": ["999999"], "action": "delete"}, "Unknown server id"),
    ],
)
def test_bulk_bad_input_is_400_and_writes_nothing(op, data, message):
    a = make_server("SQLA01")
    data = {
        k: [v.replace("{a}", str(a.pk)) for v in vs] if isinstance(vs, list) else vs
        for k, vs in data.items()
    }
    before = ActivityLog.objects.count()
    r = op.post("/servers/bulk", data)
    assert r.status_code == 400
    assert message in r.content.decode()
    assert ActivityLog.objects.count() == before
    assert Server.objects.alive().count() == 1


# -- groups ----------------------------------------------------------------------------------------
def test_groups_empty_state_and_create(op):
    r = op.get("/groups/")
    assert b"No groups yet" in r.content and b"Create group" in r.content
    r = op.post("/groups/create", {"name": "Production", "description": "Prod boxes"})
    g = ServerGroup.objects.get(name="Production")
    assert r.status_code == 302 and r["Location"] == f"/groups/{g.pk}/"
    html = op.get("/groups/").content.decode()
    assert "Production" in html and "Prod boxes" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required"),
        ({"name": "x" * 129}, "at most 128 characters"),
        ({"name": "production"}, "already exists"),
    ],
)
def test_group_create_bad_input_is_400(op, data, message):
    actions.create_group("Production")
    r = op.post("/groups/create", data)
    assert r.status_code == 400
    assert message in r.content.decode()
    assert ServerGroup.objects.count() == 1


def test_group_detail_add_remove_edit_delete(op):
    a, b = make_server("SQLA01"), make_server("SQLB01")
    g = actions.create_group("Production")
    html = op.get(f"/groups/{g.pk}/").content.decode()
    assert "No servers in this group" in html and "Add servers" in html
    assert f'value="{a.pk}"' in html and "data-filter-list" in html

    assert op.post(f"/groups/{g.pk}/servers/add", {}).status_code == 400
    assert op.post(f"/groups/{g.pk}/servers/add", {"server_ids": ["999999"]}).status_code == 400
    r = op.post(f"/groups/{g.pk}/servers/add", {"server_ids": [a.pk, b.pk]})
    assert r.status_code == 302
    html = op.get(f"/groups/{g.pk}/").content.decode()
    assert "SQLA01" in html and "2 servers" in html and "Every server is already" in html
    assert "/groups/" in html and "will no longer apply" in html

    assert op.post(f"/groups/{g.pk}/servers/{a.pk}/remove").status_code == 302
    assert list(g.servers.all()) == [b]

    assert op.post(f"/groups/{g.pk}/edit", {"name": "", "description": ""}).status_code == 400
    actions.create_group("Other")
    r = op.post(f"/groups/{g.pk}/edit", {"name": "other", "description": ""})
    assert r.status_code == 400 and b"already exists" in r.content
    r = op.post(f"/groups/{g.pk}/edit", {"name": "Prod", "description": "New words"})
    assert r.status_code == 302
    g.refresh_from_db()
    assert (g.name, g.description) == ("Prod", "New words")

    r = op.post(f"/groups/{g.pk}/delete", follow=True)
    assert b"Group Prod deleted" in r.content
    assert not ServerGroup.objects.filter(pk=g.pk).exists()
    assert Server.objects.alive().count() == 2  # servers stay


# -- roles and tenants -----------------------------------------------------------------------------
ACTION_TEXTS = (
    "Add server",
    "bulk-form",
    "Test connection",
    'method="post" action="/s',
    'method="post" action="/g',
    "Create group",
    "Add servers",
    "Deploy monitoring",
    "/deploy",
    "Remove",
)


def test_viewer_sees_pages_without_actions_and_gets_403(viewer_client):
    s = make_server("SQLA01")
    g = actions.create_group("Production")
    actions.add_to_group(g, [s])
    label = actions.assign_labels([s], ["prod"])[0]
    c = viewer_client
    for url in ("/servers/", f"/servers/{s.pk}/", "/groups/", f"/groups/{g.pk}/"):
        r = c.get(url)
        assert r.status_code == 200, url
        html = r.content.decode()
        for action_text in ACTION_TEXTS:
            assert action_text not in html, (url, action_text)
    assert c.get("/servers/add").status_code == 403
    assert c.get(f"/servers/{s.pk}/edit").status_code == 403
    posts = [
        ("/servers/add", {"name": "x"}),
        ("/servers/add/test-connection", {}),
        (f"/servers/{s.pk}/edit", {"name": "x"}),
        (f"/servers/{s.pk}/delete", {}),
        (f"/servers/{s.pk}/test-connection", {}),
        (f"/servers/{s.pk}/deploy", {}),
        (f"/servers/{s.pk}/labels/add", {"labels": "x"}),
        (f"/servers/{s.pk}/labels/{label.pk}/remove", {}),
        (f"/servers/{s.pk}/groups/add", {"group": g.pk}),
        (f"/servers/{s.pk}/groups/{g.pk}/remove", {}),
        ("/servers/bulk", {"server_ids": [s.pk], "action": "delete"}),
        ("/groups/create", {"name": "x"}),
        (f"/groups/{g.pk}/edit", {"name": "x"}),
        (f"/groups/{g.pk}/delete", {}),
        (f"/groups/{g.pk}/servers/add", {"server_ids": [s.pk]}),
        (f"/groups/{g.pk}/servers/{s.pk}/remove", {}),
    ]
    before = ActivityLog.objects.count()
    for url, data in posts:
        assert c.post(url, data).status_code == 403, url
    assert ActivityLog.objects.count() == before
    s.refresh_from_db()
    assert s.deleted_at is None and s.name == "SQLA01"


def test_other_tenants_servers_and_groups_are_404(op, tenant_beta, in_tenant):
    with in_tenant(tenant_beta):
        theirs = make_server("BETA01")
        their_group = actions.create_group("Beta group")
        their_label = Label.objects.create(name="beta", color="#3fb950")
    mine = make_server("ALPHA01")
    my_group = actions.create_group("Alpha group")
    # Ids that exist in beta only (alpha's sequences never get that far in a test run).
    sid, gid, lid = 10_000_000 + theirs.pk, 10_000_000 + their_group.pk, 10_000_000
    with in_tenant(tenant_beta):
        Server.objects.filter(pk=theirs.pk).update(id=sid)
        ServerGroup.objects.filter(pk=their_group.pk).update(id=gid)
        Label.objects.filter(pk=their_label.pk).update(id=lid)
    for url in (
        f"/servers/{sid}/",
        f"/servers/{sid}/edit",
        f"/servers/{sid}/monitoring",
        f"/groups/{gid}/",
    ):
        assert op.get(url).status_code == 404, url
    for url in (
        f"/servers/{sid}/delete",
        f"/servers/{sid}/deploy",
        f"/servers/{sid}/edit",
        f"/groups/{gid}/delete",
        f"/groups/{gid}/edit",
        f"/servers/{mine.pk}/groups/{gid}/remove",
        f"/servers/{mine.pk}/labels/{lid}/remove",
        f"/groups/{my_group.pk}/servers/{sid}/remove",
    ):
        assert op.post(url, {"name": "x"}).status_code == 404, url
    r = op.post("/servers/bulk", {"server_ids": [sid], "action": "delete"})
    assert r.status_code == 400
    with in_tenant(tenant_beta):
        assert Server.objects.alive().filter(pk=sid).exists()
        assert ServerGroup.objects.filter(pk=gid).exists()


def test_health_filter_from_the_dashboard_keeps_the_toolbar_honest(op):
    make_server("SQLA01")
    html = op.get("/servers/", {"health": "critical"}).content.decode()
    assert 'id="f-health"' in html and '<option value="critical" selected>' in html
    assert "No servers match these filters." in html and "No servers yet" not in html


# -- bound on requests that contact instances ------------------------------------------------------
BUSY = "2 connection tests already running; try again in a few seconds."
USER_BUSY = "You already have 2 connection tests running; try again in a few seconds."


@pytest.fixture
def busy(settings, hold_target_slots):
    """Every slot of this process taken by other users' tests."""
    settings.DBTOOLS_TARGET_REQUESTS_PER_PROCESS = 2
    hold_target_slots(None, 2)


def test_wizard_test_at_the_limit_runs(op, sqlsim, settings, hold_target_slots):
    settings.DBTOOLS_TARGET_REQUESTS_PER_PROCESS = 2
    hold_target_slots(None, 1)
    r = op.post("/servers/add/test-connection", form(sqlsim, name=""))
    assert r.status_code == 200 and "data-test-ok" in r.content.decode()


def test_wizard_test_past_the_limit_says_why(op, sqlsim, busy):
    r = op.post("/servers/add/test-connection", form(sqlsim, name=""))
    html = r.content.decode()
    assert r.status_code == 429 and 3 <= int(r["Retry-After"]) <= 7
    assert "Too many connection tests" in html and BUSY in html and "data-test-ok" not in html


def test_wizard_test_past_the_users_limit_says_why(
    op, operator, sqlsim, settings, hold_target_slots
):
    settings.DBTOOLS_TARGET_REQUESTS_PER_USER = 2
    hold_target_slots(operator, 2)  # in other database sessions, as from other processes
    r = op.post("/servers/add/test-connection", form(sqlsim, name=""))
    assert r.status_code == 429 and USER_BUSY in r.content.decode()


def test_add_past_the_limit_saves_nothing(op, sqlsim, busy):
    r = op.post("/servers/add", form(sqlsim))
    assert r.status_code == 429 and BUSY in r.content.decode()
    assert not Server.objects.exists()


def test_edit_of_the_connection_past_the_limit_saves_nothing(
    op, sqlsim, settings, hold_target_slots
):
    op.post("/servers/add", form(sqlsim))
    s = Server.objects.get(name="SQLPROD01")
    settings.DBTOOLS_TARGET_REQUESTS_PER_PROCESS = 2
    hold_target_slots(None, 2)
    _, port = sqlsim.address("SQLPROD02")
    r = op.post(f"/servers/{s.pk}/edit", form(sqlsim, port=str(port), password=""))
    assert r.status_code == 429 and BUSY in r.content.decode()
    s.refresh_from_db()
    assert s.port != port
    # A rename contacts no instance: it is saved even now.
    rename = form(sqlsim, name="Renamed", password="")
    assert op.post(f"/servers/{s.pk}/edit", rename).status_code == 302


def test_detail_retest_past_the_limit_says_why(op, sqlsim, settings, hold_target_slots):
    op.post("/servers/add", form(sqlsim))
    s = Server.objects.get(name="SQLPROD01")
    settings.DBTOOLS_TARGET_REQUESTS_PER_PROCESS = 2
    hold_target_slots(None, 2)
    r = op.post(f"/servers/{s.pk}/test-connection", HTTP_HX_REQUEST="true")
    assert r.status_code == 429 and BUSY in r.content.decode() and BUSY in r["HX-Trigger"]
    r = op.post(f"/servers/{s.pk}/test-connection", follow=True)
    assert BUSY in r.content.decode()
    assert not ActivityLog.objects.filter(action="server.connection_tested").exists()
