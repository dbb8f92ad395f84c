"""Engine settings and the queue helper: what goes on which cluster, and settings that disagree
stop every process at start-up."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dbtools import tasks

ROOT = Path(__file__).resolve().parents[2]


def test_each_kind_of_work_has_its_cluster(settings):
    assert tasks.cluster_for("interactive") == "interactive"
    assert tasks.cluster_for("collect") == "collect"
    assert tasks.cluster_for("routine") == settings.Q_CLUSTER["name"] == "dbtools"
    with pytest.raises(ValueError, match="unknown kind"):
        tasks.cluster_for("urgent")


@pytest.mark.django_db(databases="__all__")
@pytest.mark.usefixtures("use_alpha")
def test_deploys_go_to_the_interactive_cluster(monkeypatch, django_capture_on_commit_callbacks):
    from dbtools import tenancy
    from servers import deployment
    from servers.models import Server

    seen = []
    monkeypatch.setattr(deployment, "enqueue", lambda func, *a, **kw: seen.append((func, kw)))
    server = Server.objects.create(name="S1", host="h", port=1)
    alias = tenancy.current().alias
    with django_capture_on_commit_callbacks(using=alias, execute=True) as callbacks:
        assert deployment.request_deploy([server]) == [server]
        assert seen == []  # queued only once the deploying mark is committed
    assert len(callbacks) == 1
    assert [(f, kw["kind"]) for f, kw in seen] == [
        ("servers.deployment.deploy_task", "interactive")
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"DBTOOLS_INTERACTIVE_TIMEOUT": "60", "DBTOOLS_INTERACTIVE_RETRY": "60"},
            "cluster 'interactive': retry must exceed timeout",
        ),
        (
            {"DBTOOLS_COLLECTOR_LEASE_SECONDS": "8", "DBTOOLS_COLLECTOR_TIMEOUT": "5"},
            "DBTOOLS_COLLECTOR_LEASE_SECONDS must exceed",
        ),
        (
            {"DBTOOLS_SQL_TIMEOUT": "60", "DBTOOLS_INTERACTIVE_TIMEOUT": "120"},
            "DBTOOLS_SQL_TIMEOUT must be positive and less than half",
        ),
        ({"DBTOOLS_SQL_TIMEOUT": "0"}, "DBTOOLS_SQL_TIMEOUT must be positive"),
        (
            {"DBTOOLS_CONNECTION_TEST_TIMEOUT": "120", "DBTOOLS_INTERACTIVE_TIMEOUT": "120"},
            "DBTOOLS_CONNECTION_TEST_TIMEOUT must be positive and below",
        ),
    ],
)
def test_settings_that_disagree_stop_start_up(env, message):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "dbtools.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr, result.stderr
