from django.urls import path

from alerts import views
from dbtools.pages import by_method

urlpatterns = [
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/history", views.alert_history, name="alerts-history"),
    path("alerts/badge", views.badge, name="alerts-badge"),
    path("alerts/acknowledge", views.acknowledge_many, name="alerts-acknowledge-many"),
    path("alerts/<int:pk>/", views.alert_detail, name="alerts-detail"),
    path("alerts/<int:pk>/acknowledge", views.acknowledge, name="alerts-acknowledge"),
    path("alerts/<int:pk>/snooze", views.snooze, name="alerts-snooze"),
    path("alerts/rules", views.rule_list, name="alert-rules"),
    path(
        "alerts/rules/new",
        by_method(views.rule_new, views.rule_create),
        name="alert-rules-new",
    ),
    path("alerts/rules/preview", views.rule_preview, name="alert-rules-preview"),
    path(
        "alerts/rules/<int:pk>/edit",
        by_method(views.rule_edit, views.rule_update),
        name="alert-rules-edit",
    ),
    path("alerts/rules/<int:pk>/toggle", views.rule_toggle, name="alert-rules-toggle"),
    path("alerts/rules/<int:pk>/delete", views.rule_delete, name="alert-rules-delete"),
    path("alerts/silences", views.silence_list, name="alert-silences"),
    path("alerts/silences/create", views.silence_create, name="alert-silences-create"),
    path("alerts/silences/<int:pk>/end", views.silence_end, name="alert-silences-end"),
    path("alerts/contact-points", views.contact_list, name="alert-contacts"),
    path("alerts/contact-points/create", views.contact_create, name="alert-contacts-create"),
    path("alerts/contact-points/<int:pk>/test", views.contact_test, name="alert-contacts-test"),
    path(
        "alerts/contact-points/<int:pk>/delete", views.contact_delete, name="alert-contacts-delete"
    ),
    path(
        "alerts/notifications/<int:pk>/redeliver",
        views.redeliver,
        name="alert-notifications-redeliver",
    ),
]
