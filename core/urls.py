from django.urls import path

from core import views

urlpatterns = [
    path("activity/", views.activity, name="activity"),
    path("activity/export", views.activity_export, name="activity-export"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/save", views.settings_save, name="settings-save"),
]
