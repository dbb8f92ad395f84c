from django.apps import AppConfig


class SchedulerConfig(AppConfig):
    name = "scheduler"
    verbose_name = "Job scheduler"

    def ready(self) -> None:
        from dbtools import sections
        from scheduler import panels

        # Failed jobs on the dashboard; a server's and a group's jobs; maintenance running now.
        for place, template, context, order in (
            (sections.DASHBOARD, "scheduler/panels/dashboard.html", panels.dashboard, 30),
            (sections.SERVER, "scheduler/panels/jobs.html", panels.server_section, 30),
            (sections.SERVER_HEADER, "scheduler/panels/header.html", panels.server_header, 20),
            (sections.GROUP, "scheduler/panels/jobs.html", panels.group_section, 40),
        ):
            sections.register(place, sections.Section("jobs", template, context, order))
        sections.register(
            sections.SERVER_LIST,
            sections.Section("jobs", "scheduler/panels/bulk_run.html", panels.bulk_run, 10),
        )
