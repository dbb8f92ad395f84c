"""A deployed policy run by the scheduler engine against sqlsim over TDS: backups with their
msdb history, the failure a full disk gives, integrity checks finding corruption, index work."""

import pytest
from django.db import connections

from policies import actions
from scheduler import actions as job_actions
from scheduler import engine
from scheduler.models import Job
from servers import actions as server_actions

pytestmark = [
    pytest.mark.django_db(databases="__all__", transaction=True),
    pytest.mark.usefixtures("use_alpha"),
]


@pytest.fixture
def fleet(sqlsim_factory):
    from sqlsim import InstanceConfig

    return sqlsim_factory(
        [
            InstanceConfig(name="SQLMAINT01", port=0, databases=8),
            InstanceConfig(
                name="SQLMAINT02", port=0, version=2022, edition="standard", databases=6
            ),
        ]
    )


@pytest.fixture
def group(fleet):
    group = server_actions.create_group("Prod")
    servers = []
    for name in ("SQLMAINT01", "SQLMAINT02"):
        host, port = fleet.address(name)
        servers.append(
            server_actions.create_server(
                {
                    "name": name,
                    "host": host,
                    "port": port,
                    "auth_type": "sql",
                    "username": fleet.login,
                    "password": fleet.password,
                },
                acting_user=None,
            )
        )
    server_actions.add_to_group(group, servers)
    return group


def deploy(group, policy_type, config, name="policy"):
    policy = actions.create_policy(
        {"name": name, "policy_type": policy_type, "status": "active", "configuration": config},
        acting_user=None,
    )
    actions.deploy(policy, [group], acting_user=None)
    return policy


def run_job(job):
    run = job_actions.run_now(job, acting_user=None)
    for _ in range(5):
        for claimed in engine.step("w1", 10):
            engine.execute(claimed.execution_id, "w1")
        run.refresh_from_db()
        if run.status not in ("queued", "running"):
            break
    connections.close_all()
    return run


def test_a_full_backup_runs_on_every_server_of_the_group_and_lands_in_msdb(group, fleet):
    deploy(group, "backup", {"destination_path": "D:\\Backup", "databases": "USER_DATABASES"})
    full = Job.objects.get(configuration__task="full")
    run = run_job(full)
    assert run.status == "succeeded", list(run.executions.values("error_message", "output"))
    ex = run.executions.get(server_name="SQLMAINT01")
    assert "BACKUP DATABASE [" in ex.output and "RESTORE VERIFYONLY" in ex.output
    assert ex.result["failed"] == []
    backups = fleet.info("SQLMAINT01")["maintenance"]["backups"]
    user_dbs = [b for b in backups if b["type"] == "D"]
    assert len(user_dbs) == 4  # 8 databases, 4 of them system
    assert all(b["device"].startswith("D:\\Backup\\SQLMAINT01\\") for b in user_dbs)
    # Standard edition: no online rebuilds, but compression is there.
    assert "COMPRESSION" in run.executions.get(server_name="SQLMAINT02").output


def test_log_backups_skip_simple_databases_and_say_why(group, fleet):
    deploy(group, "backup", {"destination_path": "D:\\Backup"})
    run_job(Job.objects.get(configuration__task="full"))
    run = run_job(Job.objects.get(configuration__task="log"))
    assert run.status == "succeeded"
    ex = run.executions.get(server_name="SQLMAINT01")
    reasons = {s["reason"] for s in ex.result["skipped"]}
    logs = [b for b in fleet.info("SQLMAINT01")["maintenance"]["backups"] if b["type"] == "L"]
    assert logs, ex.output
    if len(logs) < 4:
        assert "simple recovery model: log backups impossible" in reasons


def test_a_full_disk_fails_the_backup_with_the_servers_error_and_others_go_on(group, fleet):
    deploy(group, "backup", {"destination_path": "D:\\Backup"})
    fleet.steer("SQLMAINT01", backup_failure="disk_full")
    run = run_job(Job.objects.get(configuration__task="full"))
    assert run.status == "failed"
    bad = run.executions.get(server_name="SQLMAINT01")
    assert bad.status == "failed"
    assert "There is not enough space on the disk" in bad.error_message
    assert "RESTORE VERIFYONLY" not in bad.output  # a failed backup is not verified
    assert run.executions.get(server_name="SQLMAINT02").status == "succeeded"


def test_integrity_check_reports_corruption(group, fleet):
    from sqlsim.instance import database_names

    deploy(group, "integrity_check", {"databases": "USER_DATABASES"})
    users = [n for n in database_names(8) if n not in ("master", "model", "msdb", "tempdb")]
    fleet.steer("SQLMAINT01", corrupt=users[0])
    run = run_job(Job.objects.get(job_type="policy_execution"))
    ex = run.executions.get(server_name="SQLMAINT01")
    assert ex.status == "failed"
    assert "Table error" in ex.error_message
    assert f"first on {users[0]}" in ex.error_message
    checked = fleet.info("SQLMAINT01")["maintenance"]["checkdb"]
    assert sorted(c["database"] for c in checked) == sorted(users)  # the others still checked
    assert run.executions.get(server_name="SQLMAINT02").status == "succeeded"


def test_index_maintenance_rebuilds_fragmented_indexes(group, fleet):
    deploy(group, "index_maintenance", {"min_number_of_pages": 0})
    run = run_job(Job.objects.get(job_type="policy_execution"))
    assert run.status == "succeeded", list(run.executions.values("error_message", "output"))
    out = run.executions.get(server_name="SQLMAINT01").output
    assert "ALTER INDEX" in out
    standard = run.executions.get(server_name="SQLMAINT02").output
    assert "ONLINE = ON" not in standard
