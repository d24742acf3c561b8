"""Settings for serving the dashboard: debug mode off whatever ``DJANGO_DEBUG`` says,
``DJANGO_SECRET_KEY`` required, and the API needs a login to read.

Selected with ``DJANGO_SETTINGS_MODULE=config.settings.production``.
"""
from .base import *  # noqa: F403
from .base import rest_framework, secret_key

DEBUG = False
SECRET_KEY = secret_key(DEBUG)
REST_FRAMEWORK = rest_framework(DEBUG)
