from django.urls import path

from policies import views

urlpatterns = [
    path("policies/", views.policy_list, name="policies"),
    path("policies/new", views.policy_new, name="policies-new"),
    path("policies/new/<slug:policy_type>", views.policy_create, name="policies-create"),
    path("policies/bulk-deploy", views.bulk_deploy, name="policies-bulk-deploy"),
    path("policies/compliance", views.compliance_view, name="policies-compliance"),
    path("policies/<int:pk>/", views.policy_detail, name="policies-detail"),
    path("policies/<int:pk>/edit", views.policy_edit, name="policies-edit"),
    path("policies/<int:pk>/delete", views.policy_delete, name="policies-delete"),
    path("policies/<int:pk>/deploy", views.policy_deploy, name="policies-deploy"),
    path(
        "policies/<int:pk>/deployments/<int:group_id>/remove",
        views.policy_undeploy,
        name="policies-undeploy",
    ),
    path(
        "policies/<int:pk>/deployments/<int:deployment_id>/run",
        views.policy_run_now,
        name="policies-run-now",
    ),
    path("policies/<int:pk>/exemptions", views.exemption_grant, name="policies-exempt"),
    path(
        "policies/<int:pk>/exemptions/<int:exemption_id>/revoke",
        views.exemption_revoke,
        name="policies-revoke-exemption",
    ),
]
