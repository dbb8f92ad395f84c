"""What the job wizard's policy picker offers: active policies' latest versions, one entry per
part they run, in the configuration a policy job needs."""

import pytest

from policies import actions, runner

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.usefixtures("use_alpha")]


def make(name, policy_type, status="active", **config):
    return actions.create_policy(
        {"name": name, "policy_type": policy_type, "status": status, "configuration": config},
        acting_user=None,
    )


def test_active_policies_are_offered_per_part_and_drafts_are_not():
    backup = make("Prod backups", "backup", destination_path="D:\\Backup")
    check = make("Weekly CHECKDB", "integrity_check")
    make("Draft rebuild", "index_maintenance", status="draft")
    picks = {p.value: p for p in runner.picks()}
    assert f"{check.pk}:integrity_check" in picks
    assert picks[f"{check.pk}:integrity_check"].label == "Weekly CHECKDB v1 (integrity check)"
    assert picks[f"{check.pk}:integrity_check"].configuration == {
        "policy_id": check.pk,
        "policy_version": 1,
        "task": "integrity_check",
    }
    parts = [v for v in picks if v.startswith(f"{backup.pk}:")]
    assert parts and all(v.split(":")[1] in ("full", "diff", "log") for v in parts)
    assert not any("Draft rebuild" in p.label for p in picks.values())
