from django.urls import path

from monitoring.api import views

urlpatterns = [
    path("servers/health", views.FleetHealthView.as_view(), name="api-fleet-health"),
    path("servers/<int:pk>/health", views.ServerHealthView.as_view(), name="api-server-health"),
    path("servers/<int:pk>/metrics", views.ServerMetricsView.as_view(), name="api-server-metrics"),
    path("servers/<int:pk>/detail", views.ServerDetailView.as_view(), name="api-server-detail"),
    path(
        "servers/<int:pk>/collection-config",
        views.CollectionConfigView.as_view(),
        name="api-collection-config",
    ),
    path(
        "servers/<int:pk>/collection/start",
        views.CollectionStartView.as_view(),
        name="api-collection-start",
    ),
    path(
        "servers/<int:pk>/collection/stop",
        views.CollectionStopView.as_view(),
        name="api-collection-stop",
    ),
    path("settings/retention", views.RetentionView.as_view(), name="api-retention"),
    path("metrics/stats", views.MetricsStatsView.as_view(), name="api-metrics-stats"),
]
