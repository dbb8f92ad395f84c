from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Metrics collection and health"

    def ready(self) -> None:
        from dbtools import sections
        from monitoring import health, panels, views
        from servers.health import HealthSource, register_source

        # The servers pages and API show health; monitoring computes it.
        register_source(
            HealthSource(fleet_health=health.fleet_health, detail_context=views.detail_context)
        )
        # DbTools' own health on the dashboard, last of its panels; group-level charts.
        sections.register(
            sections.DASHBOARD,
            sections.Section(
                "platform", "monitoring/panels/platform.html", panels.platform_health, order=90
            ),
        )
        sections.register(
            sections.GROUP,
            sections.Section(
                "metrics", "monitoring/panels/group_metrics.html", panels.group_metrics, order=10
            ),
        )
