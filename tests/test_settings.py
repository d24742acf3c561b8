"""The settings modules, each loaded in a fresh process as ``DJANGO_SETTINGS_MODULE`` names it:
local ones in debug mode by default, production ones never, and without a secret key outside
debug mode nothing starts."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SHOW = """
import json
from django.conf import settings
print(json.dumps({"debug": settings.DEBUG, "secret_key": settings.SECRET_KEY,
                  "permissions": settings.REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"]}))
"""


@pytest.fixture
def load(tmp_path):
    def _load(module, **variables):
        env = {key: value for key, value in os.environ.items() if key not in ("DJANGO_DEBUG", "DJANGO_SECRET_KEY")}
        env.update(DJANGO_SETTINGS_MODULE=module, DASHBOARD_VAR_DIR=str(tmp_path), **variables)
        return subprocess.run([sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)

    return _load


def loaded(result):
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_refused(result):
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY must be set outside debug mode" in result.stderr


def test_local_settings_are_in_debug_mode_by_default(load):
    settings = loaded(load("config.settings.local"))
    assert settings == {
        "debug": True,
        "secret_key": "local-development-only-not-a-secret",
        "permissions": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    }


def test_local_settings_with_debug_off_need_a_secret_key(load):
    assert_refused(load("config.settings.local", DJANGO_DEBUG="false"))
    settings = loaded(load("config.settings.local", DJANGO_DEBUG="false", DJANGO_SECRET_KEY="s3cret"))
    assert settings["debug"] is False
    assert settings["permissions"] == ["rest_framework.permissions.IsAuthenticated"]


@pytest.mark.parametrize("debug", [None, "true"])
def test_production_settings_refuse_to_start_without_a_secret_key(load, debug):
    """Whatever DJANGO_DEBUG says."""
    assert_refused(load("config.settings.production", **({"DJANGO_DEBUG": debug} if debug else {})))


@pytest.mark.parametrize("debug", [None, "true"])
def test_production_settings_are_never_in_debug_mode(load, debug):
    settings = loaded(load("config.settings.production", DJANGO_SECRET_KEY="s3cret",
                           **({"DJANGO_DEBUG": debug} if debug else {})))
    assert settings == {
        "debug": False,
        "secret_key": "s3cret",
        "permissions": ["rest_framework.permissions.IsAuthenticated"],
    }


STYLESHEET = """
import django
django.setup()
from django.test import Client
response = Client().get("/static/dashboard/dashboard.css")
print(response.status_code, response["Content-Type"])
"""


def test_local_settings_with_debug_off_serve_the_stylesheet(tmp_path):
    """Without debug mode runserver serves no static file: the application does (WhiteNoise)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.local", DJANGO_DEBUG="false", DJANGO_SECRET_KEY="x" * 40,
               DASHBOARD_VAR_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", STYLESHEET], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["200", "text/css;", 'charset="utf-8"']
