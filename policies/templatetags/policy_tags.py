"""How a compliance verdict looks on a page: an icon and words, never colour alone."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

# verdict -> (health class reused from the server pages, icon, words)
DISPLAY = {
    "compliant": ("healthy", "circle-check", "Compliant"),
    "warning": ("warning", "triangle-alert", "Late"),
    "non_compliant": ("critical", "octagon-x", "Failing"),
    "grace": ("unknown", "hourglass", "Grace period"),
    "exempt": ("unknown", "circle-dashed", "Exempt"),
    "not_applicable": ("unknown", "server-off", "Not judged"),
    "unknown": ("stale", "clock-alert", "No facts yet"),
}


@register.inclusion_tag("policies/_verdict.html")
def verdict(status: Any) -> dict[str, str]:
    value = getattr(status, "value", status) or "unknown"
    css, icon, label = DISPLAY.get(value, DISPLAY["unknown"])
    return {"status": value, "css": css, "icon": icon, "label": label}


@register.filter
def ago(value: Any) -> str:
    """'3 h 20 min ago' for a datetime, '—' for none."""
    import datetime as dt

    from django.utils import timezone

    if value is None:
        return "never"
    delta = timezone.now() - value
    if delta < dt.timedelta(0):
        return "just now"
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h ago" if days < 3 else f"{days} days ago"
    if hours:
        return f"{hours} h {mins} min ago"
    return f"{mins} min ago"
