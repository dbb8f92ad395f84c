"""Tests: same settings, but tenant databases and roles get a `test_` prefix so a test run never
touches a developer's tenants, and the test system database is cloned from the prepared template."""

from dbtools.settings import *  # noqa: F403
from dbtools.settings import DATABASES

DBTOOLS_TENANT_DB_PREFIX = "test_dbtools_tenant_"
DATABASES["default"]["TEST"] = {"TEMPLATE": "dbtools_template"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405 - tasks run in the test's own process
