"""Settings for serving the dashboard: debug mode off whatever ``DJANGO_DEBUG`` says,
``DJANGO_SECRET_KEY`` required, a login needed to read anything, HTTPS only.

Selected with ``DJANGO_SETTINGS_MODULE=config.settings.production``; ``manage.py check --deploy``
is clean with them. Behind a reverse proxy that terminates TLS, say which header tells the scheme
(``DJANGO_SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https``) and where pages are served from
(``DJANGO_ALLOWED_HOSTS``, ``DJANGO_CSRF_TRUSTED_ORIGINS``). Every ``DJANGO_SECURE_*`` variable
below overrides the secure default.
"""
import os

from .base import *  # noqa: F403
from .base import REDIS_URL, env_bool, env_list, logging_config, rest_framework, secret_key, serving_static

DEBUG = False
SECRET_KEY = secret_key(DEBUG)
REST_FRAMEWORK = rest_framework(DEBUG)

# HTTPS: plain HTTP is redirected, cookies only travel over TLS, browsers remember it (HSTS).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "3600"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_SESSION_COOKIE", True)
CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_CSRF_COOKIE", True)
_proxy_header = env_list("DJANGO_SECURE_PROXY_SSL_HEADER", [])
SECURE_PROXY_SSL_HEADER = tuple(_proxy_header) if len(_proxy_header) == 2 else None
USE_X_FORWARDED_HOST = env_bool("DJANGO_USE_X_FORWARDED_HOST", False)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Static files: collected into STATIC_ROOT (the web process does it at start), served by
# WhiteNoise with content-hashed names, cached for ever.
MIDDLEWARE = serving_static(MIDDLEWARE)  # noqa: F405
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# One cache for every web process (the rate limits on starting runs and campaigns count there).
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# A login is needed for every page but the login page and the health check.
MIDDLEWARE = [*MIDDLEWARE, "dashboard.access.LoginRequiredMiddleware"]  # noqa: F405

LOGGING = logging_config("INFO")
LOGGING["loggers"]["django"] = {"handlers": ["console"], "level": "WARNING"}
