from django.urls import path

from monitoring import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("servers/<int:pk>/metrics", views.server_metrics, name="servers-metrics"),
    path("servers/<int:pk>/health", views.server_health, name="servers-health"),
    path("servers/<int:pk>/collection", views.collection_card, name="servers-collection"),
    path("groups/<int:pk>/metrics", views.group_metrics, name="groups-metrics"),
    path("servers/<int:pk>/collection/save", views.collection_save, name="servers-collection-save"),
]
