"""The Celery application, configured from Django's settings (``CELERY_*``).

``celery -A config.celery_app worker ...``; config/__init__.py imports it, so every process
that loads the settings publishes tasks through it.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("dashboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _add_worker_steps():
    from simulator.worker import install

    install(app)


_add_worker_steps()
