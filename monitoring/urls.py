from django.urls import path

from monitoring import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("servers/<int:pk>/metrics", views.server_metrics, name="servers-metrics"),
]
