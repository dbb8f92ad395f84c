from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_login_failed

        from dbtools import security

        user_login_failed.connect(security.log_login_failure, dispatch_uid="dbtools-login-failed")
