// Small behaviours of the app shell: toasts, confirmations, auto-submitting selects, the
// mobile menu and HTMX error handling. Everything works without it, just less smoothly.
(() => {
  const toasts = () => document.getElementById("toasts");

  function toast(text, level = "info") {
    const el = document.createElement("div");
    el.className = `toast toast-${level}`;
    el.setAttribute("role", "status");
    el.textContent = text;
    const close = document.createElement("button");
    close.type = "button"; close.className = "toast-close"; close.setAttribute("aria-label", "Dismiss"); close.textContent = "×";
    el.appendChild(close);
    toasts().appendChild(el);
    setTimeout(() => el.remove(), 6000);
  }
  window.dbtoolsToast = toast;

  // htmx.onLoad runs for the first page and for every page reached by in-app navigation.
  htmx.onLoad(() => {
    document.querySelectorAll("#toasts .toast:not([data-timed])").forEach((el) => {
      el.dataset.timed = "1";
      setTimeout(() => el.remove(), 6000);
    });
  });
  document.addEventListener("click", (e) => {
    const close = e.target.closest(".toast-close");
    if (close) close.parentElement.remove();
    const toggle = e.target.closest(".nav-toggle");
    if (toggle) {
      const open = document.getElementById("sidebar").classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") document.getElementById("sidebar")?.classList.remove("open");
  });
  document.addEventListener("change", (e) => {
    if (e.target.matches("select[data-autosubmit]")) e.target.form.requestSubmit();
  });
  // Tenant selector: a choice is confirmed with Enter or the Switch button, so browsing the
  // list with the arrow keys never switches tenant by accident.
  const tenantSwitch = () => {
    const picker = document.getElementById("tenant-picker");
    const button = document.getElementById("tenant-switch");
    if (picker && button) {
      const current = picker.querySelector("option[selected]")?.value ?? picker.value;
      button.hidden = picker.value === current;
    }
  };
  document.addEventListener("change", (e) => { if (e.target.matches("[data-confirm-switch]")) tenantSwitch(); });
  document.addEventListener("input", (e) => { if (e.target.matches("[data-confirm-switch]")) tenantSwitch(); });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target.matches("[data-confirm-switch]")) {
      e.preventDefault();
      e.target.form.requestSubmit();
    }
  });
  // Destructive actions ask first, in a dialog that names what goes and whose confirm button is
  // red. A form carries data-confirm (or its submit button data-confirm-submit) with the text,
  // data-confirm-title and data-confirm-ok optionally, and data-confirm-names="selected" to list
  // the rows selected for a bulk action.
  document.addEventListener("submit", (e) => {
    const form = e.target;
    const btn = e.submitter;
    const text = btn?.dataset.confirmSubmit || form.dataset.confirm;
    if (!text) return;
    if (form.dataset.confirmed) { delete form.dataset.confirmed; return; }
    e.preventDefault();
    const dialog = document.getElementById("confirm-dialog");
    if (!dialog?.showModal) { if (window.confirm(text)) { form.dataset.confirmed = "1"; form.requestSubmit(btn); } return; }
    const src = btn?.dataset.confirmSubmit ? btn : form;
    document.getElementById("confirm-title").textContent = src.dataset.confirmTitle || "Are you sure?";
    document.getElementById("confirm-text").textContent = text;
    document.querySelector("#confirm-ok span").textContent = src.dataset.confirmOk || "Delete";
    const list = document.getElementById("confirm-list");
    list.replaceChildren();
    if (src.dataset.confirmNames === "selected") {
      document.querySelectorAll('input[name="server_ids"]:checked').forEach((box) => {
        const li = document.createElement("li");
        li.textContent = (box.getAttribute("aria-label") || "").replace(/^Select /, "");
        list.appendChild(li);
      });
      const n = list.children.length;
      document.getElementById("confirm-title").textContent = `Delete ${n} server${n === 1 ? "" : "s"}?`;
    }
    list.hidden = !list.children.length;
    dialog.returnValue = "";
    dialog.onclose = () => {
      if (dialog.returnValue !== "ok") return;
      form.dataset.confirmed = "1";
      form.requestSubmit(btn);
    };
    dialog.showModal();
  });

  // Server messages for HTMX requests arrive as an HX-Trigger "toast" event.
  document.body?.addEventListener("toast", (e) => toast(e.detail.text, e.detail.level));
  document.addEventListener("htmx:responseError", (e) => {
    toast(`Request failed (${e.detail.xhr.status}).`, "error");
  });
  document.addEventListener("htmx:sendError", () => {
    const banner = document.getElementById("error-banner");
    if (banner) { banner.textContent = "DbTools cannot be reached. Retrying…"; banner.hidden = false; }
  });
  document.addEventListener("htmx:afterRequest", (e) => {
    if (e.detail.successful) { const b = document.getElementById("error-banner"); if (b) b.hidden = true; }
  });
})();
