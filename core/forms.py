from typing import Any

from django import forms

from core import settings_store
from core.settings_store import SPECS


class SettingsForm(forms.Form):
    """One integer field per known tenant setting, bounded as the spec says."""

    def __init__(self, *args: Any, initial_values: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for spec in SPECS.values():
            self.fields[spec.key] = forms.IntegerField(
                label=spec.label,
                min_value=spec.minimum,
                max_value=spec.maximum,
                help_text=spec.help,
                initial=initial_values.get(spec.key, spec.default),
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for key, messages in settings_store.errors_in(data).items():
            if key not in self.errors:
                self.add_error(key, messages)
        return data

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        grouped: dict[str, list[forms.BoundField]] = {}
        for spec in SPECS.values():
            grouped.setdefault(spec.group, []).append(self[spec.key])
        return list(grouped.items())
