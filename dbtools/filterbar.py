"""The filter bar above a list page, drawn from the page's FilterSet form.

Every list page filters with a django-filter FilterSet that `GET /api/...` shares. The bar is
that FilterSet's form rendered by `templates/_filter_bar.html`: names, values, choices and
limits (`maxlength`, `min`) come from the form fields, so a filter changed in one place shows
on the page without editing HTML. What the page adds is only presentation: the element id its
scripts, tests and bookmarks rely on, the label, the "any" option, a placeholder.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import django_filters
from django import forms


class OneOf(forms.SelectMultiple):
    """A single drop-down for a filter that accepts several values.

    The API takes `?status=a&status=b`; the page offers one at a time. Rendering without
    `multiple` while still reading a list keeps the field valid for both."""

    allow_multiple_selected = False


@dataclass(frozen=True)
class Control:
    """How the page shows one filter of its FilterSet."""

    name: str
    id: str
    label: str
    # The first option of a drop-down, meaning "no filter". None: no such option.
    any: str | None = None
    # Options shown instead of the field's own: other wording, a subset, or values known only
    # from the data (actions seen in the log) for a filter that takes free text.
    choices: Iterable[tuple[Any, str]] | None = None
    input_type: str | None = None
    label_class: str = "sr-only"
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Item:
    id: str
    label: str
    label_class: str
    field: forms.BoundField


@dataclass
class FilterBar:
    """What `_filter_bar.html` needs: the form element and the controls in order."""

    form_id: str
    url: str
    target: str
    items: list[Item]
    # A hidden `ordering` input kept in step with the sorted column (None: the list has no sort).
    ordering: str | None = None
    # Show the Clear link; `clear_icon` for pages whose Clear carries the x icon.
    clear: bool = False
    clear_icon: bool = False
    # A template with page-specific buttons drawn at the end of the bar (e.g. export links).
    extra: str = ""
    # Values the page keeps while the user changes the others (name -> value), not shown.
    hidden: dict[str, Any] = field(default_factory=dict)


def _is_choice(form_field: forms.Field) -> bool:
    return isinstance(form_field, forms.ChoiceField | forms.ModelChoiceField)


def _widget(form_field: forms.Field, control: Control) -> forms.Widget:
    """The field's own widget, or a drop-down when the control lists choices."""
    if control.choices is None and not _is_choice(form_field):
        widget = form_field.widget
        if control.input_type:
            widget.input_type = control.input_type
        return widget
    many = isinstance(form_field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField)
    widget = OneOf() if many else forms.Select()
    options = control.choices if control.choices is not None else form_field.choices
    # A ChoiceFilter brings its own empty option ("---------"); the control's `any` replaces it.
    options = [(v, text) for v, text in options if v not in ("", None)]
    widget.choices = ([("", control.any)] if control.any is not None else []) + options
    return widget


def filter_bar(
    filterset: django_filters.FilterSet,
    controls: Sequence[Control],
    *,
    form_id: str,
    url: str,
    target: str,
    **options: Any,
) -> FilterBar:
    """The bar for `filterset`, one control per filter named in `controls`.

    The bound form is changed in place; it belongs to this request only (Django copies the
    fields and widgets per form instance). `options` are the other FilterBar fields."""
    form = filterset.form
    items = []
    for control in controls:
        form_field = form.fields[control.name]
        widget = _widget(form_field, control)
        # The field's own widget already carries its limits (maxlength, min) from the field.
        form_field.widget = widget
        widget.attrs.update(control.attrs, id=control.id)
        items.append(Item(control.id, control.label, control.label_class, form[control.name]))
    return FilterBar(form_id=form_id, url=url, target=target, items=items, **options)
