"""Under production settings an anonymous visitor reads nothing private and starts nothing: every
route of the site, walked from the URL configuration (a route added later is covered too), is
asked for with GET and POST without credentials. Starting runs and campaigns is rate-limited, the
pages and the REST API counting against one budget."""
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from rest_framework.permissions import IsAuthenticated
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from config.settings.base import rest_framework
from simulator.models import Campaign, Run

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_MIDDLEWARE = [*settings.MIDDLEWARE, "dashboard.access.LoginRequiredMiddleware"]
# A converter's sample value: "demo" names the demo cloud the tests create, so the wire APIs' routes
# reach a real cloud, not a 404.
SAMPLE = {"int": "1", "uuid": str(uuid.uuid4()), "str": "demo", "slug": "demo", "path": "demo"}
# What anyone may open: logging in (and the password pages Django ships), the health check, the
# favicon, the admin's own login page.
PUBLIC = ("/accounts/", "/health/", "/favicon.ico", "/admin/login/")
# Documentation, no data: the API's index, its OpenAPI schema and the Swagger UI; the version
# documents the OpenStack clients read before they authenticate (Placement's, Nova's, Keystone's).
DOCUMENTATION = {
    "/api/", "/api/schema/", "/api/docs/", "/identity/", "/identity/v3/",
    "/placement/demo", "/placement/demo/", "/compute/demo", "/compute/demo/", "/compute/demo/v2.1/",
}
REFUSED = {301, 302, 401, 403, 405}


def routes(resolver=None, prefix=""):
    """Every route of the site as a concrete path (each converter given a sample value)."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry, prefix + _concrete(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield "/" + prefix + _concrete(entry.pattern)


def _concrete(pattern):
    converters = getattr(pattern, "converters", {})
    text = str(pattern)
    for name, converter in converters.items():
        kind = {"IntConverter": "int", "UUIDConverter": "uuid", "SlugConverter": "slug", "PathConverter": "path"}.get(
            type(converter).__name__, "str"
        )
        text = text.replace(f"<{kind}:{name}>", SAMPLE[kind]).replace(f"<{name}>", SAMPLE["str"])
    text = re.sub(r"\(\?P<\w+>[^)]*\)", SAMPLE["str"], text)  # a regex route's named groups
    return text.lstrip("^").rstrip("$").replace("\\Z", "").replace("/?", "/").replace("\\", "")


@pytest.fixture
def production(db, monkeypatch):
    """Production's access rules: its middleware, and its REST permissions (the API views took
    theirs from the settings when first imported, so they are set on them too)."""
    monkeypatch.setattr(APIView, "permission_classes", [IsAuthenticated])
    with override_settings(MIDDLEWARE=PRODUCTION_MIDDLEWARE, REST_FRAMEWORK=rest_framework(False)):
        cache.clear()
        yield


def test_every_route_is_walked(production):
    paths = set(routes())
    assert {"/runs/", "/runs/1/", "/api/runs/", "/campaigns/new/", "/health/"} <= paths
    assert len(paths) > 60


def test_an_anonymous_visitor_reads_nothing_private(client, production, resize, demo_cloud):
    resize("bug-1825537")  # something to read, were it readable
    opened = []
    for path in sorted(set(routes())):
        if path.startswith(PUBLIC) or path in DOCUMENTATION:
            continue
        response = client.get(path, secure=True)
        if response.status_code not in REFUSED | {404}:
            opened.append((path, response.status_code))
        if response.status_code in (301, 302):
            assert response["Location"].startswith(("/accounts/login/", "/admin/login/")), path
    assert opened == []


def test_an_anonymous_visitor_starts_nothing(client, production, demo_cloud):
    runs, campaigns = Run.objects.count(), Campaign.objects.count()
    accepted = []
    for path in sorted(set(routes())):
        response = client.post(path, {"scenario": "bug-1825537"}, secure=True)
        if response.status_code < 400 and response.status_code not in REFUSED and not path.startswith(PUBLIC):
            accepted.append((path, response.status_code))
    assert accepted == []
    assert (Run.objects.count(), Campaign.objects.count()) == (runs, campaigns)


def test_pages_ask_for_a_login_and_the_api_for_credentials(client, production):
    page = client.get("/runs/", secure=True)
    assert page.status_code == 302 and page["Location"] == "/accounts/login/?next=/runs/"
    api = client.get("/api/runs/", secure=True)
    assert api.status_code == 401 and api.json() == {"detail": "Authentication credentials were not provided."}
    assert client.get("/accounts/login/", secure=True).status_code == 200


def test_starting_runs_from_the_page_and_the_api_shares_one_limit(client, api, user, monkeypatch):
    """The same person, from a page (session) and from a script (token): one budget."""
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"runs": "2/min", "campaigns": "1/min"})
    cache.clear()
    client.force_login(user)
    first = api.post("/api/runs/", {"scenario": "bug-1825537"}, format="json")
    assert first.status_code == 202
    rerun = reverse("run-rerun", args=[first.json()["id"]])
    assert client.post(rerun).status_code == 302
    refused = client.post(rerun)
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Request was throttled. Expected available in" in refused.content.decode()
    assert api.post("/api/runs/", {"scenario": "bug-1825537"}, format="json").status_code == 429


def test_production_settings_pass_the_deployment_checks(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production", DJANGO_SECRET_KEY="x" * 50 + "production-check",
        DJANGO_ALLOWED_HOSTS="dashboard.example.org", DASHBOARD_VAR_DIR=str(tmp_path),
    )
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
