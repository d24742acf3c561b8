"""The project's configuration: settings, URL routes, the WSGI and Celery applications."""
from .celery_app import app as celery_app

__all__ = ("celery_app",)
