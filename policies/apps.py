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

        from dbtools import sections
        from policies import panels

        # Compliance on the dashboard, the server page and the group page.
        for place, template, context, order in (
            (sections.DASHBOARD, "policies/panels/dashboard.html", panels.dashboard, 20),
            (sections.SERVER, "policies/panels/deployments.html", panels.server_section, 20),
            (sections.GROUP, "policies/panels/deployments.html", panels.group_section, 30),
        ):
            sections.register(place, sections.Section("policies", template, context, order))
        sections.register(
            sections.SERVER_LIST,
            sections.Section(
                "policies", "policies/panels/bulk_deploy.html", panels.bulk_deploy, order=20
            ),
        )
