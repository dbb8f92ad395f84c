"""Production settings: clean deployment checks over HTTPS, long secret keys, security headers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


def run_deploy_checks(tmp_path, **env):
    # The production settings module, as a fresh machine would have them after the set-up
    # (which writes this machine's secrets): nothing from this shell.
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DBTOOLS_") and k != "DJANGO_ALLOW_ASYNC_UNSAFE"
    }
    environ |= {"DJANGO_SETTINGS_MODULE": "dbtools.settings", "DBTOOLS_STATE_DIR": str(tmp_path)}
    environ |= env

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    setup = run("-m", "dbtools.local_secrets")
    assert setup.returncode == 0, setup.stderr
    return run("manage.py", "check", "--deploy", "--fail-level", "WARNING")


def test_deploy_checks_pass_with_https_on(tmp_path):
    done = run_deploy_checks(tmp_path, DBTOOLS_HTTPS="true")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    # The set-up generated the secret key, long enough for Django's check.
    assert len((tmp_path / "secret_key").read_text().strip()) >= 50


def test_deploy_checks_name_what_is_missing_without_https(tmp_path):
    done = run_deploy_checks(tmp_path)
    assert done.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in done.stderr
    assert "security.W009" not in done.stderr  # the generated key is fine either way


def test_a_short_secret_key_from_an_older_release_is_replaced(tmp_path):
    (tmp_path / "secret_key").write_text("x" * 44)
    done = run_deploy_checks(tmp_path, DBTOOLS_HTTPS="true")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len((tmp_path / "secret_key").read_text().strip()) >= 50


@pytest.mark.django_db(databases="__all__")
def test_pages_and_api_send_csp_and_permissions_policy(client, admin_user):
    client.force_login(admin_user)
    for path in ("/accounts/login/", "/", "/api/health", "/api/docs/"):
        r = client.get(path)
        csp = r["Content-Security-Policy"]
        assert "script-src 'self'" in csp, path
        assert "'unsafe-inline'" not in csp.split("style-src-attr")[0], path
        assert "'unsafe-eval'" not in csp, path
        assert "object-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert (
            "camera=()" in r["Permissions-Policy"] and "geolocation=()" in r["Permissions-Policy"]
        )


@pytest.mark.django_db(databases="__all__")
def test_the_api_docs_inline_style_carries_the_nonce(client, admin_user):
    client.force_login(admin_user)
    r = client.get("/api/docs/")
    nonce = r["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<style nonce="{nonce}">'.encode() in r.content
    assert b"<script>" not in r.content  # Swagger UI's set-up comes as a script file
