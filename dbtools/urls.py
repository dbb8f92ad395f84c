from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from dbtools import views

# The root URLconf only includes: each app owns its pages (`<app>.urls`) and its API
# (`<app>.api.urls`). Order matters where paths overlap: `api/servers/health` (monitoring) must
# come before the servers router's `api/servers/<pk>`.

urlpatterns = [
    path("", include("monitoring.urls")),
    path("", include("servers.urls")),
    path("", include("policies.urls")),
    path("jobs/", include("scheduler.urls")),
    path("", include("alerts.urls")),
    path("", include("core.urls")),
    path("", include("tenants.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Platform admins look for tenant management under /admin/tenants/.
    path("admin/tenants/", RedirectView.as_view(pattern_name="admin:tenants_tenant_changelist")),
    path("admin/", admin.site.urls),
    path("api/health", views.health, name="api-health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("monitoring.api.urls")),
    path("api/", include("scheduler.api.urls")),
    path("api/", include("policies.api.urls")),
    path("api/", include("alerts.api.urls")),
    path("api/", include("tenants.api.urls")),
    path("api/", include("core.api.urls")),
    path("api/", include("servers.api.urls")),
]

handler400 = "dbtools.views.bad_request"
handler403 = "dbtools.views.permission_denied"
handler404 = "dbtools.views.page_not_found"
handler500 = "dbtools.views.server_error"
