"""Settings for a laptop (the default): debug mode, unless ``DJANGO_DEBUG`` turns it off.

With ``DJANGO_DEBUG`` off they behave as production.py for secrets and reading: ``DJANGO_SECRET_KEY``
is required and the API needs a login to read; the static files are served by the application
(WhiteNoise, straight from the apps' folders: no collectstatic needed).
"""
from .base import *  # noqa: F403
from .base import STATIC_ROOT, env_bool, rest_framework, secret_key, serving_static

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = secret_key(DEBUG)
REST_FRAMEWORK = rest_framework(DEBUG)
if not DEBUG:
    MIDDLEWARE = serving_static(MIDDLEWARE)  # noqa: F405
    WHITENOISE_USE_FINDERS = True
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # what collectstatic would fill; empty is fine here
