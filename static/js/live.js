// Live status (story 3.9): re-fetch [data-live-interval] elements through HTMX every N seconds,
// pause while the tab is hidden and refresh at once on return, back off exponentially on errors
// with a banner, pulse tiles whose status changed, and put "(N) " critical in the tab title.
(() => {
  const baseTitle = document.title.replace(/^\(\d+\) /, "");
  const lastStatus = new Map();
  let failures = 0;
  let timer = null;

  const target = () => document.querySelector("[data-live-interval]");
  const intervalMs = () => (Number(target()?.dataset.liveInterval) || 30) * 1000;

  function refresh() {
    const el = target();
    if (el) htmx.trigger(el, "live-refresh");
  }

  function schedule() {
    clearTimeout(timer);
    if (document.hidden) return;
    const delay = failures ? Math.min(intervalMs() * 2 ** failures, 5 * 60 * 1000) : intervalMs();
    timer = setTimeout(refresh, delay);
  }

  function afterSwap() {
    const el = target();
    if (!el) return;
    const critical = Number(el.dataset.critical || 0);
    document.title = critical ? `(${critical}) ${baseTitle}` : baseTitle;
    el.querySelectorAll("[data-server][data-status]").forEach((tile) => {
      const before = lastStatus.get(tile.dataset.server);
      if (before && before !== tile.dataset.status) tile.classList.add("changed");
      lastStatus.set(tile.dataset.server, tile.dataset.status);
    });
    el.querySelectorAll("time[data-local-time]").forEach((t) => {
      t.textContent = new Date(t.getAttribute("datetime")).toLocaleTimeString();
    });
  }

  function banner(text) {
    const b = document.getElementById("error-banner");
    if (!b) return;
    b.textContent = text || "";
    b.hidden = !text;
  }

  document.addEventListener("htmx:afterRequest", (e) => {
    if (!e.detail.elt.matches?.("[data-live-interval]")) return;
    if (e.detail.successful) {
      failures = 0;
      banner("");
    } else {
      failures += 1;
      const secs = Math.round(Math.min(intervalMs() * 2 ** failures, 300000) / 1000);
      banner(`Live updates failed; retrying in ${secs} s.`);
    }
    schedule();
  });
  document.addEventListener("htmx:afterSettle", afterSwap);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) clearTimeout(timer);
    else refresh();
  });
  document.addEventListener("click", (e) => {
    if (e.target.closest("[data-live-refresh]")) refresh();
  });
  document.addEventListener("DOMContentLoaded", () => {
    afterSwap();
    schedule();
  });
  window.dbtoolsLive = { refresh };
})();
