"""DbTools settings: everything comes from the environment (see `.env.example`).

Defaults are chosen so that `make run` works on a fresh machine with no `.env`.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from dbtools import local_secrets

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Generated secrets (encryption key, secret key, the demo admin's password) live with the
# machine's data; the set-up writes them, the settings only read them (dbtools/local_secrets.py).
VAR_DIR = local_secrets.state_dir()


def _local_secret(name: str) -> str:
    try:
        return local_secrets.read(name)
    except local_secrets.MissingSecret as exc:
        raise ImproperlyConfigured(str(exc)) from exc


DEBUG = env.bool("DBTOOLS_DEBUG", default=False)
SECRET_KEY = env.str("DBTOOLS_SECRET_KEY", default="") or _local_secret("secret_key")
ALLOWED_HOSTS = env.list("DBTOOLS_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DBTOOLS_CSRF_TRUSTED_ORIGINS", default=[])

# AES-256-GCM keys for stored credentials: "kid:base64key,kid:base64key"; the first one encrypts,
# all of them decrypt, which is what makes `rotate_encryption_key` possible.
DBTOOLS_ENCRYPTION_KEYS = env.str("DBTOOLS_ENCRYPTION_KEYS", default="") or (
    "local:" + _local_secret("encryption_key")
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "tenants",
    "engine",
    "core",
    "servers",
    "monitoring",
    "scheduler",
    "policies",
    "alerts",
]

# Apps whose tables live in every tenant database and never in the system database.
TENANT_APPS = {"core", "servers", "monitoring", "scheduler", "policies", "alerts"}

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dbtools.middleware.RequestLogMiddleware",
    "tenants.middleware.TenantMiddleware",
    # Last, as django-axes asks: it turns a lockout flagged during the view into its answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dbtools.urls"
WSGI_APPLICATION = "dbtools.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "tenants.context_processors.shell",
                "monitoring.context_processors.collection_banner",
            ],
            "builtins": ["django_htmx.templatetags.django_htmx"],
        },
    }
]

# The system database. Tenant databases are added at run time (see dbtools/tenancy.py) with the
# same engine settings but their own name, role and password.
DATABASES = {
    "default": env.db_url(
        "DATABASE_URL", default="postgres://dbtools:dbtools@127.0.0.1:5432/dbtools_system"
    )
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DBTOOLS_CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_ROUTERS = ["dbtools.routers.TenantRouter"]

# Tenant databases: name prefix (the slug follows), how long an idle tenant connection may live,
# and how many tenant connections one thread keeps open at most (least recently used go first).
# The tenant registry (looked up by name so that the kernel imports no app).
DBTOOLS_TENANT_MODEL = "tenants.Tenant"
# How much work a tenant holds (its live servers): the first landing picks the busiest tenant.
DBTOOLS_TENANT_WORKLOAD = "servers.models.tenant_workload"
DBTOOLS_TENANT_DB_PREFIX = env.str("DBTOOLS_TENANT_DB_PREFIX", default="dbtools_tenant_")
DBTOOLS_TENANT_CONN_MAX_AGE = env.int("DBTOOLS_TENANT_CONN_MAX_AGE", default=300)
DBTOOLS_TENANT_CONN_KEEP = env.int("DBTOOLS_TENANT_CONN_KEEP", default=4)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes consults its backend first and refuses a locked-out account or address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Brute-force protection (pages, admin, API tokens; see dbtools/security.py). Failed logins are
# counted per account and, separately, per client address; reaching the limit on either locks
# it out for the cool-off period. A successful login clears the account's count.
AXES_FAILURE_LIMIT = env.int("DBTOOLS_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("DBTOOLS_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "dbtools.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "dbtools.security.client_ip"
AXES_VERBOSE = False  # dbtools.security logs each failure as a structured event instead
# Reverse proxies in front of DbTools that append to X-Forwarded-For (0: clients connect
# directly). Without it every client would share the proxy's address and one attacker would lock
# everybody out; with a wrong value clients could pick their own address.
DBTOOLS_PROXY_COUNT = env.int("DBTOOLS_PROXY_COUNT", default=0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Served over HTTPS (directly or by a TLS-terminating proxy): redirect plain HTTP, send HSTS and
# keep cookies off plain HTTP. `manage.py check --deploy` is clean with this on.
DBTOOLS_HTTPS = env.bool("DBTOOLS_HTTPS", default=False)
SECURE_SSL_REDIRECT = DBTOOLS_HTTPS
SECURE_HSTS_SECONDS = env.int("DBTOOLS_HSTS_SECONDS", default=31_536_000 if DBTOOLS_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DBTOOLS_HSTS_INCLUDE_SUBDOMAINS", default=DBTOOLS_HTTPS)
SECURE_HSTS_PRELOAD = env.bool("DBTOOLS_HSTS_PRELOAD", default=DBTOOLS_HTTPS)
# A proxy that terminates TLS tells Django so in this header; trust it only behind such a proxy
# (one that overwrites the header), or a client could claim HTTPS over plain HTTP.
if env.bool("DBTOOLS_TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("DBTOOLS_SECURE_COOKIES", default=DBTOOLS_HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Scripts and styles only from our own static files (or carrying this response's nonce); no
# inline event handlers. Style attributes stay allowed: templates set per-row colours and bar
# widths with them, which cannot run code.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "style-src-attr": [CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Browser features DbTools never uses are switched off for its pages and anything they embed.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "camera",
        "display-capture",
        "encrypted-media",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "usb",
    )
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an API client without credentials then gets 401 with WWW-Authenticate.
        "dbtools.security.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.TenantRolePermission"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "dbtools.api.Pagination",
    # Ours refuse oversized, too deeply nested and non-UTF-8 bodies with a 4xx (dbtools/api.py).
    "DEFAULT_PARSER_CLASSES": [
        "dbtools.api.JSONParser",
        "dbtools.api.FormParser",
        "dbtools.api.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "dbtools.schema.TenantAutoSchema",
    "EXCEPTION_HANDLER": "dbtools.api.exception_handler",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "DbTools API",
    "DESCRIPTION": "Manage SQL Server fleets per tenant. Tenant-scoped endpoints need the "
    "`X-Tenant-Slug` header; authenticate with a session or `Authorization: Token <key>`.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI from our own static files (the sidecar package): DBAs work on closed networks.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status"; each keeps its own, named, enum in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ServerStatusEnum": "servers.models.Server.Status",
        "TenantStatusEnum": "tenants.models.Tenant.Status",
        "PolicyStatusEnum": "policies.models.Policy.Status",
        "RunStatusEnum": "scheduler.models.RunStatus",
        "HealthEnum": "servers.health.Health",
        "AlertSeverityEnum": "alerts.models.Severity",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "dbtools.schema.strip_trailing_slashes",
        "dbtools.schema.document_errors",
    ],
}

# Django-Q2: three clusters, each with its own queue and worker processes (`scripts/run.sh`
# starts one `qcluster` per cluster; `dbtools.tasks.enqueue` picks the cluster by kind of work).
#   dbtools      routine work: schedules, retention, long jobs. Long timeout.
#   interactive  work a user waits for: deploys, connection tests, run-now. Short timeout.
#   collect      collector slots only: DBTOOLS_COLLECT_SLOTS long-running tasks.
# The ORM broker needs nothing else; set DBTOOLS_REDIS_URL for several worker nodes.
DBTOOLS_REDIS_URL = env.str("DBTOOLS_REDIS_URL", default="")

# Collector: slots (tasks running at once on the whole installation, each a worker of the collect
# cluster, each collecting its own part of the fleet; every process must agree on this number),
# threads per slot (parallel collections), per-server time limit, how long a slot task runs
# before its successor takes over (long, so a target's connection stays in one process), how far
# ahead it claims servers, how long a claim on a server or tenant lasts (a killed worker's
# servers are collected by another slot after that), servers per tenant visit, and tenant
# connections a slot keeps open.
DBTOOLS_COLLECT_SLOTS = env.int("DBTOOLS_COLLECT_SLOTS", default=2)
DBTOOLS_COLLECTOR_THREADS = env.int("DBTOOLS_COLLECTOR_THREADS", default=64)
DBTOOLS_COLLECTOR_TIMEOUT = env.int("DBTOOLS_COLLECTOR_TIMEOUT", default=5)
# How often a collection also reads space (volumes, files, logs) and SQL Agent jobs: they change
# slowly and cost more than the per-minute sets. 300-900 s; outside that range it is clamped.
DBTOOLS_SPACE_INTERVAL_SECONDS = env.int("DBTOOLS_SPACE_INTERVAL_SECONDS", default=600)
DBTOOLS_COLLECTOR_RUN_SECONDS = env.int("DBTOOLS_COLLECTOR_RUN_SECONDS", default=600)
DBTOOLS_COLLECTOR_LOOKAHEAD = env.int("DBTOOLS_COLLECTOR_LOOKAHEAD", default=3)
DBTOOLS_COLLECTOR_LEASE_SECONDS = env.int("DBTOOLS_COLLECTOR_LEASE_SECONDS", default=30)
DBTOOLS_COLLECTOR_BATCH = env.int("DBTOOLS_COLLECTOR_BATCH", default=200)
DBTOOLS_COLLECTOR_TENANT_CONNS = env.int("DBTOOLS_COLLECTOR_TENANT_CONNS", default=8)
# Tenants a slot has under way at once (claimed, collecting or being written). Independent of the
# connections it keeps: with a thousand small tenants a write may reconnect (a few ms), where
# holding the slot to its kept connections left its collector threads idle between tenants.
DBTOOLS_COLLECTOR_TENANTS_AT_ONCE = env.int("DBTOOLS_COLLECTOR_TENANTS_AT_ONCE", default=48)
# Threads per slot for tenant database work (claiming servers, writing results): with many small
# tenants the slot's round trips overlap instead of queueing. Each keeps its share of the
# slot's tenant connections and one system connection; 0 does the work on the slot's thread.
DBTOOLS_COLLECTOR_DB_THREADS = env.int("DBTOOLS_COLLECTOR_DB_THREADS", default=1)

# A task that outlives its cluster's `timeout` is killed; `retry` must exceed `timeout` or the
# broker would hand the same task to a second worker while the first still runs it.
_ROUTINE_TIMEOUT = env.int("DBTOOLS_Q_TIMEOUT", default=3600)
_INTERACTIVE_TIMEOUT = env.int("DBTOOLS_INTERACTIVE_TIMEOUT", default=120)
_COLLECT_TIMEOUT = (
    DBTOOLS_COLLECTOR_RUN_SECONDS + DBTOOLS_COLLECTOR_LOOKAHEAD + DBTOOLS_COLLECTOR_TIMEOUT + 30
)
Q_CLUSTER = {
    "name": "dbtools",
    # The job dispatcher holds one routine worker for good: three leave two for the rest.
    "workers": env.int("DBTOOLS_Q_WORKERS", default=3),
    "timeout": _ROUTINE_TIMEOUT,
    "retry": env.int("DBTOOLS_Q_RETRY", default=_ROUTINE_TIMEOUT + 60),
    "catch_up": False,
    "max_attempts": 1,
    "save_limit": 1000,
    "label": "Tasks",
    "ALT_CLUSTERS": {
        "interactive": {
            "workers": env.int("DBTOOLS_INTERACTIVE_WORKERS", default=2),
            "timeout": _INTERACTIVE_TIMEOUT,
            "retry": env.int("DBTOOLS_INTERACTIVE_RETRY", default=_INTERACTIVE_TIMEOUT + 30),
        },
        "collect": {
            # One worker per slot: a successor is queued as its predecessor returns, and takes
            # the worker it frees.
            "workers": env.int("DBTOOLS_COLLECT_WORKERS", default=DBTOOLS_COLLECT_SLOTS),
            "timeout": _COLLECT_TIMEOUT,
            "retry": _COLLECT_TIMEOUT + 30,
        },
    },
}
if DBTOOLS_REDIS_URL:
    Q_CLUSTER["redis"] = DBTOOLS_REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"


# SQL Server access.
DBTOOLS_ODBC_DRIVER = env.str("DBTOOLS_ODBC_DRIVER", default="FreeTDS")
# The login and each query on an instance (a deployment step, a job's statement) time out after
# this many seconds; the collector's own, shorter limit is DBTOOLS_COLLECTOR_TIMEOUT.
DBTOOLS_SQL_TIMEOUT = env.int("DBTOOLS_SQL_TIMEOUT", default=10)
# A connection test runs inside a web request, so it gets one limit for all its steps (probe,
# login, queries): drivers count their timeouts per step, and a server answering each step just
# in time would otherwise hold the request for a minute.
DBTOOLS_CONNECTION_TEST_TIMEOUT = env.int("DBTOOLS_CONNECTION_TEST_TIMEOUT", default=10)
# Requests that wait on an instance (connection tests) may hold only some of the web threads:
# per process all but one of them (scripts/run.sh starts gunicorn with DBTOOLS_WEB_THREADS), so
# every process always has a thread for other requests; per user a few, over every process and
# node. Requests past a limit are refused with 429 at once rather than queued.
DBTOOLS_WEB_THREADS = env.int("DBTOOLS_WEB_THREADS", default=4)
DBTOOLS_TARGET_REQUESTS_PER_PROCESS = env.int(
    "DBTOOLS_TARGET_REQUESTS_PER_PROCESS", default=max(1, DBTOOLS_WEB_THREADS - 1)
)
DBTOOLS_TARGET_REQUESTS_PER_USER = env.int("DBTOOLS_TARGET_REQUESTS_PER_USER", default=3)

# Scheduled jobs running at once: per tenant (the PRD's 5), per target server (one heavy job at a
# time on a server whatever this says), and per worker node over all its clusters, so a burst
# of jobs cannot take every connection and core a node has.
DBTOOLS_JOBS_PER_TENANT = env.int("DBTOOLS_JOBS_PER_TENANT", default=5)
DBTOOLS_JOBS_PER_SERVER = env.int("DBTOOLS_JOBS_PER_SERVER", default=1)
DBTOOLS_JOBS_PER_NODE = env.int("DBTOOLS_JOBS_PER_NODE", default=8)

# Alerting. A failed webhook is retried after this many seconds, doubling each time. DbTools'
# own heavy maintenance on a server (backups, index and integrity jobs) holds the notifications
# of rules quiet during maintenance while it runs and for this many minutes after: a 5-minute
# CPU average stays high for a few checks after the work ends.
DBTOOLS_ALERT_RETRY_SECONDS = env.int("DBTOOLS_ALERT_RETRY_SECONDS", default=30)
DBTOOLS_ALERT_MAINTENANCE_GRACE_MINUTES = env.int(
    "DBTOOLS_ALERT_MAINTENANCE_GRACE_MINUTES", default=10
)
# Email contact points need an SMTP server: `smtp+tls://user:password@mail.example.com:587`
# (or `smtp+ssl://...:465`, `smtp://host:25`). Without it they cannot be created, rather than
# failing at 3 a.m. when the first alert fires. Django's mailers (MAILERS), not the EMAIL_*
# settings it is retiring.
_EMAIL_URL = env.str("DBTOOLS_EMAIL_URL", default="")
DBTOOLS_EMAIL_ENABLED = bool(_EMAIL_URL)
# Without one, Django's own default (SMTP on localhost:25) stands as the default mailer, which
# `check --deploy` wants; alerting checks DBTOOLS_EMAIL_ENABLED itself and sends nothing then.
MAILERS: dict[str, dict] = {"default": {"OPTIONS": {"host": "localhost", "port": 25}}}
if _EMAIL_URL:
    _email = env.email_url("DBTOOLS_EMAIL_URL")
    MAILERS["default"] = {
        "BACKEND": _email["EMAIL_BACKEND"],
        "OPTIONS": {
            "host": _email["EMAIL_HOST"],
            "port": _email["EMAIL_PORT"],
            "username": _email["EMAIL_HOST_USER"],
            "password": _email["EMAIL_HOST_PASSWORD"],
            "use_tls": bool(_email.get("EMAIL_USE_TLS")),
            "use_ssl": bool(_email.get("EMAIL_USE_SSL")),
            "timeout": env.int("DBTOOLS_EMAIL_TIMEOUT", default=10),
        },
    }
DEFAULT_FROM_EMAIL = env.str("DBTOOLS_EMAIL_FROM", default="DbTools <dbtools@localhost>")


def _check_engine_settings() -> None:
    """Settings that must agree, checked when any process starts rather than found in production."""
    clusters = {"dbtools": Q_CLUSTER, **Q_CLUSTER["ALT_CLUSTERS"]}
    for name, conf in clusters.items():
        if conf.get("retry", Q_CLUSTER["retry"]) <= conf.get("timeout", Q_CLUSTER["timeout"]):
            raise ImproperlyConfigured(f"Django-Q2 cluster {name!r}: retry must exceed timeout.")
        if conf.get("workers", 1) < 1:
            raise ImproperlyConfigured(f"Django-Q2 cluster {name!r} needs at least one worker.")
    if DBTOOLS_COLLECTOR_LEASE_SECONDS <= DBTOOLS_COLLECTOR_LOOKAHEAD + DBTOOLS_COLLECTOR_TIMEOUT:
        raise ImproperlyConfigured(
            "DBTOOLS_COLLECTOR_LEASE_SECONDS must exceed DBTOOLS_COLLECTOR_LOOKAHEAD + "
            "DBTOOLS_COLLECTOR_TIMEOUT, or a claim could expire before its collection is written."
        )
    if (
        min(DBTOOLS_COLLECTOR_THREADS, DBTOOLS_COLLECTOR_BATCH, DBTOOLS_COLLECTOR_TENANTS_AT_ONCE)
        < 1
        or DBTOOLS_COLLECTOR_DB_THREADS < 0
    ):
        raise ImproperlyConfigured(
            "DBTOOLS_COLLECTOR_THREADS, _BATCH and _TENANTS_AT_ONCE must be positive, "
            "_DB_THREADS at least 0."
        )
    # A deployment runs in the interactive cluster: a login plus its statements, each allowed
    # DBTOOLS_SQL_TIMEOUT, must fit in the task's time or the worker is killed mid-deployment.
    if DBTOOLS_SQL_TIMEOUT < 1 or 2 * DBTOOLS_SQL_TIMEOUT >= _INTERACTIVE_TIMEOUT:
        raise ImproperlyConfigured(
            "DBTOOLS_SQL_TIMEOUT must be positive and less than half of "
            "DBTOOLS_INTERACTIVE_TIMEOUT (a deployment logs in and runs statements)."
        )
    if not 0 < DBTOOLS_CONNECTION_TEST_TIMEOUT < _INTERACTIVE_TIMEOUT:
        raise ImproperlyConfigured(
            "DBTOOLS_CONNECTION_TEST_TIMEOUT must be positive and below "
            "DBTOOLS_INTERACTIVE_TIMEOUT."
        )


_check_engine_settings()


LOG_LEVEL = env.str("DBTOOLS_LOG_LEVEL", default="INFO")
from dbtools.logging import configure as _configure_logging  # noqa: E402

LOGGING_CONFIG = None
_configure_logging(LOG_LEVEL, json=env.bool("DBTOOLS_LOG_JSON", default=True))
