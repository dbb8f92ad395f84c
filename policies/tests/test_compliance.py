"""Compliance rules: which databases meet their policy, and why the others do not."""

import datetime as dt

import pytest

from policies import compliance, schemas
from policies.compliance import DatabaseFacts, Exemption, Status

NOW = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)


def facts(name="Sales", recovery="FULL", **kw):
    base = {
        "server_id": 1,
        "server_name": "SQLPROD01",
        "name": name,
        "recovery_model": recovery,
        "state": "ONLINE",
        "created": NOW - 400 * H,
        "last_full": NOW - 20 * H,
        "last_diff": None,
        "last_log": NOW - 5 * M,
        "last_good_checkdb": NOW - 50 * H,
    }
    return DatabaseFacts(**{**base, **kw})


def backup_limits(**change):
    config, errors = schemas.validate("backup", {"destination_path": "D:\\B", **change})
    assert not errors
    return compliance.limits_for("backup", config)


def judge(limits, *dbs, **kw):
    return {v.database: v for v in compliance.evaluate(limits, list(dbs), NOW, **kw)}


def test_limits_follow_the_schedules():
    limits = backup_limits()
    assert limits.full == 7 * 24 * H + compliance.MARGIN  # weekly full
    assert limits.full_or_diff == 48 * H + compliance.MARGIN  # Saturday to Monday: longest gap
    assert limits.log == 30 * M  # every 15 min, one interval late at most


def test_a_database_backed_up_on_time_complies():
    v = judge(backup_limits(), facts(last_diff=NOW - 10 * H))["Sales"]
    assert v.status == Status.COMPLIANT and v.reasons == ()


def test_a_missed_log_backup_says_for_how_long_against_the_policy():
    v = judge(backup_limits(), facts(last_log=NOW - 200 * M, last_diff=NOW - H))["Sales"]
    assert v.status == Status.NON_COMPLIANT
    assert v.reasons == ("no log backup for 3 h 20 min; policy: every 15 min",)


def test_log_backup_at_its_limit_still_complies_and_past_it_does_not():
    limits = backup_limits()
    ok = judge(limits, facts(last_log=NOW - 30 * M, last_diff=NOW - H))["Sales"]
    late = judge(limits, facts(last_log=NOW - 31 * M, last_diff=NOW - H))["Sales"]
    assert ok.status == Status.WARNING and late.status == Status.NON_COMPLIANT
    assert ok.reasons == ("log backup late: last 30 min ago; policy: every 15 min",)


def test_a_log_backup_within_its_interval_is_not_late():
    v = judge(backup_limits(), facts(last_log=NOW - 15 * M, last_diff=NOW - H))["Sales"]
    assert v.status == Status.COMPLIANT


def test_a_server_wide_exemption_covers_every_database():
    ex = Exemption(1, "", "server being retired", NOW + 24 * H, "ann")
    got = judge(backup_limits(), facts("A", last_full=None), facts("B"), exemptions=[ex])
    assert {v.status for v in got.values()} == {Status.EXEMPT}


def test_late_databases_count_as_within_the_policy():
    verdicts = [
        compliance.Verdict(1, "s", "a", Status.WARNING),
        compliance.Verdict(1, "s", "b", Status.NON_COMPLIANT),
    ]
    assert compliance.summary(verdicts)["percent"] == 50.0


def test_simple_recovery_cannot_meet_a_log_policy():
    v = judge(backup_limits(), facts(recovery="SIMPLE", last_log=None, last_diff=NOW - H))["Sales"]
    assert v.reasons == ("simple recovery model: log backups impossible",)


def test_no_backup_at_all():
    v = judge(backup_limits(log=None, diff=None), facts(last_full=None))["Sales"]
    assert v.reasons == ("no full backup recorded; policy: within 7 days",)


def test_new_databases_get_a_grace_period():
    v = judge(backup_limits(), facts(created=NOW - 2 * H, last_full=None, last_log=None))["Sales"]
    assert v.status == Status.GRACE


def test_exemptions_apply_until_they_expire():
    ex = Exemption(1, "sales", "decommissioned in December", NOW + 24 * H, "ann")
    gone = Exemption(1, "sales", "old", NOW - H, "ann")
    old = facts(last_full=None, last_log=None)
    assert judge(backup_limits(), old, exemptions=[ex])["Sales"].status == Status.EXEMPT
    assert judge(backup_limits(), old, exemptions=[gone])["Sales"].status == Status.NON_COMPLIANT


def test_integrity_check_age():
    config, _ = schemas.validate("integrity_check", {})  # weekly, Saturday 00:00
    limits = compliance.limits_for("integrity_check", config)
    v = judge(limits, facts(last_good_checkdb=NOW - 12 * 24 * H))["Sales"]
    assert v.reasons == ("last CHECKDB 12 days ago; policy: 7 days",)
    assert judge(limits, facts())["Sales"].status == Status.COMPLIANT


def test_selection_and_offline_databases():
    limits = backup_limits(databases="USER_DATABASES, -Staging")
    got = judge(limits, facts("master"), facts("Staging"), facts("Archive", state="OFFLINE"))
    assert set(got) == {"Archive"}
    assert got["Archive"].status == Status.NOT_APPLICABLE


@pytest.mark.parametrize(("good", "bad", "percent"), [(97, 3, 97.0), (0, 0, None), (1, 2, 33.3)])
def test_fleet_summary(good, bad, percent):
    verdicts = [compliance.Verdict(1, "s", f"g{i}", Status.COMPLIANT) for i in range(good)]
    verdicts += [compliance.Verdict(1, "s", f"b{i}", Status.NON_COMPLIANT) for i in range(bad)]
    assert compliance.summary(verdicts)["percent"] == percent


def test_the_next_change_is_the_first_instant_time_alone_changes_a_verdict():
    limits = backup_limits()  # log every 15 min: late after 15, overdue after 30
    db = facts(last_log=NOW - 5 * M, last_diff=NOW - H)
    assert compliance.next_change(limits, [db], NOW) == NOW + 10 * M
    # Judged again at that instant, the verdict has indeed changed.
    later = compliance.evaluate(limits, [db], NOW + 10 * M + dt.timedelta(seconds=1))
    assert later[0].status == Status.WARNING
    ends = Exemption(1, "Sales", "migration", NOW + 2 * M, "ann")
    assert compliance.next_change(limits, [db], NOW, exemptions=[ends]) == NOW + 2 * M
    assert compliance.next_change(limits, [], NOW) is None
    # Everything already overdue: nothing more time can change.
    stale = facts(last_full=NOW - 900 * H, last_log=NOW - 900 * H, created=NOW - 2000 * H)
    assert compliance.next_change(limits, [stale], NOW) is None
