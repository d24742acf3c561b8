"""Settings common to every environment of the resize-failure dashboard.

Everything comes from environment variables with safe local defaults, so a fresh
clone runs with no configuration: SQLite under ``var/`` and Redis on localhost
(config/locations.py: where ``make run``'s Redis is).

Whether debug mode is on is left to the module that imports this one: local.py (on unless
``DJANGO_DEBUG`` turns it off) or production.py (always off). The settings that follow it
are computed by ``secret_key(debug)`` and ``rest_framework(debug)``.
"""
import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.locations import BASE_DIR, redis_url, var_dir

VAR_DIR = var_dir()


def env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def secret_key(debug):
    """``$DJANGO_SECRET_KEY``; outside debug mode there is no default."""
    key = os.environ.get("DJANGO_SECRET_KEY")
    if key:
        return key
    if not debug:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set outside debug mode (DJANGO_DEBUG off, or production settings)."
        )
    return "local-development-only-not-a-secret"


ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simulator",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

# SQLite by default. IMMEDIATE transactions take the write lock up front, so
# concurrent read-then-write transactions queue instead of failing with
# "database is locked"; WAL lets readers run alongside the writer.
SQLITE_OPTIONS = {
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
# Connections are kept for DATABASE_CONN_MAX_AGE seconds (workers reuse them between steps).
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
    # A file (so tests see real locking), one per test process.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / f"test-{os.getpid()}.sqlite3")
    VAR_DIR.mkdir(parents=True, exist_ok=True)

REDIS_URL = redis_url()

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"


def serving_static(middleware):
    """``middleware`` with WhiteNoise right after SecurityMiddleware: static files served by the
    application itself when debug mode is off (runserver serves them in debug mode)."""
    at = middleware.index("django.middleware.security.SecurityMiddleware") + 1
    return [*middleware[:at], "whitenoise.middleware.WhiteNoiseMiddleware", *middleware[at:]]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

def logging_config(step_level):
    """Logs on stderr, one line per record. ``simulator``: what Nova would have logged (quiet
    unless SIMULATOR_LOG_LEVEL says otherwise); ``simulator.steps``: one line per executed step
    (run, step, host, worker, queue wait, duration) at INFO, shown from ``step_level`` up."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
        "loggers": {
            "simulator": {"handlers": ["console"], "level": os.environ.get("SIMULATOR_LOG_LEVEL", "CRITICAL")},
            "simulator.steps": {"level": os.environ.get("STEP_LOG_LEVEL", step_level)},
        },
    }


LOGGING = logging_config("WARNING")

# Celery: Redis broker; runs live in the database, so no result backend.
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "conductor"
CELERY_TASK_CREATE_MISSING_QUEUES = True
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True
CELERY_TASK_TRACK_STARTED = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A message not acknowledged within CELERY_VISIBILITY_TIMEOUT seconds (its worker died)
# is delivered again; it must be longer than the longest step (step_delay is at most
# 60 s). Workers look for such messages every CELERY_UNACKED_RESTORE_INTERVAL seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "300")),
    "unacked_restore_interval": int(os.environ.get("CELERY_UNACKED_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": 1,
}

# The reaper (in workers that serve the conductor queue) looks every RUN_REAPER_INTERVAL
# seconds for runs silent for RUN_STALE_AFTER seconds whose message is in no queue.
RUN_REAPER_INTERVAL = float(os.environ.get("RUN_REAPER_INTERVAL", "5"))
RUN_STALE_AFTER = float(os.environ.get("RUN_STALE_AFTER", "30"))
RUN_MAX_REDISPATCHES = int(os.environ.get("RUN_MAX_REDISPATCHES", "3"))
# How often a worker started with --all-hosts looks for new compute hosts' queues.
WORKER_HOST_QUEUES_INTERVAL = float(os.environ.get("WORKER_HOST_QUEUES_INTERVAL", "1"))
# How often a worker tells Redis it is alive (the health endpoint's "workers seen recently").
WORKER_HEARTBEAT_INTERVAL = float(os.environ.get("WORKER_HEARTBEAT_INTERVAL", "10"))

# Conformance: real Nova 34 in its own virtualenv (``make nova-env``), where runs are replayed
# (by ``manage.py conformance``, and by workers consuming the ``conformance`` queue).
NOVA_VENV = BASE_DIR / os.environ.get("NOVA_VENV", ".venv-nova")  # relative to the checkout unless absolute
# The real OpenStack clients (make osc-env): the wire-API tests drive its ``openstack`` command.
OSC_VENV = BASE_DIR / os.environ.get("OSC_VENV", ".venv-osc")
NOVA_REPLAY = BASE_DIR / "conformance" / "nova_replay.py"
NOVA_REPLAY_JOBS = int(os.environ.get("NOVA_REPLAY_JOBS", "2"))


def rest_framework(debug):
    """REST API: session auth for the browser, tokens for scripts. Reading is open in local
    debug mode; every write needs an authenticated user."""
    return {
        # Token first: a request without credentials gets 401 with "WWW-Authenticate: Token".
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework.authentication.TokenAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_PERMISSION_CLASSES": [
            "rest_framework.permissions.IsAuthenticatedOrReadOnly" if debug
            else "rest_framework.permissions.IsAuthenticated"
        ],
        "DEFAULT_PARSER_CLASSES": [
            "dashboard.api.errors.JSONParser",
            "rest_framework.parsers.FormParser",
            "rest_framework.parsers.MultiPartParser",
        ],
        "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
        "PAGE_SIZE": 50,
        "DEFAULT_FILTER_BACKENDS": [
            "django_filters.rest_framework.DjangoFilterBackend",
            "rest_framework.filters.OrderingFilter",
        ],
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "DEFAULT_THROTTLE_RATES": {
            "runs": os.environ.get("API_RUN_RATE", "120/min"),
            "campaigns": os.environ.get("API_CAMPAIGN_RATE", "30/min"),
        },
        "EXCEPTION_HANDLER": "dashboard.api.errors.exception_handler",
    }


SPECTACULAR_SETTINGS = {
    "TITLE": "Resize-failure dashboard API",
    "DESCRIPTION": "Start simulated Nova resize runs, read their reports, and inspect the simulated clouds.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One schema enum per vocabulary, named after it, whichever serializer uses it.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "simulator.states.RunStatus",
        "MigrationStatusEnum": "simulator.states.MigrationStatus",
        "VmStateEnum": "simulator.states.VmState",
        "CampaignStatusEnum": "simulator.states.CampaignStatus",
        # The run parameter `then` (with its labels), in runs, campaigns' params and axes alike.
        "RunCreateThenEnum": "dashboard.api.serializers.THEN_CHOICES",
    },
}
