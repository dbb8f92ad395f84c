from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from core.api.views import ActivityViewSet, SettingsView
from dbtools import views
from servers.api.views import GroupViewSet, LabelViewSet, ServerViewSet
from tenants.api.views import TenantViewSet

# PRD paths have no trailing slash; accept both.
api = DefaultRouter()
api.trailing_slash = "/?"
api.include_root_view = False
api.register("tenants", TenantViewSet, basename="tenant")
api.register("activity", ActivityViewSet, basename="activity")
api.register("servers", ServerViewSet, basename="server")
api.register("groups", GroupViewSet, basename="group")
api.register("labels", LabelViewSet, basename="label")

urlpatterns = [
    path("", include("monitoring.urls")),
    path("", include("servers.urls")),
    path("", include("policies.urls")),
    path("jobs/", include("scheduler.urls")),
    path("", include("alerts.urls")),
    path("", include("core.urls")),
    path("", include("tenants.urls")),
    path("tenant/select", views.select_tenant, name="select-tenant"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The PRD's Tenant Management page lives at /admin/tenants/.
    path("admin/tenants/", RedirectView.as_view(pattern_name="admin:tenants_tenant_changelist")),
    path("admin/", admin.site.urls),
    path("api/health", views.health, name="api-health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/settings", SettingsView.as_view(), name="api-settings"),
    path("api/", include("monitoring.api.urls")),
    path("api/", include("scheduler.api.urls")),
    path("api/", include("policies.api.urls")),
    path("api/", include("alerts.api.urls")),
    path("api/", include(api.urls)),
]

handler400 = "dbtools.views.bad_request"
handler403 = "dbtools.views.permission_denied"
handler404 = "dbtools.views.page_not_found"
handler500 = "dbtools.views.server_error"
