from django.urls import path

from scheduler import views

urlpatterns = [
    path("", views.job_list, name="jobs"),
    path("new", views.job_new, name="jobs-new"),
    path("bulk-run", views.bulk_run, name="jobs-bulk-run"),
    path("schedule-preview", views.schedule_preview, name="jobs-schedule-preview"),
    path("test-run", views.test_run, name="jobs-test-run"),
    path("timeline", views.fleet_timeline, name="jobs-timeline"),
    path("<int:pk>/", views.job_detail, name="jobs-detail"),
    path("<int:pk>/edit", views.job_edit, name="jobs-edit"),
    path("<int:pk>/run", views.job_run, name="jobs-run-now"),
    path("<int:pk>/enabled", views.job_toggle, name="jobs-toggle"),
    path("<int:pk>/delete", views.job_delete, name="jobs-delete"),
    path("<int:pk>/dependencies", views.job_dependencies, name="jobs-dependencies"),
    path("<int:pk>/runs/<int:run_id>/", views.run_detail, name="jobs-run"),
    path("<int:pk>/runs/<int:run_id>/cancel", views.run_cancel, name="jobs-run-cancel"),
    path(
        "<int:pk>/runs/<int:run_id>/executions/<int:execution_id>/",
        views.execution_detail,
        name="jobs-execution",
    ),
]
