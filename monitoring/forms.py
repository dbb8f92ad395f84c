from django import forms

from monitoring.models import MAX_INTERVAL, MIN_INTERVAL


class CollectionForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Collect metrics")
    interval_seconds = forms.IntegerField(
        min_value=MIN_INTERVAL,
        max_value=MAX_INTERVAL,
        label="Interval (seconds)",
        widget=forms.NumberInput(attrs={"class": "narrow", "aria-describedby": "interval-help"}),
    )
