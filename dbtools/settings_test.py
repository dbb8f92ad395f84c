"""Tests: same settings, but tenant databases and roles get a `test_` prefix so a test run never
touches a developer's tenants, and the test system database is cloned from the prepared template."""

import os

from dbtools.settings import *  # noqa: F403
from dbtools.settings import DATABASES

# One namespace per test process, so parallel runs (xdist workers, two developers' shells) never
# share databases; conftest drops what dead runs left behind.
TEST_RUN = os.environ.get("DBTOOLS_TEST_RUN") or str(os.getpid())
DBTOOLS_TENANT_DB_PREFIX = f"test{TEST_RUN}_tenant_"
DATABASES["default"]["TEST"] = {"TEMPLATE": "dbtools_template", "NAME": f"test{TEST_RUN}_dbtools"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
Q_CLUSTER = {**Q_CLUSTER, "sync": True}  # noqa: F405 - tasks run in the test's own process
# One collector part unless a test asks for more: a test running slot 0 then collects every
# server, whichever part its id falls in (the parts have tests of their own).
DBTOOLS_COLLECT_SLOTS = 1
# Tests that run in one transaction cannot share it with other threads: database work of the
# collector on the slot's thread unless a (transactional) test asks for threads.
DBTOOLS_COLLECTOR_DB_THREADS = 0
