from django import forms
from django.contrib.auth.password_validation import validate_password

from core.validators import validate_name
from tenants.models import Role, Tenant, slug_length_validator, slug_validator


class TenantForm(forms.Form):
    name = forms.CharField(max_length=200, validators=[validate_name])
    slug = forms.CharField(
        max_length=50,
        validators=[slug_validator, slug_length_validator],
        help_text="3–50 lowercase letters, digits and hyphens; the database is named after it.",
    )

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        if Tenant.objects.filter(slug=slug).exists():
            raise forms.ValidationError("A tenant with this slug already exists.")
        return slug


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
