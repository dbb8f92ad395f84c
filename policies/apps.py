from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Policies"

    def ready(self) -> None:
        from policies import runner
        from scheduler import engine, job_types
        from scheduler.models import Job

        engine.register_handler(Job.Type.POLICY_EXECUTION, runner.run)
        job_types.register_picker(Job.Type.POLICY_EXECUTION, runner.picks)
