"""Forms of the Servers and Groups pages.

The connection rules live in the API's serializers; the forms here only describe the fields for
the templates and hand the submitted data to those serializers, so a page and the API accept and
refuse exactly the same input."""

from __future__ import annotations

import functools
from typing import Any

from django import forms
from django.utils.text import Truncator
from rest_framework import serializers

from servers import actions, sqlclient
from servers.api.serializers import (
    BulkActionSerializer,
    ConnectionSerializer,
    GroupSerializer,
    LabelNamesSerializer,
    ServerIdsSerializer,
    ServerSerializer,
)
from servers.models import Server, ServerGroup


def _add_serializer_errors(form: forms.Form, errors: dict[str, Any]) -> None:
    for field, messages in errors.items():
        target = field if field in form.fields else None
        for message in messages if isinstance(messages, list) else [messages]:
            form.add_error(target, str(message))


@functools.cache
def _max_lengths(serializer: type[serializers.Serializer]) -> dict[str, int]:
    fields = serializer().fields.items()
    return {k: f.max_length for k, f in fields if getattr(f, "max_length", None)}


def _choice_field(label: str, choices: list[tuple[str, str]], initial: str) -> forms.CharField:
    """A select whose value the serializer checks (a ChoiceField would check it a second time)."""
    return forms.CharField(label=label, initial=initial, widget=forms.Select(choices=choices))


class ServerForm(forms.Form):
    """The onboarding wizard, also used to edit a server.

    `connection_only` validates just what a connection test needs (no name), as the API's
    test-connection endpoint does. On edit an empty password keeps the stored one."""

    name = forms.CharField(
        label="Display name", required=False, help_text="How the server is shown in DbTools."
    )
    host = forms.CharField(label="Host", required=False, help_text="Host name or IP address.")
    port = forms.CharField(
        label="Port",
        required=False,
        initial=1433,
        help_text="Empty: find a named instance via SQL Browser.",
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    instance_name = forms.CharField(
        label="Instance name", required=False, help_text="Optional, e.g. SQLEXPRESS."
    )
    auth_type = _choice_field("Authentication", Server.AuthType.choices, Server.AuthType.SQL)
    username = forms.CharField(label="Username", required=False)
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )
    encrypt = _choice_field("Encryption", Server.Encryption.choices, sqlclient.ENCRYPT_ON)
    trust_server_certificate = forms.BooleanField(
        label="Trust the server certificate",
        required=False,
        help_text="Accept a self-signed certificate (the connection is still encrypted).",
    )

    ADVANCED = ("encrypt", "trust_server_certificate")

    def __init__(
        self, *args: Any, server: Server | None = None, connection_only: bool = False, **kwargs: Any
    ) -> None:
        self.server = server
        self.connection_only = connection_only
        if server is not None and not args and "data" not in kwargs:
            kwargs.setdefault("initial", {k: getattr(server, k) for k in actions.EDITABLE_FIELDS})
        super().__init__(*args, **kwargs)
        for name, limit in _max_lengths(ServerSerializer).items():
            if name in self.fields and name != "port":
                self.fields[name].widget.attrs["maxlength"] = limit
        if server is not None:
            self.fields["password"].help_text = "Leave empty to keep the stored password."
        self.fields["username"].help_text = "For Windows authentication: DOMAIN\\user."

    def basic_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.fields if n not in self.ADVANCED]

    def advanced_fields(self) -> list[forms.BoundField]:
        return [self[n] for n in self.ADVANCED]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.data.copy() if hasattr(self.data, "copy") else dict(self.data)
        data.pop("validate", None)  # the page decides when to test the connection
        data.pop("validate_connection", None)
        serializer_class = ConnectionSerializer if self.connection_only else ServerSerializer
        serializer = serializer_class(self.server, data=data)
        if not serializer.is_valid():
            _add_serializer_errors(self, serializer.errors)
            return self.cleaned_data
        validated = dict(serializer.validated_data)
        validated.pop("validate", None)
        return validated

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


class GroupForm(forms.Form):
    name = forms.CharField(label="Name", required=False)
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea)

    def __init__(self, *args: Any, group: ServerGroup | None = None, **kwargs: Any) -> None:
        self.group = group
        if group is not None and not args and "data" not in kwargs:
            kwargs.setdefault("initial", {"name": group.name, "description": group.description})
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs["maxlength"] = _max_lengths(GroupSerializer)["name"]
        self.fields["description"].widget.attrs["rows"] = 3

    def clean(self) -> dict[str, Any]:
        super().clean()
        serializer = GroupSerializer(
            self.group, data={k: self.data.get(k, "") for k in ("name", "description")}
        )
        if not serializer.is_valid():
            _add_serializer_errors(self, serializer.errors)
            return self.cleaned_data
        return dict(serializer.validated_data)


class OnboardExtrasForm(forms.Form):
    """The wizard's later steps: groups, labels, and whether to start monitoring."""

    groups = forms.ModelMultipleChoiceField(
        label="Groups",
        required=False,
        queryset=ServerGroup.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    labels = forms.CharField(
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

    def clean_labels(self) -> list[str]:
        names = [n.strip() for n in (self.cleaned_data.get("labels") or "").split(",")]
        names = [n for n in names if n]
        if not names:
            return []
        serializer = LabelNamesSerializer(data={"labels": names})
        if not serializer.is_valid():
            errors = serializer.errors.get("labels", {})
            if isinstance(errors, dict):
                errors = [
                    f"“{Truncator(names[i]).chars(24)}”: {m}"
                    for i, msgs in errors.items()
                    for m in msgs
                ]
            raise forms.ValidationError([str(e) for e in errors] or ["Invalid labels."])
        return serializer.validated_data["labels"]


class LabelsForm(forms.Form):
    """Label names typed on the server page, comma separated; unknown names become labels."""

    labels = forms.CharField(label="Add labels", required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        names = [n.strip() for n in (self.data.get("labels") or "").split(",") if n.strip()]
        serializer = LabelNamesSerializer(data={"labels": names})
        if not serializer.is_valid():
            errors = serializer.errors.get("labels", ["Name at least one label."])
            if isinstance(errors, dict):  # per-item errors: {index: [messages]}
                errors = [
                    f"“{Truncator(names[i]).chars(24)}”: {m}"
                    for i, msgs in errors.items()
                    for m in msgs
                ]
            _add_serializer_errors(self, {"labels": errors or ["Name at least one label."]})
            return self.cleaned_data
        return {"labels": serializer.validated_data["labels"]}


class ServerIdsForm(forms.Form):
    """Servers picked in a list (a group's "Add servers" picker), checked like the API's."""

    server_ids = forms.CharField(required=False)

    def _raw(self) -> dict[str, Any]:
        ids = self.data.getlist("server_ids") if hasattr(self.data, "getlist") else []
        return {"server_ids": ids}

    def _servers(self, data: dict[str, Any]) -> dict[str, Any]:
        try:
            data["servers"] = actions.alive_servers(data["server_ids"])
        except actions.ActionError as exc:
            _add_serializer_errors(self, exc.errors)
        return data

    def clean(self) -> dict[str, Any]:
        serializer = ServerIdsSerializer(data=self._raw())
        if not serializer.is_valid():
            _add_serializer_errors(self, {"server_ids": ["Choose at least one server."]})
            return self.cleaned_data
        return self._servers(dict(serializer.validated_data))


class BulkForm(ServerIdsForm):
    """One action on the servers ticked in the list, validated by the API's bulk serializer."""

    action = forms.CharField(required=False)
    group = forms.CharField(required=False)
    label = forms.CharField(required=False)

    def clean(self) -> dict[str, Any]:
        raw = {**self._raw(), "action": self.data.get("action", "")}
        if self.data.get("group"):
            raw["group_id"] = self.data["group"]
        if self.data.get("label", "").strip():
            raw["label"] = self.data["label"].strip()
        serializer = BulkActionSerializer(data=raw)
        if not serializer.is_valid():
            errors = dict(serializer.errors)
            if "server_ids" in errors:
                errors["server_ids"] = ["Select at least one server."]
            if "group_id" in errors:
                errors["group"] = errors.pop("group_id")
            _add_serializer_errors(self, errors)
            return self.cleaned_data
        data = dict(serializer.validated_data)
        if data["action"] == "add_to_group":
            data["group"] = ServerGroup.objects.filter(pk=data["group_id"]).first()
            if data["group"] is None:
                self.add_error("group", "Unknown group.")
                return data
        return self._servers(data)
