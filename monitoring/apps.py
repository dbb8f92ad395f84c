from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = "Metrics collection and health"

    def ready(self) -> None:
        from monitoring import health, views
        from servers.health import HealthSource, register_source

        # The servers pages and API show health; monitoring computes it.
        register_source(
            HealthSource(fleet_health=health.fleet_health, detail_context=views.detail_context)
        )
