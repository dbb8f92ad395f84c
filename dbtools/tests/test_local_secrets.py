"""Importing the settings reads this machine's secrets and never writes them; the set-up does."""

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOAD = "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)"


def run(args: list[str], state: Path) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DBTOOLS_SECRET_KEY", "DBTOOLS_ENCRYPTION_KEYS")
    }
    env.update(DBTOOLS_STATE_DIR=str(state), DJANGO_SETTINGS_MODULE="dbtools.settings")
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_settings_refuse_to_start_without_secrets_and_write_none(tmp_path):
    state = tmp_path / "state"
    result = run(["-c", LOAD], state)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "make setup" in result.stderr
    assert not state.exists()


def test_the_set_up_writes_private_secrets_once_and_the_settings_read_them(tmp_path):
    state = tmp_path / "state"
    assert run(["-m", "dbtools.local_secrets"], state).returncode == 0
    first = {p.name: p.read_text() for p in state.iterdir()}
    assert set(first) == {"secret_key", "encryption_key"}
    assert len(first["secret_key"]) >= 50
    for path in state.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    # Running the set-up again keeps them: the encrypted credentials depend on them.
    assert run(["-m", "dbtools.local_secrets"], state).returncode == 0
    assert {p.name: p.read_text() for p in state.iterdir()} == first
    loaded = run(["-c", LOAD], state)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == first["secret_key"]


def test_a_secret_key_too_short_for_django_is_replaced(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    (state / "secret_key").write_text("x" * 49)  # one under the 50 Django's checks ask for
    assert run(["-c", LOAD], state).returncode != 0
    assert run(["-m", "dbtools.local_secrets"], state).returncode == 0
    assert len((state / "secret_key").read_text()) >= 50
