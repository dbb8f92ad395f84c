from django.urls import path

from core.api.views import ActivityViewSet, SettingsView
from dbtools.api_router import router

api = router()
api.register("activity", ActivityViewSet, basename="activity")

urlpatterns = [
    path("settings", SettingsView.as_view(), name="api-settings"),
    *api.urls,
]
