"""Tenant operations in a real browser: the live move progress and a keyboard-only backup."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from dbtools import crypto
from tenants.models import TenantBackup, TenantMove

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]


@pytest.fixture
def boss(login):
    get_user_model().objects.create_user(
        "boss", password="Boss-pass-12345", is_staff=True, is_superuser=True
    )
    return login("boss", "Boss-pass-12345")


def test_move_progress_page_follows_the_move_live(boss, tenant_alpha):
    page = boss
    move = TenantMove.objects.create(
        tenant=tenant_alpha,
        method="logical",
        state=TenantMove.State.COPYING,
        source_host="127.0.0.1",
        source_port=5432,
        target_host="10.0.0.9",
        target_port=5433,
        target_admin_encrypted=crypto.encrypt("postgresql://a@b/c"),
        hostname="another-node",
        heartbeat_at=timezone.now(),
        progress=[{"at": "2026-01-01T00:00:00", "msg": "initial copy: 3 of 45 tables copied"}],
    )
    page.goto(f"/admin/tenants/tenant/alpha/move/{move.pk}/")
    panel = page.locator("#move-progress")
    expect(panel).to_contain_text("Copying")
    expect(panel).to_contain_text("3 of 45 tables")
    # Several refresh cycles: each new step shows up without a reload.
    for n in (20, 45):
        move.progress = [
            *move.progress,
            {"at": "2026-01-01T00:00:01", "msg": f"initial copy: {n} of 45 tables copied"},
        ]
        move.save(update_fields=["progress"])
        expect(panel).to_contain_text(f"{n} of 45 tables", timeout=20_000)
    move.state, move.freeze_seconds = TenantMove.State.FROZEN, None
    move.frozen_at = timezone.now()
    move.save()
    expect(panel.locator(".badge")).to_have_text("⏸ Writes frozen", timeout=20_000)
    expect(panel).to_contain_text("in progress")
    move.state, move.freeze_seconds, move.total_seconds = TenantMove.State.DONE, 1.37, 9.5
    move.save()
    expect(panel.locator(".badge")).to_have_text("✓ Done", timeout=20_000)
    expect(panel).to_contain_text("1.37 s")
    assert panel.get_attribute("data-live-url") is None


def test_back_up_a_tenant_with_the_keyboard_only(boss, tenant_alpha, settings, tmp_path):
    settings.DBTOOLS_BACKUP_DIR = str(tmp_path)
    page = boss
    page.goto("/admin/tenants/tenant/backups/?tenant=alpha")
    button = page.get_by_role("button", name="Back up alpha now")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.value") == "Back up alpha now":
            break
    expect(button).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_text("Backup of Alpha Corp queued")).to_be_visible(timeout=60_000)
    expect(page.locator("table.ops-list")).to_contain_text("✓ restorable")
    assert TenantBackup.objects.get(tenant=tenant_alpha).restore_test_ok
    download = page.get_by_role("link", name="Download")
    download.focus()
    expect(download).to_be_focused()
    with page.expect_download() as got:
        page.keyboard.press("Enter")
    assert got.value.suggested_filename.startswith("alpha-")
