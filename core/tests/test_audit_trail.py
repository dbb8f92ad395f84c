"""The audit trail, endpoint by endpoint: every mutating operation of the published API leaves
the activity-log entries its action records, each naming the user who made the request.

The operations come from the OpenAPI schema the app serves, so a new endpoint shows up here by
itself: `test_every_write_in_the_schema_has_a_case` fails until someone says how to call it and
what it must log.

How entries are counted: everything written to the tenant's activity log while the request ran
(ids above the largest one before it), with nothing filtered out by action name. Tests run in a
transaction that never commits, so work an action queues for after its commit (a deployment,
a job visit, a webhook delivery) does not run here; that work is the worker's, logged by the
worker, and leaving it out keeps the count deterministic and free of any network access.
Objects a case needs are made beforehand through the apps' actions, and the entries they leave
are not counted.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connections
from django.db.models import Max
from django.utils import timezone

from alerts import actions as alert_actions
from alerts.models import Alert
from core.models import ActivityLog
from dbtools import tenancy
from policies import actions as policy_actions
from scheduler import actions as job_actions
from servers import actions as server_actions
from tenants import provisioning
from tenants.models import Tenant

pytestmark = pytest.mark.django_db(databases="__all__")

MUTATING = ("post", "put", "patch", "delete")
NEW_TENANT = "audit-new"


@functools.cache
def schema_operations() -> frozenset[tuple[str, str]]:
    """(METHOD, path template) of every mutating operation in the served schema."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return frozenset(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in MUTATING
    )


# -- what the cases stand on ----------------------------------------------------------------------
@dataclass
class Call:
    path: str
    body: dict[str, Any] | None = None
    # Whose activity log the operation writes to (slug); None: the tenant of the request.
    log_of: str | None = None


class World:
    """Makes what a case needs, through the apps' actions, inside tenant alpha. The target
    servers point at a closed local port so nothing could ever wait on an instance."""

    def __init__(self, request: pytest.FixtureRequest, alpha: Tenant, beta: Tenant) -> None:
        self.request, self.alpha, self.beta = request, alpha, beta
        self._n = 0

    def _name(self, stem: str) -> str:
        self._n += 1
        return f"{stem}{self._n}"

    def server(self) -> Any:
        return server_actions.create_server(
            {
                "name": self._name("AUDIT-SQL"),
                "host": "127.0.0.1",
                "port": 1,
                "auth_type": "sql",
                "username": "u",
                "password": "p",
            },
            acting_user=None,
        )

    def group(self) -> Any:
        return server_actions.create_group(self._name("Audit group "), acting_user=None)

    def label(self) -> Any:
        return server_actions.create_label(self._name("audit-label-"), acting_user=None)

    def rule(self, **extra: Any) -> Any:
        data = {
            "name": self._name("Audit rule "),
            "metric": "cpu_percent",
            "operator": "gt",
            "threshold": 90,
            "severity": "warning",
            **extra,
        }
        return alert_actions.create_rule(data, acting_user=None)

    def alert(self) -> Any:
        rule, server = self.rule(), self.server()
        return Alert.objects.create(
            rule=rule,
            server=server,
            severity=rule.severity,
            value=95,
            last_value=95,
            threshold=rule.threshold,
            triggered_at=timezone.now(),
        )

    def silence(self) -> Any:
        return alert_actions.create_silence(
            {"server": self.server(), "ends_at": timezone.now() + dt.timedelta(hours=2)},
            acting_user=None,
        )

    def contact_point(self) -> Any:
        return alert_actions.create_contact_point(
            {"name": self._name("Audit hook "), "url": "https://hooks.example.com/dbtools"},
            acting_user=None,
        )

    def job_body(self, **extra: Any) -> dict[str, Any]:
        return {
            "name": self._name("Audit job "),
            "job_type": "custom_script",
            "configuration": {"script": "SELECT 1"},
            "schedule_type": "cron",
            "schedule_config": {"expression": "0 2 * * *"},
            "timezone": "UTC",
            "target_type": "servers",
            "server_ids": [self.server().pk],
            **extra,
        }

    def job(self, **extra: Any) -> Any:
        return job_actions.create_job(self.job_body(**extra), acting_user=None)

    def policy(self, status: str = "active") -> Any:
        return policy_actions.create_policy(
            {
                "name": self._name("Audit policy "),
                "policy_type": "integrity_check",
                "status": status,
                "configuration": {},
            },
            acting_user=None,
        )

    def exemption(self) -> Any:
        return policy_actions.grant_exemption(
            self.policy(),
            {
                "server": self.server(),
                "database": "Sales",
                "reason": "Migrating",
                "expires_at": timezone.now() + dt.timedelta(days=7),
            },
            acting_user=None,
        )


def passing_connection_test(w: World) -> None:
    """The connection tests answer 400 when the instance cannot be reached; what is under test
    here is what they log, so the driver's verdict is replaced by a passing one."""
    w.request.getfixturevalue("monkeypatch").setattr(
        server_actions,
        "test_connection",
        lambda target: {"ok": True, "message": "Connected to a stand-in."},
    )


def restore_login_of_beta(w: World) -> None:
    """Deleting a tenant takes LOGIN from its database role outside any transaction; the
    session's other tests still need beta."""

    def restore() -> None:
        with provisioning.admin_connection() as conn:
            conn.execute(f'ALTER ROLE "{w.beta.db_user}" LOGIN')

    w.request.addfinalizer(restore)


# -- the table ------------------------------------------------------------------------------------
@dataclass
class Case:
    method: str
    path: str
    setup: Callable[[World], Call]
    # The actions of the new entries, sorted; () for operations that change nothing.
    logs: tuple[str, ...]
    id: str = ""
    # Tenants endpoints: a platform administrator, no tenant header.
    system: bool = False
    marks: list[Any] = field(default_factory=list)

    def param(self) -> Any:
        return pytest.param(self, id=self.id or f"{self.method} {self.path}", marks=self.marks)


def _rule_body(w: World, **extra: Any) -> dict[str, Any]:
    return {
        "name": w._name("Audit rule "),
        "metric": "cpu_percent",
        "operator": "gt",
        "threshold": 80,
        "severity": "critical",
        **extra,
    }


def _server_body(w: World, **extra: Any) -> dict[str, Any]:
    return {
        "name": w._name("AUDIT-NEW"),
        "host": "127.0.0.1",
        "port": 1,
        "auth_type": "sql",
        "username": "u",
        "password": "p",
        **extra,
    }


def _cp_body(w: World, **extra: Any) -> dict[str, Any]:
    return {"name": w._name("Audit hook "), "url": "https://hooks.example.com/x", **extra}


def _soon(hours: int = 3) -> str:
    return (timezone.now() + dt.timedelta(hours=hours)).isoformat()


def _suspended_beta(w: World) -> Call:
    provisioning.suspend_tenant(w.beta, acting_user=None)
    return Call(f"/api/tenants/{w.beta.slug}/activate", log_of=w.beta.slug)


def _deleted_beta(w: World) -> Call:
    restore_login_of_beta(w)
    return Call(f"/api/tenants/{w.beta.slug}", log_of=w.beta.slug)


def _new_tenant(w: World) -> Call:
    w.request.getfixturevalue("scratch_tenants")(NEW_TENANT)
    return Call("/api/tenants", {"slug": NEW_TENANT, "name": "Audit New"}, log_of=NEW_TENANT)


def _stopped_collection(w: World) -> Call:
    from monitoring.actions import config_for, save_config

    server = w.server()
    save_config(config_for(server), {"enabled": False}, acting_user=None)
    return Call(f"/api/servers/{server.pk}/collection/start")


def _disabled_job(w: World) -> Call:
    job = w.job()
    job_actions.set_enabled(job, False, acting_user=None)
    return Call(f"/api/jobs/{job.pk}/enable")


def _queued_run(w: World) -> Call:
    job = w.job()
    run = job_actions.run_now(job, acting_user=None)
    return Call(f"/api/jobs/{job.pk}/runs/{run.pk}/cancel")


def _deployed_policy(w: World) -> Call:
    policy, group = w.policy(), w.group()
    policy_actions.deploy(policy, [group], acting_user=None)
    return Call(f"/api/policies/{policy.pk}/deployments/{group.pk}")


def _labelled_server(w: World) -> Call:
    server, label = w.server(), w.label()
    server_actions.assign_labels([server], [label.name], acting_user=None)
    return Call(f"/api/servers/{server.pk}/labels/{label.pk}")


def _grouped_server(w: World) -> Call:
    group, server = w.group(), w.server()
    server_actions.add_to_group(group, [server], acting_user=None)
    return Call(f"/api/groups/{group.pk}/servers/{server.pk}")


def _notification(w: World) -> Call:
    notification = alert_actions.send_test(w.contact_point(), acting_user=None)
    return Call(f"/api/alert-notifications/{notification.pk}/redeliver")


def _retest(w: World) -> Call:
    passing_connection_test(w)
    return Call(f"/api/servers/{w.server().pk}/test-connection")


def _unsaved_test(w: World) -> Call:
    passing_connection_test(w)
    body = {"host": "127.0.0.1", "port": 1, "auth_type": "sql", "username": "u", "password": "p"}
    return Call("/api/servers/test-connection", body)


def _exemption(w: World) -> Call:
    exemption = w.exemption()
    return Call(f"/api/policies/{exemption.policy_id}/exemptions/{exemption.pk}")


def _bulk(action: str, **extra: Any) -> Callable[[World], Call]:
    def setup(w: World) -> Call:
        body = {"action": action, "server_ids": [w.server().pk], **extra}
        if action == "add_to_group":
            body["group_id"] = w.group().pk
        if action == "add_label":
            body["label"] = w.label().name
        return Call("/api/servers/bulk", body)

    return setup


CASES = [
    # alerts
    Case(
        "POST",
        "/api/alert-rules",
        lambda w: Call("/api/alert-rules", _rule_body(w)),
        ("alert_rule.created",),
    ),
    Case(
        "PUT",
        "/api/alert-rules/{id}",
        lambda w: Call(f"/api/alert-rules/{w.rule().pk}", _rule_body(w, threshold=70)),
        ("alert_rule.updated",),
    ),
    Case(
        "PATCH",
        "/api/alert-rules/{id}",
        lambda w: Call(f"/api/alert-rules/{w.rule().pk}", {"threshold": 75}),
        ("alert_rule.updated",),
    ),
    Case(
        "DELETE",
        "/api/alert-rules/{id}",
        lambda w: Call(f"/api/alert-rules/{w.rule().pk}"),
        ("alert_rule.deleted",),
    ),
    Case(
        "POST",
        "/api/alert-rules/{id}/disable",
        lambda w: Call(f"/api/alert-rules/{w.rule().pk}/disable"),
        ("alert_rule.disabled",),
    ),
    Case(
        "POST",
        "/api/alert-rules/{id}/enable",
        lambda w: Call(f"/api/alert-rules/{w.rule(enabled=False).pk}/enable"),
        ("alert_rule.enabled",),
    ),
    # A draft judged in a transaction that is rolled back: nothing to log.
    Case(
        "POST",
        "/api/alert-rules/preview",
        lambda w: Call("/api/alert-rules/preview", _rule_body(w)),
        (),
    ),
    # A replay of stored rollups: reads only.
    Case(
        "POST",
        "/api/alert-rules/backtest",
        lambda w: Call("/api/alert-rules/backtest", _rule_body(w)),
        (),
    ),
    Case(
        "POST",
        "/api/alerts/{id}/acknowledge",
        lambda w: Call(f"/api/alerts/{w.alert().pk}/acknowledge", {"comment": "on it"}),
        ("alert.acknowledged",),
    ),
    Case(
        "POST",
        "/api/alerts/acknowledge",
        lambda w: Call("/api/alerts/acknowledge", {"ids": [w.alert().pk], "comment": "on it"}),
        ("alert.acknowledged",),
    ),
    Case(
        "POST",
        "/api/alert-silences",
        lambda w: Call("/api/alert-silences", {"server": w.server().pk, "ends_at": _soon()}),
        ("silence.created",),
    ),
    Case(
        "PUT",
        "/api/alert-silences/{id}",
        lambda w: Call(
            f"/api/alert-silences/{w.silence().pk}",
            {"server": w.server().pk, "ends_at": _soon(5), "comment": "longer"},
        ),
        ("silence.updated",),
    ),
    Case(
        "PATCH",
        "/api/alert-silences/{id}",
        lambda w: Call(f"/api/alert-silences/{w.silence().pk}", {"comment": "patching"}),
        ("silence.updated",),
    ),
    Case(
        "DELETE",
        "/api/alert-silences/{id}",
        lambda w: Call(f"/api/alert-silences/{w.silence().pk}"),
        ("silence.deleted",),
    ),
    Case(
        "POST",
        "/api/alert-silences/{id}/end",
        lambda w: Call(f"/api/alert-silences/{w.silence().pk}/end"),
        ("silence.ended",),
    ),
    Case(
        "POST",
        "/api/contact-points",
        lambda w: Call("/api/contact-points", _cp_body(w)),
        ("contact_point.created",),
    ),
    Case(
        "PUT",
        "/api/contact-points/{id}",
        lambda w: Call(f"/api/contact-points/{w.contact_point().pk}", _cp_body(w)),
        ("contact_point.updated",),
    ),
    Case(
        "PATCH",
        "/api/contact-points/{id}",
        lambda w: Call(f"/api/contact-points/{w.contact_point().pk}", {"enabled": False}),
        ("contact_point.updated",),
    ),
    Case(
        "DELETE",
        "/api/contact-points/{id}",
        lambda w: Call(f"/api/contact-points/{w.contact_point().pk}"),
        ("contact_point.deleted",),
    ),
    # The test message is a notification row: it is logged.
    Case(
        "POST",
        "/api/contact-points/{id}/test",
        lambda w: Call(f"/api/contact-points/{w.contact_point().pk}/test"),
        ("contact_point.tested",),
    ),
    Case(
        "POST",
        "/api/alert-notifications/{id}/redeliver",
        _notification,
        ("notification.redelivered",),
    ),
    # groups and labels
    Case(
        "POST",
        "/api/groups",
        lambda w: Call("/api/groups", {"name": w._name("New group ")}),
        ("group.created",),
    ),
    Case(
        "PUT",
        "/api/groups/{id}",
        lambda w: Call(f"/api/groups/{w.group().pk}", {"name": w._name("Renamed ")}),
        ("group.updated",),
    ),
    Case(
        "PATCH",
        "/api/groups/{id}",
        lambda w: Call(f"/api/groups/{w.group().pk}", {"description": "patched"}),
        ("group.updated",),
    ),
    Case(
        "DELETE",
        "/api/groups/{id}",
        lambda w: Call(f"/api/groups/{w.group().pk}"),
        ("group.deleted",),
    ),
    Case(
        "POST",
        "/api/groups/{id}/servers",
        lambda w: Call(f"/api/groups/{w.group().pk}/servers", {"server_ids": [w.server().pk]}),
        ("group.servers_added",),
    ),
    Case(
        "DELETE",
        "/api/groups/{id}/servers/{server_id}",
        _grouped_server,
        ("group.server_removed",),
    ),
    Case(
        "POST",
        "/api/labels",
        lambda w: Call("/api/labels", {"name": w._name("new-label-")}),
        ("label.created",),
    ),
    # servers
    Case(
        "POST",
        "/api/servers",
        lambda w: Call("/api/servers", _server_body(w)),
        ("server.created",),
    ),
    Case(
        "PUT",
        "/api/servers/{id}",
        lambda w: Call(f"/api/servers/{w.server().pk}", _server_body(w)),
        ("server.updated",),
    ),
    Case(
        "PATCH",
        "/api/servers/{id}",
        lambda w: Call(f"/api/servers/{w.server().pk}", {"name": w._name("AUDIT-RENAMED")}),
        ("server.updated",),
    ),
    Case(
        "DELETE",
        "/api/servers/{id}",
        lambda w: Call(f"/api/servers/{w.server().pk}"),
        ("server.deleted",),
    ),
    Case(
        "PUT",
        "/api/servers/{id}/collection-config",
        lambda w: Call(
            f"/api/servers/{w.server().pk}/collection-config",
            {"interval_seconds": 120, "enabled": True},
        ),
        ("server.collection_configured",),
    ),
    Case(
        "POST",
        "/api/servers/{id}/collection/start",
        _stopped_collection,
        ("server.collection_configured",),
    ),
    Case(
        "POST",
        "/api/servers/{id}/collection/stop",
        lambda w: Call(f"/api/servers/{w.server().pk}/collection/stop"),
        ("server.collection_configured",),
    ),
    # The request only marks the server and queues the deployment after commit.
    Case(
        "POST",
        "/api/servers/{id}/deploy",
        lambda w: Call(f"/api/servers/{w.server().pk}/deploy"),
        ("server.deploy_requested",),
    ),
    Case(
        "POST",
        "/api/servers/{id}/labels",
        lambda w: Call(f"/api/servers/{w.server().pk}/labels", {"labels": [w.label().name]}),
        ("server.labels_added",),
        id="POST /api/servers/{id}/labels existing label",
    ),
    # A name not seen before also creates the label: two changes, two entries.
    Case(
        "POST",
        "/api/servers/{id}/labels",
        lambda w: Call(f"/api/servers/{w.server().pk}/labels", {"labels": [w._name("fresh-")]}),
        ("label.created", "server.labels_added"),
        id="POST /api/servers/{id}/labels new label",
    ),
    Case(
        "DELETE",
        "/api/servers/{id}/labels/{label_id}",
        _labelled_server,
        ("server.label_removed",),
    ),
    # The saved connection is tested again and its outcome stored on the server: logged.
    Case(
        "POST",
        "/api/servers/{id}/test-connection",
        _retest,
        ("server.connection_tested",),
    ),
    # A connection that is not saved: nothing is written, nothing to log.
    Case(
        "POST",
        "/api/servers/test-connection",
        _unsaved_test,
        (),
    ),
    *(
        Case("POST", "/api/servers/bulk", _bulk(action), (logged,), id=f"POST bulk {action}")
        for action, logged in [
            ("add_to_group", "group.servers_added"),
            ("add_label", "server.labels_added"),
            ("deploy", "server.deploy_requested"),
            ("delete", "server.deleted"),
        ]
    ),
    # jobs
    Case("POST", "/api/jobs", lambda w: Call("/api/jobs", w.job_body()), ("job.created",)),
    Case(
        "PUT",
        "/api/jobs/{id}",
        lambda w: Call(f"/api/jobs/{w.job().pk}", w.job_body()),
        ("job.updated",),
    ),
    Case(
        "PATCH",
        "/api/jobs/{id}",
        lambda w: Call(f"/api/jobs/{w.job().pk}", {"description": "patched"}),
        ("job.updated",),
    ),
    Case("DELETE", "/api/jobs/{id}", lambda w: Call(f"/api/jobs/{w.job().pk}"), ("job.deleted",)),
    Case(
        "PUT",
        "/api/jobs/{id}/dependencies",
        lambda w: Call(
            f"/api/jobs/{w.job().pk}/dependencies", {"upstream": [{"job_id": w.job().pk}]}
        ),
        ("job.dependencies_set",),
    ),
    Case(
        "POST",
        "/api/jobs/{id}/disable",
        lambda w: Call(f"/api/jobs/{w.job().pk}/disable"),
        ("job.disabled",),
    ),
    Case("POST", "/api/jobs/{id}/enable", _disabled_job, ("job.enabled",)),
    # The run is queued; the visit that runs it waits for the commit (never, in a test).
    Case(
        "POST",
        "/api/jobs/{id}/run",
        lambda w: Call(f"/api/jobs/{w.job().pk}/run"),
        ("job.run_requested",),
    ),
    Case("POST", "/api/jobs/{id}/runs/{run_id}/cancel", _queued_run, ("job.run_cancelled",)),
    # Reads a schedule back in words: nothing is written.
    Case(
        "POST",
        "/api/jobs/schedule-preview",
        lambda w: Call(
            "/api/jobs/schedule-preview",
            {"schedule_type": "cron", "schedule_config": {"expression": "0 2 * * *"}},
        ),
        (),
    ),
    # policies
    Case(
        "POST",
        "/api/policies",
        lambda w: Call(
            "/api/policies",
            {"name": w._name("New policy "), "policy_type": "integrity_check", "configuration": {}},
        ),
        ("policy.created",),
    ),
    Case(
        "PUT",
        "/api/policies/{id}",
        lambda w: Call(
            f"/api/policies/{w.policy().pk}",
            {"name": w._name("Renamed policy "), "configuration": {}},
        ),
        ("policy.updated",),
    ),
    Case(
        "PATCH",
        "/api/policies/{id}",
        lambda w: Call(f"/api/policies/{w.policy().pk}", {"description": "patched"}),
        ("policy.updated",),
    ),
    Case(
        "DELETE",
        "/api/policies/{id}",
        lambda w: Call(f"/api/policies/{w.policy().pk}"),
        ("policy.deleted",),
    ),
    # Deploying creates the policy's job on the group: the job is logged like any other.
    Case(
        "POST",
        "/api/policies/{id}/deploy",
        lambda w: Call(f"/api/policies/{w.policy().pk}/deploy", {"group_ids": [w.group().pk]}),
        ("job.created", "policy.deployed"),
    ),
    # ... and removing the deployment deletes that job.
    Case(
        "DELETE",
        "/api/policies/{id}/deployments/{group_id}",
        _deployed_policy,
        ("job.deleted", "policy.undeployed"),
    ),
    Case(
        "POST",
        "/api/policies/{id}/exemptions",
        lambda w: Call(
            f"/api/policies/{w.policy().pk}/exemptions",
            {"server_id": w.server().pk, "reason": "Decommissioning", "expires_at": _soon(48)},
        ),
        ("policy.exemption_granted",),
    ),
    Case(
        "DELETE",
        "/api/policies/{id}/exemptions/{exemption_id}",
        _exemption,
        ("policy.exemption_revoked",),
    ),
    # settings
    Case(
        "PATCH",
        "/api/settings",
        lambda w: Call("/api/settings", {"collection_interval_seconds": 120}),
        ("settings.updated",),
    ),
    Case(
        "PUT",
        "/api/settings/retention",
        lambda w: Call("/api/settings/retention", {"metrics_retention_days": 45}),
        ("settings.updated",),
    ),
    # tenants: logged in the tenant's own database
    Case(
        "POST",
        "/api/tenants",
        _new_tenant,
        ("tenant.created",),
        system=True,
        # Provisioning creates a database and migrates it: only a committing test can.
        marks=[pytest.mark.django_db(transaction=True, databases="__all__")],
    ),
    Case(
        "POST",
        "/api/tenants/{slug}/suspend",
        lambda w: Call(f"/api/tenants/{w.beta.slug}/suspend", log_of=w.beta.slug),
        ("tenant.suspended",),
        system=True,
    ),
    Case(
        "POST", "/api/tenants/{slug}/activate", _suspended_beta, ("tenant.activated",), system=True
    ),
    Case("DELETE", "/api/tenants/{slug}", _deleted_beta, ("tenant.deleted",), system=True),
]


# -- the checks -----------------------------------------------------------------------------------
def _last_id() -> int:
    return ActivityLog.objects.aggregate(m=Max("id"))["m"] or 0


def _fingerprint() -> dict[str, tuple[int, int]]:
    """Row count and a sum of row hashes per table of the current tenant's database: equal
    before and after means the request left the data as it found it."""
    with connections[tenancy.current().alias].cursor() as cur:
        tables = connections[tenancy.current().alias].introspection.table_names(cur)
        found = {}
        for table in tables:
            cur.execute(
                f'SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM "{table}" t'
            )
            found[table] = cur.fetchone()
    return found


def _tenant(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


@pytest.fixture
def auditor(make_user, tenant_alpha):
    return make_user("auditor", tenant_alpha, "admin")


@pytest.mark.parametrize("case", [c.param() for c in CASES])
def test_each_write_is_logged_with_its_user(
    case, request, api, auditor, admin_user, tenant_alpha, tenant_beta
):
    world = World(request, tenant_alpha, tenant_beta)
    with tenancy.use_tenant(tenant_alpha):
        call = case.setup(world)
    log_of = _tenant(call.log_of or tenant_alpha.slug)
    before, fingerprint = 0, None
    if log_of is not None:  # the tenant a create makes has no log before
        with tenancy.use_tenant(log_of):
            before = _last_id()
            fingerprint = _fingerprint() if not case.logs else None
    user = admin_user if case.system else auditor
    client = api(user) if case.system else api(user, tenant_alpha)
    send = getattr(client, case.method.lower())
    response = send(call.path, call.body, format="json") if call.body else send(call.path)

    assert 200 <= response.status_code < 300, (response.status_code, response.content[:500])
    with tenancy.use_tenant(_tenant(call.log_of or tenant_alpha.slug)):
        new = list(ActivityLog.objects.filter(id__gt=before).order_by("id"))
        if fingerprint is not None:
            assert _fingerprint() == fingerprint, "wrote something but logged nothing"
    assert sorted(e.action for e in new) == list(case.logs), [str(e) for e in new]
    assert {(e.user_id, e.user_name) for e in new} <= {(user.pk, user.get_username())}


def test_every_write_in_the_schema_has_a_case():
    covered = {(c.method, c.path) for c in CASES}
    published = schema_operations()
    assert not published - covered, f"no audit case: {sorted(published - covered)}"
    assert not covered - published, f"stale cases: {sorted(covered - published)}"
