from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from core import settings_store
from core.filters import ActivityFilter
from core.forms import SettingsForm
from core.models import ActivityLog
from dbtools.decorators import role_required
from tenants.models import Role


def activity(request: HttpRequest) -> HttpResponse:
    filterset = ActivityFilter(request.GET, queryset=ActivityLog.objects.all())
    # A filter that cannot be applied shows its error and no rows, never everything (the page
    # answers 200 like the Servers list, so the HTMX toolbar swaps the error in).
    valid = filterset.is_valid()
    rows = filterset.qs if valid else ActivityLog.objects.none()
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    context = {"filter": filterset, "page": page}
    partial = request.htmx and not request.htmx.history_restore_request
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
