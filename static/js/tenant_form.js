// Tenant creation form (admin): check the slug's format as it is typed, and suggest one from the
// name until the slug is edited by hand. The server checks the slug again.
document.addEventListener("DOMContentLoaded", () => {
  const slug = document.getElementById("id_slug");
  const name = document.getElementById("id_name");
  if (!slug || !name) return;
  const re = /^[a-z0-9](?:[a-z0-9-]{1,46}[a-z0-9])$/;
  let touched = false;
  slug.addEventListener("input", () => {
    touched = true;
    slug.setCustomValidity(re.test(slug.value) ? "" : "3–48 lowercase letters, digits and hyphens, not starting or ending with a hyphen.");
    slug.reportValidity();
  });
  const suggest = () => {
    if (!touched) slug.value = name.value.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 48);
  };
  name.addEventListener("input", suggest);
  // A name typed before this script ran (a fast typist, a restored form) still gets its slug.
  if (name.value && !slug.value) suggest();
});
