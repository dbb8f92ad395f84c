"""Policies pages through Django's test client: list and filters, the schema-driven wizard with
inline errors and defaults, versions and their diff, deployment, compliance, exemptions."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from policies import actions
from policies.models import DatabaseState, Exemption, Policy
from scheduler.models import Job
from servers import actions as server_actions

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


@pytest.fixture
def op(client, make_user, tenant_alpha):
    client.force_login(make_user("opie", tenant_alpha, "operator"))
    return client


@pytest.fixture
def viewer(client, make_user, tenant_alpha):
    client.force_login(make_user("vera", tenant_alpha, "viewer"))
    return client


def backup(name="Prod backups", status="active", **config):
    return actions.create_policy(
        {
            "name": name,
            "policy_type": "backup",
            "status": status,
            "configuration": {"destination_path": "D:\\Backup", **config},
        },
        acting_user=None,
    )


def wizard_post(**change):
    data = {
        "name": "Nightly",
        "description": "",
        "c_databases": "USER_DATABASES",
        "c_destination_path": "\\\\nas\\sql",
        "c_full__schedule": "0 1 * * 0",
        "c_diff": "on",
        "c_diff__schedule": "0 1 * * 1-6",
        "c_log": "on",
        "c_log__every_minutes": "15",
        "c_verify": "on",
        "c_checksum": "on",
        "c_compression": "on",
        "c_cleanup_hours": "168",
        "c_change_backup_type": "on",
        "save": "activate",
    }
    data.update(change)
    return {k: v for k, v in data.items() if v is not None}


def test_the_list_shows_type_version_status_and_deployments(op):
    p = backup()
    actions.update_policy(p, {"configuration": {"destination_path": "E:\\B"}}, acting_user=None)
    backup("Draft one", status="draft")
    body = op.get("/policies/").content.decode()
    assert "Prod backups" in body and "v2" in body and "Draft" in body
    assert "Not deployed" in body


def test_the_list_filters_by_type_and_search(op):
    backup()
    actions.create_policy(
        {"name": "Weekly CHECKDB", "policy_type": "integrity_check"}, acting_user=None
    )
    body = op.get("/policies/", {"policy_type": "integrity_check"}).content.decode()
    assert "Weekly CHECKDB" in body and "Prod backups" not in body
    body = op.get("/policies/", {"q": "prod"}, headers={"HX-Request": "true"}).content.decode()
    assert "Prod backups" in body and "Weekly CHECKDB" not in body
    assert "<html" not in body  # the rows only


def test_the_wizard_starts_with_type_cards(op):
    body = op.get("/policies/new").content.decode()
    for label in ("Backup", "Index maintenance", "Integrity check", "Custom script"):
        assert label in body
    assert 'href="/policies/new/backup"' in body


def test_the_form_shows_every_setting_with_its_default(op):
    body = op.get("/policies/new/index_maintenance").content.decode()
    assert 'name="c_fragmentation_level1"' in body and "Default: <code>5</code>" in body
    assert "Default: <code>1000</code>" in body
    assert "INDEX_REBUILD_ONLINE" in body


def test_saving_and_activating_creates_an_active_policy(op):
    r = op.post("/policies/new/backup", wizard_post())
    policy = Policy.objects.get(name="Nightly")
    assert r.status_code == 302 and r.url == f"/policies/{policy.pk}/"
    config = policy.latest().configuration
    assert policy.is_active and config["log"] == {"every_minutes": 15}
    assert config["destination_path"] == "\\\\nas\\sql" and config["copy_only"] is False


def test_save_as_draft_and_optional_schedules_switched_off(op):
    op.post("/policies/new/backup", wizard_post(save="draft", c_diff=None, c_log=None))
    policy = Policy.objects.get(name="Nightly")
    assert not policy.is_active
    assert policy.latest().configuration["diff"] is None
    assert policy.latest().configuration["log"] is None


def test_errors_show_on_their_field_and_nothing_is_saved(op):
    r = op.post(
        "/policies/new/backup",
        wizard_post(name="", c_destination_path="relative", c_log__every_minutes="0"),
    )
    assert r.status_code == 400
    body = r.content.decode()
    assert "Give the policy a name." in body
    assert not Policy.objects.exists()
    r = op.post(
        "/policies/new/backup",
        wizard_post(c_destination_path="relative", c_log__every_minutes="0"),
    )
    body = r.content.decode()
    assert 'id="err-id_c_destination_path"' in body and "Not a directory path" in body
    assert 'id="err-id_c_log__every_minutes"' in body and "At least 1." in body
    assert 'value="relative"' in body  # what was typed stays
    assert not Policy.objects.exists()


def test_editing_writes_a_new_version_and_the_detail_page_diffs_them(op):
    p = backup()
    r = op.post(f"/policies/{p.pk}/edit", wizard_post(name="Prod backups", c_cleanup_hours="72"))
    assert r.status_code == 302
    p.refresh_from_db()
    assert p.version == 2
    body = op.get(f"/policies/{p.pk}/", {"a": 1, "b": 2}).content.decode()
    assert 'class="diff-del"' in body and "&quot;cleanup_hours&quot;: 168" in body
    assert 'class="diff-add"' in body and "&quot;cleanup_hours&quot;: 72" in body
    assert "BACKUP DATABASE" in body  # the rendered T-SQL


def test_deploying_from_the_page_creates_jobs_and_removing_deletes_them(op):
    p = backup()
    group = server_actions.create_group("Production")
    r = op.post(f"/policies/{p.pk}/deploy", {"group_ids": [group.pk]})
    assert r.status_code == 302
    assert Job.objects.filter(deleted_at__isnull=True).count() == 3  # full, diff, log
    body = op.get(f"/policies/{p.pk}/").content.decode()
    assert "Production" in body and "Run now" in body
    op.post(f"/policies/{p.pk}/deployments/{group.pk}/remove")
    assert not Job.objects.filter(deleted_at__isnull=True).exists()


def test_a_viewer_sees_the_policy_without_its_actions(viewer):
    p = backup()
    body = viewer.get(f"/policies/{p.pk}/").content.decode()
    assert "Prod backups" in body and "Deploy to groups" not in body and "Edit" not in body
    assert viewer.post(f"/policies/{p.pk}/deploy", {"group_ids": ["1"]}).status_code == 403
    assert viewer.post("/policies/new/backup", wizard_post()).status_code == 403


@pytest.fixture
def measured():
    now = timezone.now()
    group = server_actions.create_group("Production")
    srv = server_actions.create_server(
        {"name": "SQLA", "host": "sqla.corp.example", "auth_type": "sql", "username": "u"},
        acting_user="pw",
    )
    server_actions.add_to_group(group, [srv])
    for name, log_age in (("Sales", 5), ("Billing", 200)):
        DatabaseState.objects.create(
            server=srv,
            name=name,
            recovery_model="FULL",
            state="ONLINE",
            created=now - dt.timedelta(days=100),
            last_full=now - dt.timedelta(hours=20),
            last_diff=now - dt.timedelta(hours=2),
            last_log=now - dt.timedelta(minutes=log_age),
            collected_at=now,
        )
    p = backup()
    actions.deploy(p, [group], acting_user=None)
    return {"policy": p, "server": srv, "group": group}


def test_the_detail_page_shows_each_databases_verdict_with_icon_words_and_reason(op, measured):
    body = op.get(f"/policies/{measured['policy'].pk}/").content.decode()
    assert 'data-compliance="non_compliant"' in body and "Failing" in body
    assert "no log backup for 3 h 20 min; policy: every 15 min" in body
    assert 'data-compliance="compliant"' in body and "Compliant" in body


def test_the_compliance_view_filters_to_the_failing_databases(op, measured):
    body = op.get("/policies/compliance", {"compliance": "non_compliant"}).content.decode()
    assert 'data-database="Billing"' in body and 'data-database="Sales"' not in body
    assert "50.0 %" in body
    body = op.get("/policies/compliance", {"server": measured["server"].pk}).content.decode()
    assert 'data-database="Sales"' in body


def test_an_exemption_granted_on_the_page_shows_and_can_be_revoked(op, measured):
    p = measured["policy"]
    until = (timezone.now() + dt.timedelta(days=10)).date().isoformat()
    r = op.post(
        f"/policies/{p.pk}/exemptions",
        {
            "server_id": measured["server"].pk,
            "database": "Billing",
            "reason": "migrating",
            "expires_on": until,
        },
    )
    assert r.status_code == 302
    body = op.get(f"/policies/{p.pk}/").content.decode()
    assert "migrating (opie)" in body and 'data-compliance="exempt"' in body
    ex = Exemption.objects.get()
    op.post(f"/policies/{p.pk}/exemptions/{ex.pk}/revoke")
    ex.refresh_from_db()
    assert ex.revoked_by == "opie"


def tag(body, element_id):
    """The attributes of the element with this id, whatever order they are written in."""
    found = re.search(rf'<(?:input|select)\b[^>]*\bid="{element_id}"[^>]*>', body)
    assert found, element_id
    return set(re.findall(r'([\w-]+)(?:="([^"]*)")?', found.group(0)[1:-1]))


def test_the_form_inputs_carry_the_model_limits(op, measured):
    body = op.get("/policies/new/backup").content.decode()
    assert {("name", "name"), ("maxlength", "128"), ("required", "")} <= tag(body, "id_name")
    assert ("maxlength", "1000") in tag(body, "id_description")
    body = op.get(f"/policies/{measured['policy'].pk}/").content.decode()
    assert {("name", "database"), ("maxlength", "128")} <= tag(body, "ex-db")
    assert {("name", "reason"), ("maxlength", "500"), ("required", "")} <= tag(body, "ex-reason")
    assert {("name", "expires_on"), ("type", "date")} <= tag(body, "ex-until")
    assert ("name", "server_id") in tag(body, "ex-server")
    assert f'<option value="{measured["server"].pk}">SQLA</option>' in body


def test_an_exemption_without_a_reason_is_refused_with_why(op, measured):
    p = measured["policy"]
    r = op.post(f"/policies/{p.pk}/exemptions", {"server_id": measured["server"].pk}, follow=True)
    body = r.content.decode()
    assert "Say why this database is exempt." in body
    assert "Give the date the exemption ends." in body
    assert not Exemption.objects.exists()
