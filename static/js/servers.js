// Servers and Groups pages: the wizard's "Save only after a passing test", bulk selection,
// clickable rows, the group picker's filter, and swapping 400 answers that carry field errors.
(() => {
  // -- onboarding wizard -------------------------------------------------------------------------
  function setupWizard(form) {
    if (form.dataset.wizardReady) return;
    form.dataset.wizardReady = "1";
    const names = (form.dataset.connectionFields || "").split(/\s+/).filter(Boolean);
    const save = form.querySelector("[data-save]");
    const fingerprint = () => JSON.stringify(names.map((n) => {
      const el = form.elements[n];
      if (!el) return null;
      return el.type === "checkbox" ? el.checked : el.value;
    }));
    // On edit the stored settings count as tested: only a change asks for a new test.
    let passed = form.hasAttribute("data-tested") ? fingerprint() : null;
    let pending = null;
    let update = () => {
      const ok = passed !== null && fingerprint() === passed;
      save.disabled = !ok;
      save.title = ok ? "" : "Test the connection first";
    };
    form.addEventListener("input", () => update());
    form.addEventListener("change", () => update());
    form.addEventListener("htmx:beforeRequest", (e) => {
      if (e.detail.elt.matches("[data-test]")) { pending = fingerprint(); passed = null; update(); }
    });
    form.addEventListener("htmx:afterSwap", (e) => {
      if (e.detail.target.id === "save-errors") { showStepWithError(); return; }
      if (e.detail.target.id !== "test-result") return;
      passed = e.detail.target.querySelector("[data-test-ok]") ? pending : null;
      update();
    });

    // Steps (adding a server): one fieldset at a time; without JS they all show at once.
    const steps = [...form.querySelectorAll("fieldset[data-step]")];
    const stepped = form.hasAttribute("data-steps") && steps.length > 1;
    const back = form.querySelector("[data-step-back]");
    const next = form.querySelector("[data-step-next]");
    let current = 1;
    const TEST_STEP = 2;
    function show(n) {
      current = n;
      steps.forEach((f) => { f.hidden = Number(f.dataset.step) !== n; });
      form.querySelectorAll("[data-step-tab]").forEach((li) => {
        const k = Number(li.dataset.stepTab);
        if (k === n) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
        li.classList.toggle("done", k < n);
      });
      back.hidden = n === 1;
      next.hidden = n === steps.length;
      save.hidden = n !== steps.length;
      update();
    }
    function showStepWithError() {
      const err = form.querySelector(".field-errors small, [data-save-failed]");
      const step = err?.closest("fieldset[data-step]");
      if (step && stepped) show(Number(step.dataset.step));
      (err?.closest(".field")?.querySelector("input, select") || err)?.focus?.();
    }
    const baseUpdate = update;
    update = () => {
      baseUpdate();
      if (!stepped) return;
      const ok = passed !== null && fingerprint() === passed;
      // Past the test only with a passing test for the values as they are now.
      next.disabled = current === TEST_STEP && !ok;
      next.title = next.disabled ? "Test the connection first" : "";
    };
    if (stepped) {
      back.addEventListener("click", () => { show(Math.max(1, current - 1)); steps[current - 1].querySelector("input, select, button")?.focus(); });
      next.addEventListener("click", () => {
        if (next.disabled) return;
        show(Math.min(steps.length, current + 1));
        steps[current - 1].querySelector("input, select, button")?.focus();
      });
      show(1);
    }
    update();
  }

  // -- label autocomplete: completes the label being typed, keeps the ones before the comma ----
  document.addEventListener("input", (e) => {
    const input = e.target;
    if (!input.matches?.("[data-label-complete]") || !input.list) return;
    const value = input.value;
    const head = value.slice(0, value.lastIndexOf(",") + 1);
    const have = new Set(head.split(",").map((n) => n.trim().toLowerCase()).filter(Boolean));
    const prefix = head ? `${head.replace(/\s*$/, "")} ` : "";
    input.list.querySelectorAll("option").forEach((opt) => {
      opt.dataset.name ??= opt.value;
      opt.value = prefix + opt.dataset.name;
      opt.disabled = have.has(opt.dataset.name.toLowerCase());
    });
  });

  // -- bulk selection ----------------------------------------------------------------------------
  function bulkUpdate() {
    const bar = document.querySelector("form[data-bulk]");
    if (!bar) return;
    const boxes = document.querySelectorAll('input[name="server_ids"][form="bulk-form"]');
    const n = [...boxes].filter((b) => b.checked).length;
    bar.querySelector("[data-bulk-count]").textContent =
      n ? `${n} server${n === 1 ? "" : "s"} selected` : "No servers selected";
    bar.classList.toggle("has-selection", n > 0);
    bar.querySelectorAll("[data-needs-selection]").forEach((b) => { b.disabled = n === 0; });
    const all = document.querySelector("[data-select-all]");
    if (all) {
      all.checked = n > 0 && n === boxes.length;
      all.indeterminate = n > 0 && n < boxes.length;
    }
  }

  document.addEventListener("change", (e) => {
    if (e.target.matches("[data-select-all]")) {
      document.querySelectorAll('input[name="server_ids"][form="bulk-form"]')
        .forEach((b) => { b.checked = e.target.checked; });
    }
    if (e.target.matches('input[name="server_ids"], [data-select-all]')) bulkUpdate();
  });

  // The bulk bar returns to the list as it is now (filters change the URL without a reload).
  document.addEventListener("submit", (e) => {
    if (!e.target.matches("form[data-bulk]")) return;
    const next = e.target.querySelector('input[name="next"]');
    if (next) next.value = window.location.pathname + window.location.search;
  }, true);


  // -- clickable rows (the name stays the keyboard path) -----------------------------------------
  document.addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-href]");
    if (!row || e.target.closest("a, button, input, label, select, form")) return;
    if (window.getSelection()?.toString()) return; // selecting text, not navigating
    if (e.metaKey || e.ctrlKey) window.open(row.dataset.href, "_blank");
    else window.location.href = row.dataset.href;
  });

  // -- picker filter -----------------------------------------------------------------------------
  document.addEventListener("input", (e) => {
    const sel = e.target.dataset?.filterList;
    if (!sel) return;
    const words = e.target.value.toLowerCase().split(/\s+/).filter(Boolean);
    document.querySelectorAll(`${sel} li`).forEach((li) => {
      const text = li.textContent.toLowerCase();
      li.hidden = !words.every((w) => text.includes(w));
    });
  });

  // -- 400 answers with field errors, and 429 "too many connection tests", are shown, not treated
  // as failures ---------------------------------------------------------------------------------
  document.addEventListener("htmx:beforeSwap", (e) => {
    const shown = e.detail.xhr.status === 400 || e.detail.xhr.status === 429;
    if (shown && e.detail.elt.closest("[data-swap-400]")) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  function init() {
    // A bulk action refused (400) is answered at /servers/bulk: show the list's own address.
    const back = document.querySelector("form[data-bulk][data-return]");
    if (back && window.location.pathname.endsWith("/bulk")) {
      window.history.replaceState(null, "", back.dataset.return);
    }
    document.querySelectorAll("form[data-wizard]").forEach(setupWizard);
    bulkUpdate();
  }
  // The first page and every page reached by in-app navigation.
  htmx.onLoad(init);
  document.addEventListener("htmx:afterSettle", (e) => {
    if (e.detail.target.id === "server-rows") bulkUpdate();
  });
})();
