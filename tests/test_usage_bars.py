"""Usage bars are truthful: one scale per provider and resource class for a run's before and
after, the same widths wherever a run is drawn, nothing rescaled while it runs, a magnified bar
marked as such on the bar, and what a resize that found no room asked for against what was free."""
import re

import pytest
from django.urls import reverse

from dashboard.usage import MAGNIFY_FROM, Scale, round_up
from simulator.pipeline import execute_step
from tests.factories import finished_run, started_run

BAR = re.compile(
    r'<div class="bar( magnified)?( overflow)?" role="progressbar"[^>]*data-provider="(\w+)" data-rc="(\w+)" '
    r'data-when="(\w+)" data-used="(\d+)" data-capacity="(\d+)" data-scale="([\d.]+)"(?: data-magnified="(\d+)")?>'
    r'\s*<div class="track">(.*?)</div>(.*?)\n  </div>',
    re.S,
)
SEGMENT = re.compile(r'<span class="seg seg-([\w ]+)" style="width: ([\d.]+)%" title="[^"]*" data-amount="(\d+)">')


def bar_list(html):
    """[((provider, rc, when), {"scale", "magnified", "factor", "segments": [(kind, width, amount)], "mark"})] in page order."""
    found = []
    for magnified, overflow, provider, rc, when, used, capacity, scale, factor, track, rest in BAR.findall(html):
        found.append(((provider, rc, when), {
            "used": int(used),
            "capacity": int(capacity),
            "scale": float(scale),
            "magnified": bool(magnified),
            "factor": int(factor) if factor else None,
            "overflow": bool(overflow),
            "segments": [(kind, float(width), int(amount)) for kind, width, amount in SEGMENT.findall(track)],
            "mark": re.search(r'class="bar-mark"[^>]*>.*?(×[\d,]+)</span>', rest, re.S),
        }))
    return found


def bars(html):
    return dict(bar_list(html))


def widths(found):
    return {key: [w for _, w, _ in bar["segments"]] for key, bar in found.items()}


def test_round_amounts():
    assert [round_up("VCPU", v) for v in (1, 2, 2.1, 7, 21, 99)] == [1, 2, 2.5, 8, 25, 100]
    assert round_up("MEMORY_MB", 3072) == 3072 and round_up("MEMORY_MB", 3073) == 4096
    assert round_up("MEMORY_MB", 700) == 800


def test_a_scale_is_magnified_only_when_it_is_far_smaller_than_the_provider():
    assert Scale(4000, 2).magnified and Scale(4000, 2).factor == 2000
    assert not Scale(8, 8).magnified and Scale(8, 8).factor == 1
    assert MAGNIFY_FROM == 4


def test_the_seeds_bars_share_one_magnified_scale_before_and_after_on_every_provider(client, db):
    run = finished_run("bug-1825537")
    found = bars(client.get(reverse("run-detail", args=[run.pk])).content.decode())

    memory = {key: bar for key, bar in found.items() if key[1] == "MEMORY_MB"}
    assert set(memory) == {(h, "MEMORY_MB", w) for h in ("host1", "host2") for w in ("before", "after")}
    # reserved 512 + server1's m1.tiny 512 + m1.small 2048 asked: 3 GiB, on 800000 MB: ×260.
    assert {(bar["scale"], bar["factor"]) for bar in memory.values()} == {(3072, 260)}
    assert all(bar["mark"] and bar["mark"][1] == "×260" for bar in memory.values())  # marked on the bar itself
    assert memory[("host1", "MEMORY_MB", "before")]["segments"] == [("reserved", 16.667, 512), ("instance", 16.667, 512)]
    assert memory[("host1", "MEMORY_MB", "after")]["segments"] == [("reserved", 16.667, 512), ("orphaned", 16.667, 512)]
    assert memory[("host2", "MEMORY_MB", "after")]["segments"] == [("reserved", 16.667, 512), ("missing", 16.667, 512)]
    assert {found[(h, "VCPU", w)]["scale"] for h in ("host1", "host2") for w in ("before", "after")} == {2}


def test_true_and_magnified_bars_in_one_panel_each_say_which_they_are(client, db):
    # SmallFakeDriver: 2 VCPU × 4, 8192 MB (512 reserved), 1028 GB; m1.large asks 4 / 8192 / 80.
    run = finished_run("no-valid-host")
    found = bars(client.get(reverse("run-detail", args=[run.pk])).content.decode())

    memory = found[("host2", "MEMORY_MB", "before")]
    assert not memory["magnified"] and memory["scale"] == 8192 and memory["mark"] is None
    assert memory["segments"][0] == ("reserved", 6.25, 512)  # its true share: 512 of 8192
    disk = found[("host2", "DISK_GB", "before")]
    assert disk["magnified"] and disk["scale"] == 100 and disk["factor"] == 10 and disk["mark"][1] == "×10"


def test_a_run_draws_the_same_widths_on_its_page_the_compare_page_and_the_home_page(logged_in_client, db):
    client = logged_in_client
    bug_on = finished_run("bug-1825537")
    bug_off = finished_run("bug-1825537", bugs=[])  # the latest run: the home page draws it

    pages = {run.pk: bars(client.get(reverse("run-detail", args=[run.pk])).content.decode()) for run in (bug_on, bug_off)}
    home = bars(client.get(reverse("home")).content.decode())
    compare = bar_list(client.get(reverse("run-compare") + f"?a={bug_on.pk}&b={bug_off.pk}").content.decode())

    assert widths({key: home[key] for key in pages[bug_off.pk]}) == widths(pages[bug_off.pk])
    left, right = compare[0::2], compare[1::2]  # provider by provider, class by class: run A, then run B
    for run, column in ((bug_on, left), (bug_off, right)):
        assert [widths({key: bar}) for key, bar in column] == [
            widths({key: pages[run.pk][key]}) for key, _ in column
        ]
    assert [key for key, _ in right] == [(h, rc, "after") for h in ("host1", "host2") for rc in ("VCPU", "MEMORY_MB", "DISK_GB")]
    assert pages[bug_off.pk][("host2", "MEMORY_MB", "after")]["segments"] == [("reserved", 16.667, 512), ("mismatch", 66.667, 2048)]


def test_nothing_rescales_while_a_run_is_live(client, db):
    run = started_run("bug-1825537")
    seen = [bars(client.get(reverse("run-live", args=[run.pk])).content.decode())]
    seq = 1
    while seq is not None:
        seq = execute_step(run.pk, seq)
        seen.append(bars(client.get(reverse("run-live", args=[run.pk])).content.decode()))
    scales = [{(p, rc): bar["scale"] for (p, rc, when), bar in page.items()} for page in seen]
    assert all(s == scales[0] for s in scales)
    befores = [{k: v for k, v in widths(page).items() if k[2] == "before"} for page in seen]
    assert all(b == befores[0] for b in befores)
    assert ("host2", "MEMORY_MB", "now") in seen[1] and ("host2", "MEMORY_MB", "after") in seen[-1]


def test_a_resize_that_found_no_room_shows_what_it_asked_for_against_what_was_free(client, db):
    run = finished_run("no-valid-host")
    html = client.get(reverse("run-detail", args=[run.pk])).content.decode()

    assert "<h2>No room: what the resize asked for, against what was free</h2>" in html
    assert "The new flavor asks for VCPU 4 VCPU, MEMORY_MB 8 GiB, DISK_GB 80 GB" in html
    row = re.search(r'<tr data-provider="host2">(.*?)</tr>', html, re.S)[1]
    assert '<td class="refused" data-rc="MEMORY_MB">asked 8 GiB, 7.5 GiB free: <b>more than is free</b></td>' in row
    assert '<td class="refused" data-rc="VCPU">asked 4 VCPU, 8 VCPU free: <b>above max_unit 2</b></td>' in row
    assert '<td class="" data-rc="DISK_GB">asked 80 GB, 1 TB free</td>' in row
    assert 'data-provider="host1"' not in html.split('id="room"')[1].split("</table>")[0]  # the source is ignored
    memory = bars(html)[("host2", "MEMORY_MB", "before")]
    assert memory["segments"][-1] == ("asked refused", 93.75, 8192)  # runs off the bar: it does not fit
    assert '<div class="usage-asked refused">asked 8 GiB, 7.5 GiB free: more than is free</div>' in html


def test_an_injected_claim_failure_says_there_was_room(client, db):
    html = client.get(reverse("run-detail", args=[finished_run("prep-resize-reschedule-exhausted").pk])).content.decode()
    assert "<h2>A claim failed although there was room: what the resize asked for, against what was free</h2>" in html
    row = re.search(r'<tr data-provider="host3">(.*?)</tr>', html, re.S)[1]
    assert '<td class="" data-rc="MEMORY_MB">asked 2 GiB, 780.8 GiB free</td>' in row


def test_a_resize_that_failed_otherwise_shows_no_room_panel(client, db):
    html = client.get(reverse("run-detail", args=[finished_run("bug-1825537").pk])).content.decode()
    assert 'id="room"' not in html and "seg-asked" not in html.split('class="legend"')[1].split("</div>", 1)[1]


@pytest.fixture
def logged_in_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("viewer", password="x-unused-1"))
    return client
