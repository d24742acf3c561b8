"""The run pages, rendered by Django: what a user reads on them, and their query counts."""
import re
from html import unescape

import pytest
from django.test import Client
from django.urls import reverse

from simulator.models import Run
from simulator.pipeline import run_to_completion
from tests.factories import finished_run, started_run


@pytest.fixture
def sent(monkeypatch):
    """Casts the pages send, recorded instead of published (no broker in these tests)."""
    casts = []
    monkeypatch.setattr("dashboard.views.cast", lambda *args: casts.append(args))
    return casts


def bar(html, provider, rc, when):
    """(used, capacity) of the bar drawn for provider/rc/when."""
    match = re.search(
        rf'data-provider="{provider}" data-rc="{rc}" data-when="{when}" data-used="(\d+)" data-capacity="(\d+)"', html
    )
    assert match, f"no {when} bar for {provider} {rc}"
    return int(match[1]), int(match[2])


def test_the_seed_run_page_shows_the_fault_and_the_bars(client, db):
    run = finished_run("bug-1825537")
    html = client.get(reverse("run-detail", args=[run.pk])).content.decode()

    assert 'id="fault-message">Virtual Interface creation failed<' in html
    assert 'id="fault-code">500<' in html
    assert "<details><summary>Details (traceback)</summary><pre>Traceback (most recent call last):" in html
    assert bar(html, "host1", "MEMORY_MB", "before") == (512, 799488)
    assert bar(html, "host2", "MEMORY_MB", "before") == (0, 799488)
    assert bar(html, "host1", "MEMORY_MB", "after") == (512, 799488)
    assert bar(html, "host2", "MEMORY_MB", "after") == (0, 799488)
    assert bar(html, "host1", "VCPU", "after") == (1, 4000)
    assert "Used 512 MiB of 780.8 GiB (512 MiB reserved)" in html
    assert 'role="progressbar"' in html
    assert 'aria-label="host2 DISK_GB after: used 0 of 600000; magnified 24000 times, the bar shows 0 to 25"' in html
    # FakeDriver's 800000 MB would make a flavor a sliver: the bars are magnified, and say so on the bar.
    assert html.count("scale 0–3 GiB of 781.2 GiB total, magnified ×260") == 2 * 4  # 4 bars, caption + mark title
    assert '<span class="seg seg-reserved" style="width: 16.667%" title="reserved 512 MiB"' in html
    assert 'data-stage="finish_resize" data-state="failed"' in html
    assert 'data-verdict="matched"' in html
    assert "hx-get" not in html  # finished: no polling
    assert "seg seg-orphaned" in html and "seg seg-missing" in html  # the audit's findings drawn
    assert "Allocations were set against consumer UUID" in html


def test_after_the_fix_host2_bar_holds_m1_small_and_is_highlighted(client, db):
    run = finished_run("bug-1825537", bugs=[])
    html = client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert bar(html, "host2", "MEMORY_MB", "after") == (2048, 799488)
    assert bar(html, "host1", "MEMORY_MB", "after") == (0, 799488)
    assert '<span class="usage-delta">+2 GiB</span>' in html
    assert "seg seg-mismatch" in html


def test_a_rescheduled_run_page_says_which_events_nova_never_finished(client, db):
    run = finished_run("prep-resize-reschedule")
    html = client.get(reverse("run-detail", args=[run.pk])).content.decode()
    events = html.split('<table class="events">')[1].split("</table>")[0]
    assert events.count("not finished (Nova finishes only the first row of a name)") == 3
    assert "running" not in events
    assert 'data-stage="prep_resize" data-state="done"' in html and "1 failed attempt, rescheduled" in html


def test_an_unfinished_run_polls_its_live_partial(client, db):
    run = started_run("resize-confirm")
    html = client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert f'hx-get="{reverse("run-live", args=[run.pk])}" hx-trigger="every 1s"' in html
    assert 'data-stage="conductor" data-state="current"' in html
    assert "queued on conductor" in html
    partial = client.get(reverse("run-live", args=[run.pk])).content.decode()
    assert partial.lstrip().startswith('<div id="run-live"') and "<html" not in partial


def test_htmx_is_served_locally(client, db):
    html = client.get(reverse("home")).content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert "http://" not in html.split("<body>")[0] and "https://" not in html.split("<body>")[0]


def test_the_run_page_uses_a_constant_number_of_queries(client, db, django_assert_num_queries):
    # The run, its report and its bars (9 queries), and its latest check against Nova (1).
    small = finished_run("resize-instance-fails")
    large = finished_run("prep-resize-reschedule")  # more steps, events, faults and providers
    with django_assert_num_queries(10):
        client.get(reverse("run-detail", args=[small.pk]))
    with django_assert_num_queries(10):
        client.get(reverse("run-detail", args=[large.pk]))


def test_the_form_shows_the_presets_and_their_expected_outcomes(client, db):
    html = client.get(reverse("run-new") + "?scenario=prep-resize-reschedule").content.decode()
    assert "prep_resize fails on the first dest; the alternate succeeds" in html
    assert "Expected (bugs none): VERIFY_RESIZE on host3; migration finished; after: host1 1/512/1" in html
    assert 'value="host1, host2, host3"' in html
    assert "Log in to start a run" in html


def test_starting_a_run_needs_a_login(client, db, sent):
    response = client.post(reverse("run-new"), {"scenario": "bug-1825537"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert Run.objects.count() == 0 and sent == []


def form_data(**changes):
    data = {
        "scenario": "bug-1825537", "cloud": "", "hosts": "host1, host2", "driver": "FakeDriver", "server": "server1",
        "source_host": "host1", "action": "resize", "flavor": "m1.tiny", "new_flavor": "m1.small", "dest_host": "",
        "vm_state": "active",
        "fail_at": "finish_migration", "exception": "VirtualInterfaceCreateException", "inner_exception": "",
        "reason": "", "fail_host": "host2", "bugs": ["1825537"], "then": "none", "max_attempts": "3", "step_delay": "0",
    }
    data.update(changes)
    data.setdefault("loaded", data["scenario"])  # the scenario whose values the form was filled with
    return data


def test_the_form_starts_the_run_and_redirects_to_its_page(logged_in, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(reverse("run-new"), form_data())
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("run-detail", args=[run.pk])
    assert run.params["bugs"] == ["1825537"] and run.params["fail_at"] == "finish_migration"
    assert sent == [(run.pk, 1, "conductor.migrate_server", "conductor", run.task_id)]
    assert run_to_completion(run).verdict["matched"] is True  # the form's defaults are exactly the preset


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"new_flavor": "m1.tiny"}, "new_flavor", "When resizing, instances must change flavor!"),
        ({"new_flavor": "m1.huge"}, "new_flavor", "Flavor m1.huge could not be found."),
        ({"action": "migrate", "new_flavor": "", "dest_host": "host9"}, "dest_host",
         "Compute host host9 could not be found."),
        ({"action": "migrate", "new_flavor": "", "dest_host": "host1"}, "dest_host",
         "Cannot migrate to the host where the server exists."),
        ({"fail_at": "confirm_delete"}, "exception", "takes no exception"),
        ({"vm_state": "error"}, "server", "while it is in vm_state error"),
        ({"max_attempts": "0"}, "max_attempts", "Ensure this value is greater than or equal to 1."),
    ],
)
def test_bad_input_is_shown_inline_in_novas_words(logged_in, sent, changes, field, message):
    response = logged_in.post(reverse("run-new"), form_data(**changes))
    assert response.status_code == 400
    html = response.content.decode()
    errors = re.search(rf'<ul class="errorlist" id="{field}-errors">(.*?)</ul>', html, re.S)
    assert errors and message in errors[1]
    summary = re.search(r'<div class="errors error-summary" role="alert" id="error-summary">(.*?)</div>', html, re.S)
    assert summary and f'<a href="#id_{field}">' in summary[1] and message in summary[1]  # also at the top
    assert Run.objects.count() == 0 and sent == []


def test_a_resize_with_a_destination_is_refused_on_the_form_in_novas_words(logged_in, sent):
    response = logged_in.post(reverse("run-new"), form_data(dest_host="host2"))

    assert response.status_code == 400
    html = unescape(response.content.decode())
    errors = re.search(r'<ul class="errorlist" id="dest_host-errors">(.*?)</ul>', html, re.S)
    assert errors and (
        "Invalid input for field/attribute resize. Value: {'flavorRef': '2', 'host': 'host2'}. "
        "Additional properties are not allowed ('host' was unexpected)"
    ) in errors[1]
    assert Run.objects.count() == 0 and sent == []


def test_choosing_another_preset_loads_its_parameters_instead_of_running_the_old_ones(logged_in, sent):
    # The form holds the seed's parameters; only the Scenario drop-down is changed (no JavaScript).
    response = logged_in.post(reverse("run-new"), form_data(scenario="resize-confirm", loaded="bug-1825537"))
    assert response.status_code == 302 and response["Location"] == reverse("run-new") + "?scenario=resize-confirm"
    assert Run.objects.count() == 0 and sent == []

    html = logged_in.get(response["Location"]).content.decode()
    assert "Loaded the parameters of resize-confirm: check them, then start the run." in html
    assert '<option value="resize-confirm" selected>' in html
    assert '<option value="" selected>no failure</option>' in html  # fail_at
    assert re.search(r'value="confirm"[^>]*checked', html)
    assert 'value="1825537"' in html and not re.search(r'value="1825537"[^>]*checked', html)
    assert '<input type="hidden" name="loaded" value="resize-confirm"' in html


def test_the_load_button_loads_the_chosen_preset_without_javascript(logged_in, sent):
    response = logged_in.post(reverse("run-new"), {**form_data(scenario="no-valid-host"), "load": "1"})
    assert response["Location"] == reverse("run-new") + "?scenario=no-valid-host"
    html = logged_in.get(response["Location"]).content.decode()
    assert 'name="new_flavor" value="m1.large"' in html and '<option value="SmallFakeDriver" selected>' in html
    assert "<noscript><button" in html and Run.objects.count() == 0


def test_the_scenario_drop_down_swaps_the_presets_values_in_with_htmx(client, db):
    html = client.get(reverse("run-new")).content.decode()
    select = re.search(r'<select name="scenario"[^>]*>', html)[0]
    assert 'hx-get="/runs/new/"' in select and 'hx-trigger="change"' in select
    assert 'hx-select="#run-new"' in select and 'hx-target="#run-new"' in select
    assert 'id="run-new"' in html


def test_a_run_that_changed_its_presets_parameters_is_custom_based_on_it(logged_in, sent):
    logged_in.post(reverse("run-new"), form_data(scenario="resize-confirm", loaded="resize-confirm"))
    run = run_to_completion(Run.objects.get())  # the seed's failure, under resize-confirm's name
    html = logged_in.get(reverse("run-detail", args=[run.pk])).content.decode()

    assert f'<h1 id="run-title">Run {run.pk} · <span id="run-label">custom, based on resize-confirm</span></h1>' in html
    assert "Resize and confirm" not in html.split("</h1>")[0]  # never the preset's title
    injected = "finish_migration raises VirtualInterfaceCreateException on host2 · no confirm or revert · bug 1825537 on"
    assert f"<b>Injected:</b> {injected}" in html
    assert f"<title>Run {run.pk} · custom, based on resize-confirm · {injected}</title>" in html
    assert re.search(r"<th>fail_at</th><td[^>]*>&quot;finish_migration&quot;</td><td[^>]*>null</td>", html)
    assert 'data-verdict="no expectation"' in html

    listed = logged_in.get(reverse("run-list")).content.decode()
    assert '<td class="run-label">custom, based on resize-confirm</td>' in listed
    assert f'<td class="injected">{injected}</td>' in listed
    assert 'data-audit="orphaned 1 · missing 1"' in listed  # bug 1825537's leak

    report = logged_in.get(f"/api/runs/{run.pk}/").json()
    assert report["label"] == "custom, based on resize-confirm" and report["scenario"] == "resize-confirm"
    assert report["injected"] == {
        "fail_at": "finish_migration", "exception": "VirtualInterfaceCreateException", "fail_host": "host2",
        "then": "none", "bugs": ["1825537"], "summary": injected,
    }


def test_a_preset_run_keeps_its_name_and_says_what_it_injected(client, db):
    run = finished_run("resize-confirm", step_delay=0)
    html = client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert '<span id="run-label">resize-confirm</span> <span class="muted">— Resize and confirm</span>' in html
    assert "<b>Injected:</b> no failure injected · then confirmResize · known bugs off" in html
    listed = client.get(reverse("run-list")).content.decode()
    assert 'data-audit="clean"' in listed


def test_forms_are_csrf_protected(operator, db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(reverse("run-new"), form_data()).status_code == 403


def test_rerun_starts_the_same_parameters(logged_in, sent):
    run = finished_run("resize-revert")
    response = logged_in.post(reverse("run-rerun", args=[run.pk]))
    again = Run.objects.exclude(pk=run.pk).get()
    assert response["Location"] == reverse("run-detail", args=[again.pk])
    assert again.params == run.params and again.scenario == run.scenario


def test_clone_fills_the_form_with_the_run_parameters(client, db):
    run = finished_run("custom", new_flavor="m1.medium", then="revert")
    html = client.get(reverse("run-new") + f"?from={run.pk}").content.decode()
    assert 'name="new_flavor" value="m1.medium"' in html
    assert re.search(r'name="then" value="revert"[^>]*checked', html)


def test_compare_with_the_bug_off_shows_both_outcomes_side_by_side(logged_in, sent):
    run = finished_run("bug-1825537")
    response = logged_in.post(reverse("run-toggle-bug", args=[run.pk, "1825537"]))
    other = Run.objects.exclude(pk=run.pk).get()
    assert other.params["bugs"] == [] and response["Location"] == f"{reverse('run-compare')}?a={run.pk}&b={other.pk}"
    run_to_completion(other)
    html = logged_in.get(response["Location"]).content.decode()
    assert html.index(f'data-run="{run.pk}"') < html.index(f'data-run="{other.pk}"')  # with the bug on the left
    bars = re.findall(r'data-provider="(host\d)" data-rc="MEMORY_MB" data-when="after" data-used="(\d+)"', html)
    assert bars == [("host1", "512"), ("host1", "0"), ("host2", "0"), ("host2", "2048")]
    assert "hx-get" not in html


# -- paths a user walks into -----------------------------------------------------------------------
@pytest.mark.parametrize("action", ["run-rerun", "run-abort", "run-toggle-bug"])
def test_a_run_button_pressed_while_logged_out_returns_to_the_run_page_after_login(client, operator, sent, action):
    run = started_run("resize-confirm")
    args = [run.pk, "1825537"] if action == "run-toggle-bug" else [run.pk]
    response = client.post(reverse(action, args=args))
    page = reverse("run-detail", args=[run.pk])
    assert response.status_code == 302 and response["Location"] == f"{reverse('login')}?next={page}"

    login = client.post(response["Location"], {"username": "operator", "password": "s3cret-pass"})
    assert login.status_code == 302 and login["Location"] == page
    assert client.get(page).status_code == 200
    assert Run.objects.count() == 1 and sent == []  # nothing was started by the logged-out press


def test_a_logged_out_visitor_sees_a_login_link_instead_of_buttons(client, db):
    run = finished_run("resize-confirm")
    html = client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert f'href="/accounts/login/?next=/runs/{run.pk}/">Log in to re-run or compare with a bug switched</a>' in html
    assert 'action="/runs/' not in html


def test_abort_an_unfinished_run_from_its_page(logged_in, sent, monkeypatch):
    revoked = []
    monkeypatch.setattr("dashboard.views.revoke", revoked.append)
    run = started_run("resize-confirm")
    html = logged_in.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert f'<form method="post" action="/runs/{run.pk}/abort/"' in html

    response = logged_in.post(reverse("run-abort", args=[run.pk]), follow=True)
    html = response.content.decode()
    assert f"Run {run.pk} aborted." in html
    assert 'data-verdict="aborted"' in html and 'data-verdict="mismatch"' not in html
    assert "Aborted by operator before conductor.migrate_server." in html
    assert revoked == [run.task_id] and f'action="/runs/{run.pk}/abort/"' not in html  # no Abort once finished

    again = logged_in.post(reverse("run-abort", args=[run.pk]), follow=True).content.decode()
    assert f"Run {run.pk} is already crashed." in again


def test_an_unfinished_run_reloads_itself_without_javascript(client, db):
    run = started_run("resize-confirm")
    head = client.get(reverse("run-detail", args=[run.pk])).content.decode().split("</head>")[0]
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in head
    run_to_completion(run)
    head = client.get(reverse("run-detail", args=[run.pk])).content.decode().split("</head>")[0]
    assert "refresh" not in head


def test_compare_picks_any_two_runs_and_says_when_their_scenarios_differ(client, db):
    picker = client.get(reverse("run-compare"))
    assert picker.status_code == 200
    assert '<input type="number" min="1" id="compare-a" name="a"' in picker.content.decode()

    confirm, seed = finished_run("resize-confirm"), finished_run("bug-1825537")
    unfinished = started_run("resize-revert")
    for run in (confirm, seed, unfinished):
        assert f'<option value="{run.pk}">#{run.pk} {run.label} · {run.status}</option>' in client.get(
            reverse("run-compare")
        ).content.decode()

    html = client.get(reverse("run-compare") + f"?a={confirm.pk}&b={seed.pk}").content.decode()
    assert "— different scenarios: resize-confirm vs bug-1825537" in html
    html = client.get(reverse("run-compare") + f"?a={seed.pk}&b={unfinished.pk}").content.decode()
    assert f"run {seed.pk} after, run {unfinished.pk} now" in html
    assert f"<h4>run {unfinished.pk} · now</h4>" in html and 'data-when="now"' in html

    assert client.get(reverse("run-compare") + "?a=1&b=x").status_code == 400
    missing = client.get(reverse("run-compare") + f"?a={seed.pk}&b=999999")
    assert missing.status_code == 404 and "There is no run 999999." in missing.content.decode()


def test_the_favicon_is_served(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content).startswith(b"\x00\x00\x01\x00")


def test_in_local_debug_mode_the_demo_user_can_open_the_admin(client, db, settings):
    from django.core.management import call_command

    settings.DEBUG = True
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    assert client.login(username="demo", password="demo")
    assert client.get("/admin/").status_code == 200

    settings.DEBUG = False  # outside it: no password and no admin rights for demo
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    from django.contrib.auth import get_user_model

    demo = get_user_model().objects.get(username="demo")
    assert not demo.is_staff and not demo.is_superuser
    assert not demo.has_usable_password() and not client.login(username="demo", password="demo")


@pytest.mark.parametrize("query, status, message", [
    ("?a=²&b=1", 400, "Pick two runs by their number."),
    ("?a=99999999999999999999999&b=1", 404, "There is no run 99999999999999999999999."),
])
def test_compare_with_an_id_that_names_no_record_is_never_a_500(client, db, query, status, message):
    response = client.get(reverse("run-compare") + query)
    assert response.status_code == status and message in response.content.decode()


def test_cloning_from_an_id_that_is_not_a_record_id_is_a_404(client, db):
    assert client.get(reverse("run-new") + "?from=²").status_code == 404
