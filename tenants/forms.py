from django import forms
from django.contrib.auth.password_validation import validate_password

from core.validators import validate_name
from tenants.models import SLUG_HELP, SLUG_MAX_LENGTH, SLUG_VALIDATORS, Role


class TenantForm(forms.Form):
    """The admin's Create tenant form. A taken slug is found by `provisioning.create_tenant`
    (it must check anyway, for the API and the command), not here."""

    name = forms.CharField(max_length=200, validators=[validate_name])
    slug = forms.CharField(
        max_length=SLUG_MAX_LENGTH, validators=SLUG_VALIDATORS, help_text=SLUG_HELP
    )


class AddMemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    email = forms.EmailField(required=False)
    password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Only for a new user.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        if password:
            validate_password(password)
        return password


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
