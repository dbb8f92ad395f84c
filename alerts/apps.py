from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerting"

    def ready(self) -> None:
        from alerts import tasks
        from monitoring import collector

        # Each batch the collector writes is evaluated as it lands (see collector.after_write).
        collector.after_write(tasks.evaluate_written)

        from alerts import panels
        from dbtools import sections

        # What alerting adds to the dashboard, the server page and the group page.
        for place, key, template, context, order in (
            (sections.DASHBOARD, "alerts", "alerts/panels/dashboard.html", panels.dashboard, 10),
            (sections.SERVER, "alerts", "alerts/panels/server.html", panels.server_section, 10),
            (
                sections.SERVER_HEADER,
                "alerts",
                "alerts/panels/server_header.html",
                panels.server_header,
                10,
            ),
            (sections.GROUP, "alerts", "alerts/panels/group.html", panels.group_section, 50),
        ):
            sections.register(place, sections.Section(key, template, context, order))
