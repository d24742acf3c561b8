"""The clouds' pages: the import form (login to import), an imported cloud drawn with its bars,
labels and audit, and replays started on a copy from its page."""
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dashboard import views
from simulator import imports
from simulator.models import Cloud, Run
from tests import imported as real

pytestmark = pytest.mark.django_db


@pytest.fixture
def placement_reads(monkeypatch):
    """Placement as ``tests.imported`` describes it, whatever the URL (no network)."""
    asked = []

    def read(url, token=None, session=None):
        asked.append((url, token))
        return real.placement_read(url)

    monkeypatch.setattr(imports, "read_placement", read)
    return asked


def _files(**skip):
    return {
        f"{name}_json": SimpleUploadedFile(f"{name}.json", real.osc_json(name).encode(), "application/json")
        for name in ("servers", "migrations", "flavors") if name not in skip
    }


def test_the_form_needs_a_login_to_import(client, placement_reads):
    page = client.get("/clouds/import/")
    assert page.status_code == 200 and "Log in to import a cloud" in page.content.decode()
    response = client.post("/clouds/import/", {"name": "prod", "placement_url": "http://placement.example.org:8778", **_files()})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not Cloud.objects.exists() and not placement_reads


def test_importing_from_the_form(logged_in, placement_reads):
    response = logged_in.post("/clouds/import/", {
        "name": "prod", "placement_url": "http://placement.example.org:8778", "token": "gAAAA-token", **_files(),
    })
    assert response.status_code == 302 and response["Location"] == "/clouds/prod/"
    assert placement_reads == [("http://placement.example.org:8778", "gAAAA-token")]
    cloud = Cloud.objects.get(name="prod")
    assert cloud.is_imported and "gAAAA" not in str(cloud.imported)  # the token is never stored
    page = logged_in.get("/clouds/prod/").content.decode()
    assert "Imported prod: 2 providers, 5 servers, 7 consumers. Nothing was written to the real cloud." in page


def test_form_errors(logged_in, placement_reads):
    response = logged_in.post("/clouds/import/", {"name": "prod", "placement_url": "http://controller:8778", **_files(servers=True)})
    assert response.status_code == 400
    assert "Give Nova&#x27;s servers: this file, or the compute URL." in response.content.decode()
    bad = {"servers_json": SimpleUploadedFile("servers.json", b"ID  Name\n")}
    response = logged_in.post("/clouds/import/", {"name": "prod", "placement_url": "http://controller:8778", **bad})
    assert response.status_code == 400 and "The servers file is not JSON" in response.content.decode()
    response = logged_in.post("/clouds/import/", {"name": "import", "placement_url": "http://controller:8778", **_files()})
    assert "This name is the import page&#x27;s" in response.content.decode()
    assert not Cloud.objects.exists()


def test_an_imported_cloud_is_drawn_like_any_cloud(client):
    real.imported_cloud()
    page = client.get("/clouds/prod/").content.decode()
    # Bars with the audit on them: the leaked migration allocation labelled as the migration's.
    leak = re.search(r'<span class="seg seg-orphaned"[^>]*title="migration of db-1 \(MIGRATION\): 512 MiB — orphaned: Allocations were set against consumer UUID ' + real.DB_MIGRATION, page)
    assert leak, "the leaked migration allocation is drawn as orphaned"
    assert 'title="migration of app-1 (MIGRATION): 512 MiB"' in page  # a migration waiting for confirm: no alarm
    assert f'title="{real.DELETED} (UNKNOWN): 512 MiB — orphaned' in page
    assert 'class="seg seg-mismatch"' in page and 'class="seg seg-missing"' in page
    assert "<b>migration of db-1, error</b> Allocations were set against consumer UUID" in page
    assert 'data-migration="' + real.DB_MIGRATION + '"' in page and '<span class="badge red">leaked</span> on compute1.example.org' in page
    assert "the same as Placement's, provider by provider" in page
    listing = client.get("/clouds/").content.decode()
    assert 'href="/clouds/prod/"' in listing and "imported" in listing
    assert client.get("/clouds/nope/").status_code == 404


def test_replaying_a_servers_resize_on_a_copy(client, logged_in, monkeypatch):
    real.imported_cloud()
    page = client.get("/clouds/prod/").content.decode()
    assert '<a href="/runs/new/?cloud=prod&amp;server=web-1">Resize it on a copy</a>' in page
    assert '<a href="/campaigns/new/?cloud=prod&amp;server=web-1">a campaign</a>' in page
    assert "Nova would refuse a resize in ERROR" in page  # db-1
    form = logged_in.get("/runs/new/?cloud=prod&server=web-1").content.decode()
    assert '<option value="prod" selected>prod (imported: the run is on a fresh copy)</option>' in form
    for name, value in (("server", "web-1"), ("source_host", "compute1.example.org"), ("flavor", "m1.small"), ("new_flavor", "m1.medium")):
        assert re.search(rf'name="{name}" value="{re.escape(value)}"', form), name
    data = {
        "scenario": "custom", "loaded": "custom", "cloud": "prod", "hosts": "", "driver": "", "server": "web-1",
        "source_host": "compute1.example.org", "action": "resize", "flavor": "m1.small", "new_flavor": "m1.medium",
        "dest_host": "", "vm_state": "active", "fail_at": "finish_migration", "exception": "", "inner_exception": "",
        "reason": "", "fail_host": "", "bugs": [], "then": "none", "max_attempts": "3", "step_delay": "0",
    }
    monkeypatch.setattr(views, "cast", lambda *args: None)  # no worker here: the run stays queued
    response = logged_in.post("/runs/new/", data)
    assert response.status_code == 302 and response["Location"].startswith("/runs/"), response.content.decode()[-3000:]
    run = Run.objects.get()
    assert run.cloud.copy_of.name == "prod" and run.cloud.name == f"prod-run-{run.pk}"
    replays = client.get("/clouds/prod/").content.decode()
    assert f'in <a href="/clouds/prod-run-{run.pk}/">prod-run-{run.pk}</a>' in replays

    form = logged_in.get("/campaigns/new/?cloud=prod&server=web-1").content.decode()
    assert "&quot;cloud&quot;: &quot;prod&quot;" in form and "&quot;server&quot;: &quot;web-1&quot;" in form

    response = logged_in.post("/clouds/prod/copy/")
    assert response.status_code == 302 and response["Location"] == "/clouds/prod-copy-1/"
    page = logged_in.get("/clouds/prod-copy-1/").content.decode()
    assert "copy of prod" in page and '<a href="/runs/new/?cloud=prod-copy-1&amp;server=web-1">Resize it</a>' in page
    assert 'href="/clouds/prod-copy-1/"' in logged_in.get("/clouds/prod/").content.decode()


def test_copying_needs_a_login(client):
    real.imported_cloud()
    response = client.post("/clouds/prod/copy/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not Cloud.objects.filter(copy_of__isnull=False).exists()
