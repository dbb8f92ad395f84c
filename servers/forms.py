"""Forms of the Servers and Groups pages.

Rules of one field are the model's validators, rules across fields live in `servers.rules`;
these forms and the API's serializers both apply them, so a page and the API accept and refuse
the same input. The pages never import the API."""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from core.validators import validate_name
from servers import actions, addresses, rules, sqlclient
from servers.models import Server, ServerGroup


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    """A rule's errors on the fields they name (on the form as a whole otherwise)."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for field, messages in errors.items():
        form.add_error(field if field in form.fields else None, messages)


class ServerForm(forms.ModelForm):
    """The onboarding wizard, also used to edit a server.

    `connection_only` validates just what a connection test needs (no name). On edit an empty
    password keeps the stored one."""

    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        max_length=512,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Server
        fields = [*actions.EDITABLE_FIELDS, "password"]
        labels = {
            "name": "Display name",
            "instance_name": "Instance name",
            "auth_type": "Authentication",
            "encrypt": "Encryption",
            "trust_server_certificate": "Trust the server certificate",
        }
        help_texts = {
            "name": "How the server is shown in DbTools.",
            "host": "Host name or IP address.",
            "port": "Empty: find a named instance via SQL Browser.",
            "instance_name": "Optional, e.g. SQLEXPRESS.",
            "username": "For Windows authentication: DOMAIN\\user.",
            "trust_server_certificate": (
                "Accept a self-signed certificate (the connection is still encrypted)."
            ),
        }
        widgets = {"port": forms.TextInput(attrs={"inputmode": "numeric"})}

    ADVANCED = ("encrypt", "trust_server_certificate")

    def __init__(
        self, *args: Any, server: Server | None = None, connection_only: bool = False, **kwargs: Any
    ) -> None:
        self.server = server
        self.connection_only = connection_only
        # The form fills in a copy: the stored server stays as it is until the action saves it
        # (the action compares against it to know what changed).
        super().__init__(*args, instance=copy.copy(server) if server else None, **kwargs)
        if connection_only:
            self.fields["name"].required = False
        if server is not None:
            self.fields["password"].help_text = "Leave empty to keep the stored password."

    def basic_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.fields if n not in self.ADVANCED]

    def advanced_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.ADVANCED]

    def clean_host(self) -> str:
        return addresses.validate_host(self.cleaned_data.get("host", ""))

    def clean_instance_name(self) -> str:
        return addresses.validate_instance_name(self.cleaned_data.get("instance_name", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.errors:  # as in the API: the rules across fields judge valid fields only
            try:
                rules.check_connection(data, self.server)
            except ValidationError as exc:
                _add_errors(self, exc)
        return data

    def validate_constraints(self) -> None:
        """A name taken by another live server is the action's to find (`actions.create_server`
        and `update_server`), with the same message for the page and the API."""

    def target(self) -> sqlclient.Target:
        """Where the cleaned fields point; on edit without a new password, the stored one."""
        data = self.cleaned_data
        if not data.get("password") and self.server is not None:
            fields = {k: data[k] for k in actions.CONNECTION_FIELDS if k in data}
            probe = Server(**fields, password_encrypted=self.server.password_encrypted)
            return actions.target_for(probe)
        return actions.target_for(data, data.get("password") or "")

    def connection_changed(self) -> bool:
        """On edit: does saving change how DbTools reaches the server?"""
        if self.server is None:
            return True
        data = self.cleaned_data
        if data.get("password"):
            return True
        return any(
            k in data and data[k] != getattr(self.server, k) for k in actions.CONNECTION_FIELDS
        )


class GroupForm(forms.ModelForm):
    class Meta:
        model = ServerGroup
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, group: ServerGroup | None = None, **kwargs: Any) -> None:
        self.group = group
        super().__init__(*args, instance=copy.copy(group) if group else None, **kwargs)

    def validate_constraints(self) -> None:
        """A taken name is the action's to find (`actions.create_group`, `update_group`)."""


class LabelNamesField(forms.CharField):
    """Label names typed comma separated; unknown names become labels."""

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        return [n.strip() for n in text.split(",") if n.strip()]

    def validate(self, value: list[str]) -> None:
        if value or self.required:
            rules.label_names(value)


class OnboardExtrasForm(forms.Form):
    """The wizard's later steps: groups, labels, and whether to start monitoring."""

    groups = forms.ModelMultipleChoiceField(
        label="Groups",
        required=False,
        queryset=ServerGroup.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    labels = LabelNamesField(
        label="Labels", required=False, help_text="Comma separated; new names become labels."
    )
    deploy = forms.BooleanField(
        label="Deploy the monitoring objects and start collection",
        required=False,
        initial=True,
        help_text="Creates the DbTools schema and its procedures on the instance; collection "
        "starts as soon as they are in place.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["groups"].queryset = ServerGroup.objects.all()


class LabelsForm(forms.Form):
    """Label names typed on the server page, comma separated; unknown names become labels."""

    # A generous cap on what one box sends (names are checked one by one by the label rules).
    labels = LabelNamesField(label="Add labels", max_length=400)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["labels"].error_messages["required"] = "Name at least one label."


class ServerIdsForm(forms.Form):
    """Servers picked in a list (a group's "Add servers" picker); `actions.alive_servers` says
    which ids are unknown."""

    server_ids = forms.Field(required=False, widget=forms.MultipleHiddenInput)

    def clean_server_ids(self) -> list[int]:
        ids = []
        for raw in self.cleaned_data.get("server_ids") or []:
            if not str(raw).isdigit() or int(raw) < 1:
                raise ValidationError("Select at least one server.")
            ids.append(int(raw))
        if not ids:
            raise ValidationError("Select at least one server.")
        if len(ids) > rules.SERVERS_PER_REQUEST:
            raise ValidationError(f"At most {rules.SERVERS_PER_REQUEST} servers at once.")
        return ids

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "server_ids" in data:
            try:
                data["servers"] = actions.alive_servers(data["server_ids"])
            except actions.ActionError as exc:
                for messages in exc.errors.values():
                    self.add_error("server_ids", messages)
        return data


class BulkForm(ServerIdsForm):
    """One action (`actions.BULK_ACTIONS`) on the servers ticked in the list."""

    action = forms.ChoiceField(choices=[(a, a) for a in actions.BULK_ACTIONS])
    group = forms.ModelChoiceField(
        queryset=ServerGroup.objects.none(),
        required=False,
        error_messages={"invalid_choice": "Unknown group."},
    )
    label = forms.CharField(
        required=False, max_length=rules.LABEL_NAME_MAX_LENGTH, validators=[validate_name]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].queryset = ServerGroup.objects.all()

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # A group or label the field already refused has its own message; say nothing more.
        if "group" in self.errors or "label" in self.errors:
            return data
        try:
            action = data.get("action", "")
            rules.check_bulk(action, group=data.get("group"), label=data.get("label"))
        except ValidationError as exc:
            self.add_error(None, exc)
        return data
