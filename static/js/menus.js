// Menu buttons, as the WAI-ARIA "menu button" pattern describes them: a button with
// aria-haspopup="menu" and aria-controls naming a role="menu" list of role="menuitem" links and
// buttons. Enter, Space or a click opens it on its first item, ArrowUp on its last; ArrowDown and
// ArrowUp move (wrapping), Home and End jump, Escape closes it and gives the focus back to the
// button, Tab closes it and moves on, a click elsewhere closes it.
//
// An item with data-select-then="#field" ticks its row's checkbox (data-server) and puts the
// focus on that field of the bulk bar: actions that need a choice (a group, a label, a job) are
// finished there, for one server or many.
(() => {
  const BUTTON = '[aria-haspopup="menu"]';
  const menuOf = (btn) => document.getElementById(btn.getAttribute("aria-controls"));
  const itemsOf = (menu) => [...menu.querySelectorAll('[role="menuitem"]')];

  function close(btn, refocus) {
    const menu = menuOf(btn);
    if (menu) menu.hidden = true;
    btn.setAttribute("aria-expanded", "false");
    if (refocus) btn.focus();
  }

  function closeAll(except) {
    document.querySelectorAll(`${BUTTON}[aria-expanded="true"]`).forEach((b) => {
      if (b !== except) close(b, false);
    });
  }

  // The menu is placed against the viewport (fixed), next to its button: a table that scrolls
  // sideways would otherwise clip it. Below the button, or above it when there is no room.
  function place(btn, menu) {
    const r = btn.getBoundingClientRect();
    menu.style.position = "fixed";
    menu.style.left = "auto";
    menu.style.right = `${Math.max(4, document.documentElement.clientWidth - r.right)}px`;
    menu.style.top = `${r.bottom + 2}px`;
    const height = menu.offsetHeight;
    if (r.bottom + height + 4 > window.innerHeight && r.top - height - 2 > 0) {
      menu.style.top = `${r.top - height - 2}px`;
    }
  }

  function open(btn, which) {
    closeAll(btn);
    const menu = menuOf(btn);
    if (!menu) return;
    menu.hidden = false;
    place(btn, menu);
    btn.setAttribute("aria-expanded", "true");
    const items = itemsOf(menu);
    (which === "last" ? items[items.length - 1] : items[0])?.focus({ preventScroll: true });
  }

  // A fixed menu follows its button when the page or the table scrolls.
  const follow = () => {
    document.querySelectorAll(`${BUTTON}[aria-expanded="true"]`).forEach((b) => {
      const menu = menuOf(b);
      if (menu) place(b, menu);
    });
  };
  window.addEventListener("resize", follow);
  document.addEventListener("scroll", follow, true);

  document.addEventListener("click", (e) => {
    const btn = e.target.closest(BUTTON);
    if (btn) {
      if (btn.getAttribute("aria-expanded") === "true") close(btn, true);
      else open(btn, "first");
      return;
    }
    const then = e.target.closest("[data-select-then]");
    if (then) {
      const menu = then.closest('[role="menu"]');
      const owner = menu && document.querySelector(`[aria-controls="${menu.id}"]`);
      if (owner) close(owner, false);
      const box = document.querySelector(`input[name="server_ids"][value="${then.dataset.server}"]`);
      if (box && !box.checked) {
        box.checked = true;
        box.dispatchEvent(new Event("change", { bubbles: true }));
      }
      document.querySelector(then.dataset.selectThen)?.focus();
      return;
    }
    if (!e.target.closest('[role="menu"]')) closeAll(null);
  });

  document.addEventListener("keydown", (e) => {
    const btn = e.target.closest?.(BUTTON);
    if (btn && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      open(btn, e.key === "ArrowUp" ? "last" : "first");
      return;
    }
    const menu = e.target.closest?.('[role="menu"]');
    if (!menu) return;
    const owner = document.querySelector(`[aria-controls="${menu.id}"]`);
    const items = itemsOf(menu);
    const at = items.indexOf(document.activeElement);
    const move = {
      ArrowDown: (at + 1) % items.length,
      ArrowUp: (at - 1 + items.length) % items.length,
      Home: 0,
      End: items.length - 1,
    }[e.key];
    if (move !== undefined) {
      e.preventDefault();
      items[move]?.focus({ preventScroll: true });
    } else if (e.key === "Escape") {
      e.preventDefault();
      e.stopPropagation();
      if (owner) close(owner, true);
    } else if (e.key === "Tab") {
      if (owner) close(owner, false);
    } else if (e.key === " " && e.target.matches("a[role=menuitem]")) {
      e.preventDefault();
      e.target.click();
    }
  });
})();
