"""Settings for a laptop (the default): debug mode, unless ``DJANGO_DEBUG`` turns it off.

With ``DJANGO_DEBUG`` off they behave as production.py: ``DJANGO_SECRET_KEY`` is required and
the API needs a login to read.
"""
from .base import *  # noqa: F403
from .base import env_bool, rest_framework, secret_key

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = secret_key(DEBUG)
REST_FRAMEWORK = rest_framework(DEBUG)
