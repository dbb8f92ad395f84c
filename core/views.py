from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst

from core import settings_store
from core.filters import ActivityFilter
from core.forms import SettingsForm
from core.models import ActivityLog
from dbtools.decorators import role_required
from dbtools.filterbar import Control, filter_bar
from dbtools.pages import query_without, render_page
from dbtools.roles import Role

ENTITY_PAGES = {"server": "servers-detail", "group": "groups-detail"}


ACTIVITY_COLUMNS = ("When (UTC)", "User", "Action", "Entity", "Details")


def readable_action(code: str) -> str:
    """server.labels_added -> Server: labels added."""
    entity, _, verb = code.partition(".")
    return f"{entity.replace('_', ' ').capitalize()}: {verb.replace('_', ' ')}" if verb else code


def activity(request: HttpRequest) -> HttpResponse:
    filterset = ActivityFilter(request.GET, queryset=ActivityLog.objects.all())
    # A filter that cannot be applied shows its error and no rows, never everything (the page
    # answers 200 like the Servers list, so the HTMX toolbar swaps the error in).
    valid = filterset.is_valid()
    rows = filterset.qs if valid else ActivityLog.objects.none()
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    log = ActivityLog.objects.order_by()
    for entry in page:
        entry.action_label = readable_action(entry.action)
        name = ENTITY_PAGES.get(entry.entity_type)
        entry.href = (
            reverse(name, args=[entry.entity_id]) if name and entry.entity_id.isdigit() else ""
        )
    # The filters take free text and ids; the drop-downs offer what the log holds.
    actions = log.values_list("action", flat=True).distinct().order_by("action")
    entity_types = log.values_list("entity_type", flat=True).distinct().order_by("entity_type")
    users = log.exclude(user_id=None).values_list("user_id", "user_name").distinct()
    controls = [
        Control(
            "q",
            "id_q",
            "Search",
            input_type="search",
            attrs={"placeholder": "Search action, name, user…"},
        ),
        Control(
            "action", "f-action", "Action", "Any action", [(a, readable_action(a)) for a in actions]
        ),
        Control(
            "entity_type",
            "f-entity-type",
            "Entity type",
            "Any entity",
            [(t, capfirst(t)) for t in entity_types],
        ),
        Control("user_id", "f-user", "User", "Any user", users.order_by("user_name")),
        Control("date_from", "f-from", "From", input_type="date", label_class="muted small"),
        Control("date_to", "f-to", "to", input_type="date", label_class="muted small"),
    ]
    bar = filter_bar(
        filterset,
        controls,
        form_id="activity-filters",
        url=reverse("activity"),
        target="#activity-rows",
        clear=bool(request.GET),
        extra="core/_export_links.html",
    )
    context = {
        "columns": ACTIVITY_COLUMNS,
        "filter": filterset,
        "filter_bar": bar,
        "page": page,
        "query_no_page": query_without(request),
    }
    return render_page(request, "core/activity.html", context, part="rows")


def activity_export(request: HttpRequest) -> HttpResponse:
    """The filtered activity log as a CSV (or JSON Lines) download, streamed."""
    from django.http import StreamingHttpResponse
    from django.utils import timezone

    from core import export
    from dbtools import tenancy

    filterset = ActivityFilter(request.GET, queryset=ActivityLog.objects.all())
    if not filterset.is_valid():
        message = "; ".join(f"{k}: {', '.join(v)}" for k, v in filterset.errors.items())
        return render(
            request, "error.html", {"title": "Bad filter", "message": message}, status=400
        )
    # The rows are read after this view returns, when the tenant of the request is no longer
    # set: the query names its database itself.
    rows = filterset.qs.using(tenancy.current().alias).order_by("-created_at", "-id")
    stamp = f"{timezone.now():%Y%m%d-%H%M}"
    if request.GET.get("format") == "json":
        lines, kind, name = export.json_lines(rows), "application/x-ndjson", "jsonl"
    else:
        lines, kind, name = export.csv_lines(rows), "text/csv", "csv"
    response = StreamingHttpResponse(lines, content_type=kind)
    response["Content-Disposition"] = f'attachment; filename="activity-{stamp}.{name}"'
    return response


def settings_page(request: HttpRequest) -> HttpResponse:
    form = SettingsForm(initial_values=settings_store.get_all())
    return render(request, "core/settings.html", {"form": form})


@role_required(Role.ADMIN)
def settings_save(request: HttpRequest) -> HttpResponse:
    form = SettingsForm(request.POST, initial_values=settings_store.get_all())
    if not form.is_valid():
        return render(request, "core/settings.html", {"form": form}, status=400)
    settings_store.update(form.cleaned_data, acting_user=request.user)
    messages.success(request, "Settings saved.")
    return redirect("settings")
