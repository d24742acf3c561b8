"""The admin: every model's pages open, lists take no query per row, Host.failures is validated
against the driver calls a host's failure can break."""
import json
import uuid

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from simulator.driver import HOST_POINTS, PLACEMENT_POINTS, POINTS, FakeDriver
from simulator.exceptions import NovaException
from simulator.models import Allocation, Campaign, ConformanceCheck, Host, Run, RunStep, Server
from tests.factories import SMALL, TINY, finished_run, host_of, provider_of

SIMULATOR_MODELS = list(apps.get_app_config("simulator").get_models())


def admin_url(obj_or_model, view, *args):
    opts = obj_or_model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


@pytest.fixture
def run(db):
    return checked_run()


def checked_run():
    """A finished run with a (queued) check against Nova, in a campaign, so that every model has rows."""
    run = finished_run("bug-1825537")
    ConformanceCheck.objects.create(run=run, scenario=run.scenario, params=run.params)
    Campaign.objects.create(name="admin", definition={"scenario": run.scenario, "axes": {}})
    return run


def test_every_model_is_registered():
    assert [m for m in SIMULATOR_MODELS if not admin.site.is_registered(m)] == []


def list_page(client, model):
    """The changelist response and how many queries it took."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(admin_url(model, "changelist"))
    assert response.status_code == 200
    return response.context["cl"].result_count, len(queries)


@pytest.mark.parametrize("model", SIMULATOR_MODELS, ids=lambda m: m.__name__)
def test_list_and_change_pages_open_without_a_query_per_row(admin_client, run, model):
    rows, queries = list_page(admin_client, model)
    checked_run()  # a second cloud: more rows, the same queries
    more_rows, same_queries = list_page(admin_client, model)
    assert more_rows == model.objects.count() > rows > 0
    assert same_queries == queries
    obj = model.objects.first()
    assert admin_client.get(admin_url(obj, "change", obj.pk)).status_code == 200


def test_run_changelist_shows_verdict_and_filters_on_it(admin_client, run):
    assert run.status == "done" and run.verdict["matched"] is True
    url = admin_url(Run, "changelist")
    response = admin_client.get(url)
    assert "Verdict matched" in response.content.decode()
    assert list(admin_client.get(url, {"matched": "yes"}).context["cl"].result_list) == [run]
    assert list(admin_client.get(url, {"matched": "no"}).context["cl"].result_list) == []


def test_run_change_page_is_read_only_with_its_steps(admin_client, run):
    response = admin_client.get(admin_url(run, "change", run.pk))
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    steps = RunStep.objects.filter(run=run)
    assert steps.exists()
    (steps_formset,) = response.context["inline_admin_formsets"]
    assert len(steps_formset.formset.forms) == steps.count()
    assert admin_client.post(admin_url(run, "change", run.pk), {"scenario": "x"}).status_code == 403
    assert admin_client.get(admin_url(Run, "add")).status_code == 403


def test_allocation_changelist_filters_on_consumer_type(admin_client, run):
    rescheduled = finished_run("prep-resize-reschedule").cloud.name  # its migration still holds m1.tiny on host1
    url = admin_url(Allocation, "changelist")
    listed = {
        consumer_type: {
            (a.provider.cloud.name, a.provider.name, a.resource_class, a.used)
            for a in admin_client.get(url, {"consumer__consumer_type__exact": consumer_type}).context["cl"].result_list
        }
        for consumer_type in ("INSTANCE", "MIGRATION")
    }
    assert listed["MIGRATION"] == {(rescheduled, "host1", rc, used) for rc, used in TINY.items()}
    assert listed["INSTANCE"] == {(run.cloud.name, "host1", rc, used) for rc, used in TINY.items()} | {
        (rescheduled, "host3", rc, used) for rc, used in SMALL.items()
    }
    allocation = Allocation.objects.select_related("consumer").first()
    assert str(allocation.consumer.uuid) in admin_client.get(url).content.decode()


def test_provider_change_page_inlines_its_inventories(admin_client, demo_cloud):
    provider = provider_of(demo_cloud, "host1")
    response = admin_client.get(admin_url(provider, "change", provider.pk))
    assert response.status_code == 200
    (inventories,) = response.context["inline_admin_formsets"]
    assert {f.instance.resource_class for f in inventories.formset.forms} == {"VCPU", "MEMORY_MB", "DISK_GB"}
    assert "<p>4000</p>" in response.content.decode()  # VCPU capacity: FakeDriver's 1000 x 4.0


def host_form_data(host, failures):
    return {
        "cloud": host.cloud_id,
        "name": host.name,
        "service_up": "on",
        "driver": host.driver,
        "failures": json.dumps(failures),
    }


def failure_errors(response):
    return response.context["adminform"].form.errors.get("failures", [])


def test_host_change_page_opens(admin_client, demo_cloud):
    host = host_of(demo_cloud, "host1")
    response = admin_client.get(admin_url(host, "change", host.pk))
    assert response.status_code == 200
    assert response.context["original"] == host


@pytest.mark.parametrize(
    "failures, expected",
    [
        ([{"point": "nowhere"}], "Unknown failure point 'nowhere'. Host failure points: prep_resize, "),
        ([{"point": "confirm_delete"}], "'confirm_delete' is a placement write"),
        ([{"point": "select_destinations"}], "'select_destinations' runs in the conductor"),
        ([{"exception": "ResizeError"}], "A failure needs a point"),
        ([{"point": "destroy", "exception": "Boom"}], "Unknown exception 'Boom'. Known: VirtualInterfaceCreate"),
        ([{"point": "destroy", "reason": 3}], "reason must be a string, not 3"),
        ([{"point": "destroy", "host": "host2"}], "unknown key(s) host."),
        ([{"point": "destroy", "inner_exception": "ResizeError"}], "inner_exception goes with the InstanceFault"),
        (
            [{"point": "destroy", "exception": "InstanceFaultRollback", "inner_exception": "InstanceFaultRollback"}],
            "Unknown inner_exception 'InstanceFaultRollback'.",
        ),
        (["destroy"], "'destroy' is not an object"),
        ({"point": "destroy"}, "Failures must be a list"),
    ],
)
def test_host_failures_are_validated(admin_client, demo_cloud, failures, expected):
    host = host_of(demo_cloud, "host1")
    response = admin_client.post(admin_url(host, "change", host.pk), host_form_data(host, failures))
    assert response.status_code == 200  # the form again, with its errors
    assert any(expected in error for error in failure_errors(response)), failure_errors(response)
    host.refresh_from_db()
    assert host.failures == []


def test_every_bad_failure_is_reported(admin_client, demo_cloud):
    host = host_of(demo_cloud, "host1")
    failures = [{"point": "nowhere"}, {"point": "destroy"}, {"point": "destroy", "exception": "Boom"}]
    response = admin_client.post(admin_url(host, "change", host.pk), host_form_data(host, failures))
    errors = failure_errors(response)
    assert len(errors) == 2
    assert errors[0].startswith("Failure 1: ") and errors[1].startswith("Failure 3: ")


@pytest.mark.parametrize(
    "failures",
    [
        [{"point": "finish_migration", "exception": "VirtualInterfaceCreateException"}],
        [
            {"point": "prep_resize"},
            {
                "point": "migrate_disk_and_power_off",
                "exception": "InstanceFaultRollback",
                "inner_exception": "UnableToMigrateToSelf",
                "reason": "disk full",
            },
        ],
        [],
    ],
)
def test_valid_host_failures_are_saved(admin_client, demo_cloud, failures):
    host = host_of(demo_cloud, "host1")
    response = admin_client.post(admin_url(host, "change", host.pk), host_form_data(host, failures))
    assert response.status_code == 302, failure_errors(response)
    host.refresh_from_db()
    assert host.failures == failures


def test_emptied_failures_save_as_empty_list(admin_client, demo_cloud):
    host = host_of(demo_cloud, "host1")
    Host.objects.filter(pk=host.pk).update(failures=[{"point": "destroy"}])
    data = {**host_form_data(host, []), "failures": ""}
    assert admin_client.post(admin_url(host, "change", host.pk), data).status_code == 302
    host.refresh_from_db()
    assert host.failures == []


# Where each failure point fails (reference §4), spelled out: a driver call on a compute host (the
# resize's source or dest) and the FakeDriver method that checks it; or not on a host at all.
DRIVER_CALLS = {
    "prep_resize": ("dest", "resize_claim"),
    "migrate_disk_and_power_off": ("source", "migrate_disk_and_power_off"),
    "finish_migration": ("dest", "finish_migration"),
    "confirm_migration": ("source", "confirm_migration"),
    "destroy": ("dest", "destroy"),
    "finish_revert_migration": ("source", "finish_revert_migration"),
}
NOT_ON_A_HOST = {
    "select_destinations": "the scheduler, in the conductor",
    "conductor_move": "a placement write",
    "scheduler_claim": "a placement write",
    "confirm_delete": "a placement write",
    "revert_move": "a placement write",
}


def test_the_host_failure_points_are_the_driver_calls_of_a_compute_host():
    assert HOST_POINTS == list(DRIVER_CALLS)
    assert {name: POINTS[name].runs_on for name in HOST_POINTS} == {name: on for name, (on, _) in DRIVER_CALLS.items()}
    assert set(POINTS) == set(DRIVER_CALLS) | set(NOT_ON_A_HOST)
    assert PLACEMENT_POINTS == {name for name, where in NOT_ON_A_HOST.items() if where == "a placement write"}


@pytest.mark.parametrize("point", list(DRIVER_CALLS))
def test_a_host_failure_fails_its_driver_call_on_that_host_only(point):
    server = Server(uuid=uuid.uuid4(), name="vm")
    failing = FakeDriver(Host(name="host2", failures=[{"point": point}]), [])
    healthy = FakeDriver(Host(name="host1"), [])
    call = DRIVER_CALLS[point][1]
    with pytest.raises(NovaException):
        getattr(failing, call)(server)
    for other in (name for _, name in DRIVER_CALLS.values() if name != call):
        getattr(failing, other)(server)  # every other call succeeds
    getattr(healthy, call)(server)
