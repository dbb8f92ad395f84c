"""Page forms. A rule's own rules run in the model (`AlertRule.clean`, via the ModelForm), the
same ones the API uses through the actions."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django import forms
from django.utils import timezone

from alerts import metrics
from alerts.actions import RULE_FIELDS
from alerts.models import WEEKDAYS, AlertRule, ContactPoint, Silence
from servers.models import Server


class AlertRuleForm(forms.ModelForm):
    metric = forms.ChoiceField(choices=metrics.choices())

    class Meta:
        model = AlertRule
        # What the action may change, in the order the form shows it.
        fields = list(RULE_FIELDS)
        help_texts = {
            "recovery_threshold": "Optional: resolve only past this value (fire above 90, "
            "resolve below 80).",
            "pending_checks": "Fire after the condition held for this many checks in a row.",
            "resolve_checks": "Resolve after this many normal checks in a row.",
            "window_minutes": "For average, minimum and maximum.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["server"].queryset = Server.objects.alive().order_by("name")

    def validate_unique(self) -> None:
        pass  # the action checks the name, case-insensitively


class SilenceForm(forms.ModelForm):
    starts_at = forms.DateTimeField(
        required=False,
        help_text="In the time zone below, e.g. 2026-12-01 02:00. Empty: now. A recurring "
        "window repeats this start time.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    ends_at = forms.DateTimeField(
        help_text="End of the (first) window, in the time zone below.",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    weekdays = forms.TypedMultipleChoiceField(
        choices=[(n, name) for n, name in enumerate(WEEKDAYS, start=1)],
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="For a weekly window.",
    )
    time_zone = forms.ChoiceField(
        choices=[(z, z) for z in sorted(zoneinfo.available_timezones())],
        initial="UTC",
        required=False,  # UTC
        help_text="Whose clock the window follows (daylight saving included).",
    )

    class Meta:
        model = Silence
        fields = [
            "server",
            "group",
            "label",
            "rule",
            "severity",
            "repeat",
            "weekdays",
            "time_zone",
            "starts_at",
            "ends_at",
            "repeat_until",
            "comment",
        ]
        widgets = {"repeat_until": forms.DateInput(attrs={"type": "date"})}
        labels = {"repeat": "Repeats", "repeat_until": "Repeat until"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["server"].queryset = Server.objects.alive().order_by("name")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # The times typed are wall-clock times in the chosen zone (a maintenance window's local
        # hours), not in the server's zone, which the field assumed.
        zone = zoneinfo.ZoneInfo(data.get("time_zone") or "UTC")
        for key in ("starts_at", "ends_at"):
            if data.get(key):
                data[key] = timezone.make_aware(timezone.make_naive(data[key]), zone)
        return data

    def _post_clean(self) -> None:
        # starts_at defaults to now in the action; the model's checks run there too.
        pass


class ContactPointForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.PasswordInput(render_value=False),
        help_text="Signs each body (X-DbTools-Signature header). Leave empty to keep the current "
        "one.",
    )

    class Meta:
        model = ContactPoint
        fields = [
            "name",
            "kind",
            "url",
            "email_to",
            "secret",
            "payload_format",
            "min_severity",
            "timeout_seconds",
            "repeat_interval_minutes",
            "repeat_cap",
            "group",
            "label",
            "enabled",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Webhooks came first: a form posted without a kind (scripts written for them) still
        # means a webhook.
        self.fields["kind"].required = False

    def clean_kind(self) -> str:
        return self.cleaned_data.get("kind") or ContactPoint.Kind.WEBHOOK

    def validate_unique(self) -> None:
        pass


class AcknowledgeForm(forms.Form):
    comment = forms.CharField(max_length=1000, required=False)
