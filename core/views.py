from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from core import settings_store
from core.filters import ActivityFilter
from core.forms import SettingsForm
from core.models import ActivityLog
from dbtools.decorators import role_required
from dbtools.pages import wants_partial
from tenants.models import Role


def activity(request: HttpRequest) -> HttpResponse:
    filterset = ActivityFilter(request.GET, queryset=ActivityLog.objects.all())
    page = Paginator(filterset.qs, 50).get_page(request.GET.get("page"))
    context = {"filter": filterset, "page": page}
    partial = wants_partial(request)
    template = "core/activity.html#rows" if partial else "core/activity.html"
    return render(request, template, context)


def settings_page(request: HttpRequest) -> HttpResponse:
    form = SettingsForm(initial_values=settings_store.get_all())
    return render(request, "core/settings.html", {"form": form})


@role_required(Role.ADMIN)
def settings_save(request: HttpRequest) -> HttpResponse:
    form = SettingsForm(request.POST, initial_values=settings_store.get_all())
    if not form.is_valid():
        return render(request, "core/settings.html", {"form": form}, status=400)
    settings_store.update(form.cleaned_data, request.user)
    messages.success(request, "Settings saved.")
    return redirect("settings")
