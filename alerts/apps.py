from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerting"

    def ready(self) -> None:
        from alerts import tasks
        from monitoring import collector

        # Each batch the collector writes is evaluated as it lands (see collector.after_write).
        collector.after_write(tasks.evaluate_written)
