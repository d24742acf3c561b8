"""The list pages: providers (overview and detail), hosts, servers, migrations, runs.

What a user looks for on each page after real runs, the filters, sorting and
pagination, bad input (never a 500), and a constant number of SQL queries per
page whatever its number of rows (pinned).
"""
import re
import uuid
from datetime import timedelta

import pytest
from django.urls import resolve, reverse
from django.utils import timezone

from dashboard.filters import SortOrdering
from simulator.models import Host, ResourceProvider, Run

pytestmark = pytest.mark.django_db

# A mix of outcomes: an ERROR with an orphan, confirmed, reverted, and a reschedule
# left in VERIFY_RESIZE (its migration still holds the source).
SCENARIO_MIX = ["bug-1825537", "resize-confirm", "resize-revert", "prep-resize-reschedule"]


def page(client, url, status=200):
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def run_ids(html):
    return [int(n) for n in re.findall(r'data-run="(\d+)"', html)]


def rows(html):
    """Rows of the page's main table (the empty-state row does not count)."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return body.count("<tr") - body.count('<tr class="empty"')


def provider(cloud_name, name):
    return ResourceProvider.objects.get(cloud__name=cloud_name, name=name)


def fake_runs(count, **fields):
    """``count`` finished runs without going through the pipeline (for paging and sorting)."""
    now = timezone.now()
    return Run.objects.bulk_create(
        Run(
            scenario=fields.get("scenario", "resize-confirm"),
            params={"bugs": []},
            status=fields.get("status", "done"),
            verdict=fields.get("verdict", {"result": "matched", "matched": True, "summary": "As Nova's tests expect."}),
            started=now,
            finished=now + timedelta(seconds=1),
        )
        for _ in range(count)
    )


# -- what each page shows ------------------------------------------------------------------------
def test_servers_page_shows_the_server_in_error_with_its_fault(client, resize):
    report = resize("bug-1825537")

    html = page(client, reverse("server-list"))

    assert report["server"]["name"] in html
    assert report["server"]["uuid"] in html
    assert 'data-status="ERROR">ERROR<' in html
    assert "Virtual Interface creation failed" in html
    assert report["cloud"] in html
    assert "m1.tiny" in html


def test_servers_filter_on_vm_state_and_cloud(client, resize):
    failed = resize("bug-1825537")
    confirmed = resize("resize-confirm")

    html = page(client, reverse("server-list") + "?vm_state=error")
    assert failed["server"]["uuid"] in html and confirmed["server"]["uuid"] not in html

    html = page(client, reverse("server-list") + f"?cloud={confirmed['cloud']}")
    assert confirmed["server"]["uuid"] in html and failed["server"]["uuid"] not in html
    assert 'data-status="ACTIVE"' in html


def test_migrations_page_shows_status_route_and_flavors(client, resize):
    report = resize("bug-1825537")

    html = page(client, reverse("migration-list"))

    assert report["migration"]["uuid"] in html
    assert 'data-status="error">error<' in html
    assert "host1 → host2" in html
    assert "m1.tiny → m1.small" in html
    assert "resize" in html


def test_migrations_filter_on_status_and_type(client, resize):
    failed = resize("bug-1825537")
    confirmed = resize("resize-confirm")

    html = page(client, reverse("migration-list") + "?status=confirmed")
    assert confirmed["migration"]["uuid"] in html and failed["migration"]["uuid"] not in html
    html = page(client, reverse("migration-list") + "?migration_type=migration")
    assert rows(html) == 0 and "No migrations match these filters" in html


def test_providers_overview_shows_bars_and_used_over_capacity(client, resize):
    report = resize("bug-1825537", bugs=["1825537"])
    host1 = provider(report["cloud"], "host1")

    html = page(client, reverse("provider-list") + f"?cloud={report['cloud']}")

    assert rows(html) == 2
    assert reverse("provider-detail", args=[host1.uuid]) in html
    # With the bug, m1.tiny went back to host1 and host2 shows nothing.
    assert f'data-provider="{report["cloud"]}/host1" data-rc="VCPU" data-when="now" data-used="1" data-capacity="4000"' in html
    assert f'data-provider="{report["cloud"]}/host2" data-rc="MEMORY_MB" data-when="now" data-used="0"' in html
    assert '<td class="num" data-rc="VCPU">1 / 4000</td>' in html
    assert '<td class="num" data-rc="MEMORY_MB">512 / 799488</td>' in html
    assert '<td class="num" data-rc="DISK_GB">0 / 600000</td>' in html


def test_providers_overview_of_the_demo_cloud(client, demo_cloud):
    html = page(client, reverse("provider-list") + "?cloud=demo")
    assert rows(html) == 3
    for name in ("host1", "host2", "host3"):
        assert f'data-provider="demo/{name}" data-rc="VCPU"' in html
    assert html.count('<td class="num" data-rc="VCPU">0 / 4000</td>') == 3


def test_provider_page_shows_inventory_bars_allocations_and_the_orphan(client, resize):
    report = resize("bug-1825537", bugs=["1825537"])
    host1 = provider(report["cloud"], "host1")
    [orphan] = report["audit"]["orphaned"]

    html = page(client, reverse("provider-detail", args=[host1.uuid]))

    vcpu = html.split('<tr data-rc="VCPU">', 1)[1].split("</tr>", 1)[0]
    memory = html.split('<tr data-rc="MEMORY_MB">', 1)[1].split("</tr>", 1)[0]
    cells = lambda row: re.findall(r'<td class="num">([^<]*)', row)  # noqa: E731
    # total, reserved, allocation ratio, min_unit, max_unit, step_size, used, capacity
    assert cells(vcpu) == ["1000", "0", "4.0", "1", "1000", "1", "1", "4000"]
    assert cells(memory) == ["800000", "512", "1.0", "1", "800000", "1", "512", "799488"]
    # The orphan: the instance's m1.tiny on host1 while the server lives on host2.
    assert orphan["consumer_uuid"] == report["server"]["uuid"]
    assert orphan["consumer_uuid"] in html
    assert "server1" in html and "INSTANCE" in html
    assert 'title="VCPU=1, MEMORY_MB=512, DISK_GB=1">1 VCPU · 512 MiB · 1 GB</td>' in html
    assert '<span class="badge red" data-audit="orphaned">orphaned</span>' in html
    assert orphan["message"].replace("'", "&#x27;") in html
    assert 'class="seg seg-orphaned"' in html
    assert 'data-provider="host1" data-rc="MEMORY_MB" data-when="now" data-used="512" data-capacity="799488"' in html


def test_provider_page_of_the_dest_shows_the_missing_allocation(client, resize):
    report = resize("bug-1825537", bugs=["1825537"])
    host2 = provider(report["cloud"], "host2")

    html = page(client, reverse("provider-detail", args=[host2.uuid]))

    assert "No consumer holds anything on this provider." in html
    assert "lives on host2 but holds no allocation there" in html
    assert 'class="seg seg-missing"' in html


def test_provider_page_names_a_migration_consumer(client, resize):
    report = resize("prep-resize-reschedule")  # left in VERIFY_RESIZE: the migration holds host1
    host1 = provider(report["cloud"], "host1")

    html = page(client, reverse("provider-detail", args=[host1.uuid]))

    assert report["migration"]["uuid"] in html
    assert "MIGRATION" in html and "migration of server1" in html
    assert 'class="seg seg-migration"' in html
    assert "The audit finds nothing on this provider" in html


def test_unknown_provider_is_404(client, db):
    page(client, reverse("provider-detail", args=[uuid.uuid4()]), status=404)
    page(client, "/providers/not-a-uuid/", status=404)


def test_hosts_page_shows_service_driver_failures_provider_and_servers(client, resize):
    report = resize("bug-1825537")
    Host.objects.filter(cloud__name=report["cloud"], name="host1").update(
        service_up=False,
        failures=[{"point": "finish_migration", "exception": "VirtualInterfaceCreateException"}],
    )
    host2 = provider(report["cloud"], "host2")

    html = page(client, reverse("host-list") + f"?cloud={report['cloud']}&sort=name")

    host1_row, host2_row = html.split("<tbody>", 1)[1].split("</tr>")[:2]
    assert "host1" in host1_row and '<span class="badge red" data-status="down">down</span>' in host1_row
    assert "driver.finish_migration raises VirtualInterfaceCreateException" in host1_row
    assert "FakeDriver" in host1_row
    assert "host2" in host2_row and '<span class="badge green" data-status="up">up</span>' in host2_row
    assert reverse("provider-detail", args=[host2.uuid]) in host2_row
    # The server ended on host2.
    assert host1_row.rstrip().endswith('<td class="num">0</td>')
    assert host2_row.rstrip().endswith('<td class="num">1</td>')

    html = page(client, reverse("host-list") + "?service=down")
    assert rows(html) == 1 and "host1" in html


def test_runs_filter_by_status_scenario_and_verdict(client, resize):
    matched = resize("bug-1825537")["id"]
    confirmed = resize("resize-confirm")["id"]
    no_expectation = resize("resize-confirm", new_flavor="m1.medium")["id"]
    [crashed] = fake_runs(1, status="crashed", verdict={"result": "mismatch", "matched": False, "summary": "The run crashed."})
    [queued] = fake_runs(1, status="queued", verdict=None)
    crashed, queued = crashed.pk, queued.pk
    url = reverse("run-list")

    assert sorted(run_ids(page(client, url))) == sorted([matched, confirmed, no_expectation, crashed, queued])
    assert sorted(run_ids(page(client, url + "?status=done&status=crashed"))) == sorted(
        [matched, confirmed, no_expectation, crashed]
    )
    assert run_ids(page(client, url + "?status=queued")) == [queued]
    assert sorted(run_ids(page(client, url + "?scenario=resize-confirm"))) == sorted(
        [confirmed, no_expectation, crashed, queued]
    )
    assert run_ids(page(client, url + "?scenario=bug-1825537")) == [matched]
    assert sorted(run_ids(page(client, url + "?verdict=matched"))) == sorted([matched, confirmed])
    assert run_ids(page(client, url + "?verdict=mismatch")) == [crashed]
    assert run_ids(page(client, url + "?verdict=none")) == [no_expectation]
    assert run_ids(page(client, url + "?verdict=pending")) == [queued]
    assert run_ids(page(client, url + "?scenario=resize-confirm&verdict=matched&status=done")) == [confirmed]
    assert run_ids(page(client, url + "?verdict=mismatch&status=done")) == []


def test_runs_page_shows_what_a_run_is(client, resize):
    report = resize("bug-1825537")

    html = page(client, reverse("run-list"))

    assert reverse("run-detail", args=[report["id"]]) in html
    assert 'data-status="done"' in html and 'data-verdict="matched"' in html
    assert report["cloud"] in html and "1825537" in html
    assert f'<td class="num">{len(report["steps"])}</td>' in html


def test_runs_sort_by_id_both_ways(client, db):
    ids = [r.pk for r in fake_runs(5)]
    assert run_ids(page(client, reverse("run-list") + "?sort=id")) == ids
    assert run_ids(page(client, reverse("run-list") + "?sort=-id")) == ids[::-1]
    # The default: newest first.
    assert run_ids(page(client, reverse("run-list"))) == ids[::-1]


def test_pages_and_their_links_keep_the_filters(client, db):
    done = [r.pk for r in fake_runs(30)]
    fake_runs(5, status="crashed", verdict={"result": "mismatch", "matched": False})
    url = reverse("run-list") + "?status=done&sort=id"

    first = page(client, url)
    assert run_ids(first) == done[:25]
    assert "Page 1 of 2" in first
    assert "?status=done&amp;sort=id&amp;page=2" in first
    second = page(client, url + "&page=2")
    assert run_ids(second) == done[25:]
    # The sort links keep the filters and go back to the first page.
    assert 'href="?status=done&amp;sort=-id"' in second


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "/providers/?cloud=no-such-cloud",
        "/hosts/?cloud=no-such-cloud",
        "/servers/?cloud=no-such-cloud",
        "/migrations/?cloud=no-such-cloud",
        "/runs/?cloud=no-such-cloud",
    ],
)
def test_an_unknown_cloud_gives_an_empty_list(client, resize, url):
    resize("bug-1825537")
    html = page(client, url)
    assert rows(html) == 0
    assert "match these filters" in html


@pytest.mark.parametrize("name", ["provider-list", "host-list", "server-list", "migration-list", "run-list"])
@pytest.mark.parametrize(
    "query",
    [
        "?page=abc",
        "?page=999",
        "?page=0",
        "?page=-3",
        "?page=99999999999999999999999",
        "?sort=nope",
        "?sort=--name",
        "?sort=",
        "?cloud=" + "x" * 500,
        "?status=nope&verdict=nope&scenario=nope&vm_state=nope&migration_type=nope&service=nope",
        "?status=done&status=nope",
        "?cloud=%00",
    ],
)
def test_bad_input_is_never_a_500(client, resize, name, query):
    resize("bug-1825537")
    html = page(client, reverse(name) + query)
    assert "<table>" in html


def test_out_of_range_pages_give_the_first_or_last_page(client, db):
    ids = [r.pk for r in fake_runs(30)]
    assert run_ids(page(client, reverse("run-list") + "?sort=id&page=abc")) == ids[:25]
    assert run_ids(page(client, reverse("run-list") + "?sort=id&page=999")) == ids[25:]


def test_unknown_sort_key_uses_the_default_sort(client, db):
    ids = [r.pk for r in fake_runs(3)]
    html = page(client, reverse("run-list") + "?sort=password")
    assert run_ids(html) == ids[::-1]
    assert '<option value="-created" selected>' in html  # the form shows the sort in effect


def test_empty_lists_say_so(client, db):
    for name, text in [
        ("provider-list", "No providers yet"),
        ("host-list", "No hosts yet"),
        ("server-list", "No servers yet"),
        ("migration-list", "No migrations yet"),
        ("run-list", "No runs yet"),
    ]:
        assert text in page(client, reverse(name))


# -- a constant number of queries per page --------------------------------------------------------
def _more_runs(resize, count, start=0):
    for i in range(start, start + count):
        resize(SCENARIO_MIX[i % len(SCENARIO_MIX)])


# Queries: pagination count + page rows + cloud names for the filter's datalist, and on
# /providers/ inventories + usages + allocations + consumer names (servers, migrations) + the
# bars' scales (their clouds' inventories, usages and flavors).
@pytest.mark.parametrize(
    "name, queries, rows_per_run",
    [
        ("provider-list", 10, None),
        ("host-list", 3, None),
        ("server-list", 3, 1),
        ("migration-list", 3, 1),
        ("run-list", 3, 1),
    ],
)
def test_list_pages_use_a_constant_number_of_queries(client, resize, django_assert_num_queries, name, queries, rows_per_run):
    url = reverse(name)
    _more_runs(resize, 2)
    with django_assert_num_queries(queries):
        html = page(client, url)
    few = rows(html)

    _more_runs(resize, 4, start=2)  # three times as many runs, all still on the first page
    with django_assert_num_queries(queries):
        html = page(client, url)
    many = rows(html)

    assert few >= 2 and many >= 3 * few
    if rows_per_run:
        assert (few, many) == (2 * rows_per_run, 6 * rows_per_run)


def test_filtered_and_later_pages_use_the_same_number_of_queries(client, db, django_assert_num_queries):
    fake_runs(60)
    for query in ["", "?page=2", "?page=3&status=done&verdict=matched&scenario=resize-confirm&sort=id"]:
        with django_assert_num_queries(3):
            page(client, reverse("run-list") + query)


def test_provider_page_uses_a_constant_number_of_queries(client, demo_cloud, resize, django_assert_num_queries):
    # Runs against the shared demo cloud pile their servers onto the same providers.
    host1 = provider("demo", "host1")
    url = reverse("provider-detail", args=[host1.uuid])
    resize("resize-revert", cloud="demo", server="a1")  # reverted: back on host1
    # provider, inventories, usages, allocations, consumer names (2), the cloud's audit (4), the bars' scales (3)
    with django_assert_num_queries(12):
        few = page(client, url).count("<tr>")
    for name in ("a2", "a3", "a4", "a5", "a6"):
        resize("resize-revert", cloud="demo", server=name)
    with django_assert_num_queries(12):
        many = page(client, url).count("<tr>")
    assert (few - 2, many - 2) == (1, 6)  # one allocation row per server on host1 (and two header rows)


def test_injected_failures_read_as_sentences():
    from dashboard.lists import describe_failure

    assert describe_failure({"point": "finish_migration"}) == (
        "driver.finish_migration raises VirtualInterfaceCreateException"
    )
    assert describe_failure(
        {
            "point": "migrate_disk_and_power_off",
            "exception": "InstanceFaultRollback",
            "inner_exception": "ResizeError",
            "reason": "Unable to resize disk down.",
        }
    ) == "driver.migrate_disk_and_power_off raises InstanceFaultRollback(ResizeError): Unable to resize disk down."
    assert describe_failure({"point": "nowhere"}) == "invalid: {'point': 'nowhere'}"
    assert describe_failure("finish_migration") == "invalid: 'finish_migration'"


def test_hand_edited_failures_do_not_break_the_hosts_page(client, demo_cloud):
    Host.objects.filter(name="host1").update(failures={"point": "finish_migration"})
    Host.objects.filter(name="host2").update(failures=[{"point": 3}])
    html = page(client, reverse("host-list"))
    assert "driver.finish_migration raises VirtualInterfaceCreateException" in html
    assert "invalid: {&#x27;point&#x27;: 3}" in html


# -- one filter stack: the pages and the API ---------------------------------------------------
@pytest.mark.parametrize(
    "name, endpoint",
    [
        ("provider-list", "/api/providers/"),
        ("host-list", "/api/hosts/"),
        ("server-list", "/api/servers/"),
        ("migration-list", "/api/migrations/"),
        ("run-list", "/api/runs/"),
    ],
)
def test_a_list_page_and_its_api_list_take_the_same_filters_and_sorts(client, db, name, endpoint):
    response = client.get(reverse(name))
    filterset = response.context["filterset"]
    view = resolve(endpoint).func.cls()
    assert type(filterset) is view.filterset_class

    schema = client.get("/api/schema/?format=json").json()
    in_api = {p["name"] for p in schema["paths"][endpoint]["get"]["parameters"]} - {"limit", "offset", "ordering"}
    assert set(filterset.form.fields) == in_api
    html = response.content.decode()
    for field in in_api:
        assert f'name="{field}"' in html or field in response.context["listing"].hidden, field

    offered = set(re.findall(r'<option value="-?([a-z_]+)"', html.split('name="sort"', 1)[1].split("</select>", 1)[0]))
    ordering = {key for key, _ in SortOrdering().get_valid_fields(None, view)}
    assert offered == ordering


def test_the_api_orders_as_the_pages_sort(client, db):
    fake_runs(3)
    for key in ("id", "-id", "created", "-finished"):
        listed = [r["id"] for r in client.get(f"/api/runs/?ordering={key}").json()["results"]]
        assert listed == run_ids(page(client, reverse("run-list") + f"?sort={key}")), key
