// Live status: the one polling mechanism of every page. An element with data-live-url is
// re-fetched every data-live-interval seconds and replaced (outerHTML) by the answer.
//
// The loop belongs to the document, not to the polled element: the element is replaced on every
// refresh and pages arrive by full loads, boosted (HTMX) navigation or history restores, so
// nothing here may depend on an event fired by (or on) the element itself, or on
// DOMContentLoaded. Each refresh schedules the next one whatever happened to the DOM.
//
// Paused while the tab is hidden (refreshed at once on return), backs off exponentially on
// errors with a banner, skips a cycle while the user holds something the refresh would lose
// (data-live-hold: a selector inside the element, e.g. checked boxes), pulses tiles whose status
// changed, and puts "(N) " critical in the tab title.
(() => {
  const MAX_DELAY = 5 * 60 * 1000;
  const timers = new Map(); // element id -> {timer, failures, busy, el}
  const lastStatus = new Map();

  const liveEls = () => [...document.querySelectorAll("[data-live-url][id]")];
  const seconds = (el) => Math.max(Number(el.dataset.liveInterval) || 30, 1);

  function delayFor(el, st) {
    const base = seconds(el) * 1000;
    return st.failures ? Math.min(base * 2 ** st.failures, MAX_DELAY) : base;
  }

  function schedule(id) {
    const st = timers.get(id);
    if (!st) return;
    clearTimeout(st.timer);
    st.timer = null;
    const el = document.getElementById(id);
    if (!el || !el.dataset.liveUrl) { timers.delete(id); return; }
    if (document.hidden) return; // visibilitychange restarts it
    st.timer = setTimeout(() => refresh(id), delayFor(el, st));
  }

  function banner() {
    const b = document.getElementById("error-banner");
    if (!b) return;
    const failing = [...timers.entries()].filter(([, st]) => st.failures);
    if (!failing.length) {
      if (b.dataset.live) { b.textContent = ""; b.hidden = true; delete b.dataset.live; }
      return;
    }
    const [id, st] = failing[0];
    const el = document.getElementById(id);
    const secs = el ? Math.round(delayFor(el, st) / 1000) : 0;
    b.textContent = `Live updates failed; retrying in ${secs} s. What you see may be out of date.`;
    b.dataset.live = "1";
    b.hidden = false;
  }

  async function refresh(id) {
    const st = timers.get(id);
    const el = document.getElementById(id);
    if (!st || !el) { timers.delete(id); return; }
    if (st.busy || document.hidden) return;
    const hold = el.dataset.liveHold;
    if (hold && el.querySelector(hold)) { schedule(id); return; }
    st.busy = true;
    let ok = false;
    try {
      const resp = await fetch(el.dataset.liveUrl, {
        headers: { "HX-Request": "true", "X-Live-Refresh": "1" },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (resp.ok && !resp.redirected) {
        const html = await resp.text();
        const current = document.getElementById(id);
        // The user may have navigated meanwhile: only swap the element we asked for. And they may
        // have started what the swap would lose (focused a comment, ticked a box) while the answer
        // was on its way: drop it, the next cycle asks again.
        const held = hold && el.querySelector(hold);
        if (current === el && !held) htmx.swap(el, html, { swapStyle: "outerHTML" });
        ok = true;
      }
    } catch (err) {
      ok = false;
    }
    st.busy = false;
    st.failures = ok ? 0 : st.failures + 1;
    const now = document.getElementById(id);
    if (now) {
      st.el = now;
      now.dataset.liveState = ok ? "ok" : "failing";
      afterSwap(now);
    }
    banner();
    schedule(id);
  }

  function refreshAll() {
    liveEls().forEach((el) => {
      if (!timers.has(el.id)) start(el);
      refresh(el.id);
    });
  }

  function start(el) {
    timers.set(el.id, { timer: null, failures: 0, busy: false, el });
    afterSwap(el);
    schedule(el.id);
  }

  // Called for the first page and every piece of content HTMX inserts (boosted navigation,
  // history restore, our own swaps): elements new to the loop start their cycle; an element
  // replaced by a navigation (not by us) starts afresh.
  function discover() {
    for (const [id, st] of timers) {
      const el = document.getElementById(id);
      if (!el || !el.dataset.liveUrl) { clearTimeout(st.timer); timers.delete(id); }
    }
    liveEls().forEach((el) => {
      const st = timers.get(el.id);
      if (!st) start(el);
      else if (st.el !== el && !st.busy) { clearTimeout(st.timer); start(el); }
    });
    banner();
  }

  function afterSwap(el) {
    if (el.dataset.critical !== undefined) {
      const critical = Number(el.dataset.critical || 0);
      const baseTitle = document.title.replace(/^\(\d+\) /, "");
      document.title = critical ? `(${critical}) ${baseTitle}` : baseTitle;
    }
    el.querySelectorAll("[data-server][data-status]").forEach((tile) => {
      const before = lastStatus.get(tile.dataset.server);
      if (before && before !== tile.dataset.status) tile.classList.add("changed");
      lastStatus.set(tile.dataset.server, tile.dataset.status);
    });
    el.querySelectorAll("time[data-local-time]").forEach((t) => {
      t.textContent = new Date(t.getAttribute("datetime")).toLocaleTimeString();
    });
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) timers.forEach((st) => { clearTimeout(st.timer); st.timer = null; });
    else refreshAll();
  });
  document.addEventListener("click", (e) => {
    if (e.target.closest("[data-live-refresh]")) refreshAll();
  });
  htmx.onLoad(discover);
  window.dbtoolsLive = { refresh: refreshAll, discover };
})();
