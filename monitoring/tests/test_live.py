"""Live status, watched the way a wallboard is used: left alone for several refresh cycles,
reached by a full load and by in-app navigation, hidden and shown again, through a failing
refresh and its back-off, and showing a CPU spike steered on sqlsim without a reload."""

import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from monitoring.tests.test_browser import collect, fleet, logged_in, sqlsim  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, databases="__all__")]

INTERVAL = 5  # the tenant's dashboard_refresh_seconds, set by the `fleet` fixture
CYCLE_WAIT = (INTERVAL + 6) * 1000  # one interval, plus a slow request on two shared cores


def _is_live(request, path):
    """A refresh of part of the page (not a navigation, boosted or not)."""
    h = request.headers
    return (
        request.method == "GET"
        and h.get("hx-request") == "true"
        and h.get("hx-boosted") is None
        and urlsplit(request.url).path == path
    )


def watch_cycles(page, n, path, marker):
    """Wait for n consecutive refreshes that each brought a new "last updated" stamp into the
    page, with no navigation in between (the marker set by the test survives)."""
    for _ in range(n):
        before = page.locator(marker).get_attribute("datetime")
        with page.expect_response(lambda r: _is_live(r.request, path) and r.ok, timeout=CYCLE_WAIT):
            pass
        expect(page.locator(marker)).not_to_have_attribute("datetime", before or "")
        assert page.evaluate("window.__stayed") is True, "the page was reloaded"


def set_hidden(page, hidden):
    page.evaluate(
        """(hidden) => {
            Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
            Object.defineProperty(document, "visibilityState",
                {value: hidden ? "hidden" : "visible", configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        hidden,
    )


def test_dashboard_stays_live(fleet, logged_in, sqlsim, tenant_alpha):  # noqa: F811
    page = logged_in
    requests = []
    page.on("request", lambda r: requests.append(time.monotonic()) if _is_live(r, "/") else None)
    expect(page.locator("#last-updated")).to_contain_text(f"refreshes every {INTERVAL} s")
    page.evaluate("window.__stayed = true")
    stamp = "#last-updated time"

    # Full load: three cycles on its own.
    watch_cycles(page, 3, "/", stamp)

    # Hidden: no refresh at all; visible again: a refresh at once, then the cycle goes on.
    set_hidden(page, True)
    hidden_at = time.monotonic()
    page.wait_for_timeout(INTERVAL * 2 * 1000 + 500)
    assert [t for t in requests if t > hidden_at + 0.5] == [], "refreshed while hidden"
    with page.expect_response(lambda r: _is_live(r.request, "/"), timeout=3000):
        set_hidden(page, False)
    watch_cycles(page, 1, "/", stamp)

    # The refresh fails: a banner says so, the next try waits longer, recovery clears it.
    def fail(route):
        if _is_live(route.request, "/"):
            route.fulfill(status=500, body="boom")
        else:
            route.continue_()

    page.route("**/*", fail)
    with page.expect_response(
        lambda r: _is_live(r.request, "/") and r.status == 500, timeout=CYCLE_WAIT
    ):
        pass
    banner = page.locator("#error-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(f"Live updates failed; retrying in {INTERVAL * 2} s")
    failed_at = time.monotonic()
    page.unroute("**/*", fail)
    with page.expect_response(
        lambda r: _is_live(r.request, "/") and r.ok, timeout=(INTERVAL * 2 + 6) * 1000
    ):
        pass
    assert time.monotonic() - failed_at > INTERVAL * 1.5, "no back-off after a failure"
    expect(banner).to_be_hidden()
    watch_cycles(page, 1, "/", stamp)

    # In-app navigation away and back: no page load, and the new board keeps its own cycle.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Servers").click()
    expect(page).to_have_url(re.compile(r"/servers/$"))
    expect(page.get_by_role("heading", name="Servers", exact=True)).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#board")).to_be_visible()
    assert page.evaluate("window.__stayed") is True, "navigation reloaded the page"
    watch_cycles(page, 3, "/", stamp)

    # A CPU spike steered on the instance shows up on its own.
    tile = page.locator(f'a.tile[data-server="{fleet[0].pk}"]')
    expect(tile).to_have_attribute("data-status", re.compile("healthy|warning"))
    sqlsim.spike_cpu("SQLPROD01", 99)
    sqlsim.advance_clock("SQLPROD01", 120)
    collect(tenant_alpha)
    expect(tile).to_have_attribute("data-status", "critical", timeout=CYCLE_WAIT)
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    assert page.evaluate("window.__stayed") is True
