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

  htmx.onLoad(() => document.querySelectorAll("[data-job-form]").forEach(sync));
})();
