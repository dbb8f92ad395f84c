// Job form: show only the fields of the chosen type, target and schedule (all fields stay in the
// page without JavaScript), and fill the cron field from the common schedules' buttons. The
// schedule preview itself is HTMX (hx-get on the schedule fields).
(() => {
  const groups = [
    ["job_type", "data-show-for-type"],
    ["target_type", "data-show-for-target"],
    ["schedule_type", "data-show-for-schedule"],
  ];

  function sync(form) {
    for (const [name, attr] of groups) {
      const field = form.elements[name];
      if (!field) continue;
      form.querySelectorAll(`[${attr}]`).forEach((el) => {
        el.hidden = el.getAttribute(attr) !== field.value;
      });
    }
  }

  document.addEventListener("change", (e) => {
    const form = e.target.closest && e.target.closest("[data-job-form]");
    if (form) sync(form);
  });

  document.addEventListener("click", (e) => {
    const button = e.target.closest && e.target.closest("[data-cron]");
    if (!button) return;
    const form = button.closest("[data-job-form]");
    const field = form && form.elements.expression;
    if (!field) return;
    field.value = button.dataset.cron;
    // The preview listens for change on the schedule fields.
    field.dispatchEvent(new Event("change", { bubbles: true }));
    field.focus();
  });

  // After Next or Back the page is new: put the keyboard on the step shown (its first field
  // with an error, else its first field), not at the top of the page.
  function focusStep(form) {
    if (!form.hasAttribute("data-focus-step")) return;
    form.removeAttribute("data-focus-step");
    const step = form.querySelector("fieldset.step:not([hidden])");
    if (!step) return;
    const visible = (el) => el.offsetParent !== null;
    const fields = [...step.querySelectorAll("input:not([type=hidden]), select, textarea")];
    const target =
      fields.find((el) => el.closest(".has-error") && visible(el)) || fields.find(visible);
    (target || step).focus();
  }

  // An execution's details open in a dialog; closing it puts the keyboard back on the link that
  // opened it (found again by id: a live refresh may have replaced the link meanwhile).
  let opener = null;
  document.addEventListener("htmx:afterSwap", (e) => {
    if (e.detail.target.id !== "execution-dialog-body") return;
    const dialog = document.getElementById("execution-dialog");
    const link = e.detail.requestConfig && e.detail.requestConfig.elt;
    if (link && link.dataset && link.dataset.executionDialog) opener = link.dataset.executionDialog;
    if (dialog && !dialog.open) {
      dialog.showModal();
      dialog.onclose = () => {
        document.getElementById("execution-dialog-body").replaceChildren();
        const back = opener && document.querySelector(`[data-execution-dialog="${opener}"]`);
        if (back) back.focus();
      };
    }
  });

  htmx.onLoad(() =>
    document.querySelectorAll("[data-job-form]").forEach((form) => {
      sync(form);
      focusStep(form);
    }),
  );
})();
