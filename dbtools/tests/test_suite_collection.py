"""The suite run with no arguments (`make test`, CI) collects every test module of every app."""

import subprocess
import sys
from pathlib import Path

from django.apps import apps
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
SKIPPED_DIRS = {"node_modules", "staticfiles", "static", "templates", "__pycache__"}


def _test_modules_on_disk() -> set[str]:
    found = set()
    for path in ROOT.rglob("test_*.py"):
        rel = path.relative_to(ROOT)
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in rel.parts[:-1]):
            continue
        if "tests" in rel.parts[:-1]:
            found.add(rel.as_posix())
    return found


def _collected_modules() -> set[str]:
    # A separate process sees exactly what a bare `pytest` in the project root would run.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {line.split("::")[0] for line in done.stdout.splitlines() if "::" in line}


def test_a_bare_pytest_run_collects_every_test_module():
    on_disk = _test_modules_on_disk()
    collected = _collected_modules()
    assert on_disk, "no test modules found: the walk itself is broken"
    assert on_disk - collected == set()


def test_every_project_app_has_collected_tests():
    local_apps = set()
    for app in apps.get_app_configs():
        path = Path(app.path)
        # A virtualenv inside the checkout (as CI and `make test` create it) holds installed
        # apps, not ours.
        if path.is_relative_to(ROOT) and "site-packages" not in path.parts:
            local_apps.add(path.relative_to(ROOT).as_posix())
    with_tests = {path.split("/")[0] for path in _test_modules_on_disk()}
    assert local_apps - with_tests == set()
