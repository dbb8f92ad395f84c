from django.urls import path

from dbtools.pages import by_method
from servers import views

urlpatterns = [
    path("servers/", views.server_list, name="servers"),
    path("servers/add", by_method(views.server_add, views.server_create), name="servers-add"),
    path("servers/add/test-connection", views.wizard_test, name="servers-test-new"),
    path("servers/bulk", views.bulk, name="servers-bulk"),
    path("servers/<int:pk>/", views.server_detail, name="servers-detail"),
    path(
        "servers/<int:pk>/edit",
        by_method(views.server_edit_page, views.server_update),
        name="servers-edit",
    ),
    path("servers/<int:pk>/edit/test-connection", views.wizard_test, name="servers-test-edit"),
    path("servers/<int:pk>/delete", views.server_delete, name="servers-delete"),
    path("servers/<int:pk>/test-connection", views.server_retest, name="servers-retest"),
    path("servers/<int:pk>/deploy", views.server_deploy, name="servers-deploy"),
    path("servers/<int:pk>/monitoring", views.server_monitoring, name="servers-monitoring"),
    path("servers/<int:pk>/groups/add", views.server_add_group, name="servers-add-group"),
    path(
        "servers/<int:pk>/groups/<int:group_id>/remove",
        views.server_remove_group,
        name="servers-remove-group",
    ),
    path("servers/<int:pk>/labels/add", views.server_add_labels, name="servers-add-labels"),
    path(
        "servers/<int:pk>/labels/<int:label_id>/remove",
        views.server_remove_label,
        name="servers-remove-label",
    ),
    path("groups/", views.group_list, name="groups"),
    path("groups/create", views.group_create, name="groups-create"),
    path("groups/<int:pk>/", views.group_detail, name="groups-detail"),
    path("groups/<int:pk>/edit", views.group_update, name="groups-edit"),
    path("groups/<int:pk>/delete", views.group_delete, name="groups-delete"),
    path("groups/<int:pk>/servers/add", views.group_add_servers, name="groups-add-servers"),
    path(
        "groups/<int:pk>/servers/<int:server_id>/remove",
        views.group_remove_server,
        name="groups-remove-server",
    ),
]
