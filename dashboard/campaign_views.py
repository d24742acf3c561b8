"""The campaign pages: the list, the form (preview, then start), a campaign's page with its live
part (progress, outcome chart, matrix), its runs filtered by axis values, and two campaigns
compared cell by cell.

Every page costs a fixed number of SQL queries whatever the number of runs: the campaign, its
runs once for the results and once for the progress (``tests/test_pages_campaigns.py`` pins
them). Bad input never breaks a page: an unknown axis falls back to the default matrix, a value
that does not parse is shown with its error and ignored.
"""
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from simulator import campaigns
from simulator.models import Campaign
from simulator.tasks import cast

from . import campaign_pages as pages
from .access import over_limit
from .forms import CampaignForm
from .views import MAX_ID, as_id

PER_PAGE = 25
RUNS_PER_PAGE = 50




def _campaign(pk):
    return get_object_or_404(Campaign, pk=pk)


# -- the list ----------------------------------------------------------------------------------
def campaign_list(request):
    """Campaigns, newest first: base, axes, status, runs done of the total."""
    page = Paginator(Campaign.objects.with_counts(), PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {
            "campaign": campaign,
            "url": reverse("campaign-detail", args=[campaign.pk]),
            "base": pages.base_text(campaign.definition),
            "axes": pages.axes_text(campaign.definition),
            "total": len(campaign.plan),
        }
        for campaign in page.object_list
    ]
    return render(request, "campaigns/list.html", {"page_obj": page, "rows": rows})


# -- the form ----------------------------------------------------------------------------------
def campaign_new(request):
    """The campaign form. Preview (no login needed) says how many runs it makes and what it skips,
    and why; Start (logged in) creates it and goes to its page (POST/redirect/GET)."""
    preview = None
    status = 200
    if request.method == "POST":
        starting = "start" in request.POST
        if starting and not request.user.is_authenticated:
            return redirect_to_login(reverse("campaign-new"))
        form = CampaignForm(request.POST)
        if form.is_valid():
            definition = form.definition()
            try:
                preview = campaigns.preview(definition)
                if starting and preview["runs"]:
                    if limited := over_limit(request, "campaigns"):
                        return limited
                    campaign = campaigns.create(definition, on_cast=cast, name=form.cleaned_data["name"])
                    messages.info(request, f"Campaign {campaign.pk} started: {len(campaign.plan)} runs, "
                                           f"{len(campaign.skipped)} combinations skipped.")
                    return redirect("campaign-detail", pk=campaign.pk)
            except campaigns.CampaignError as error:
                form.add_campaign_error(error)
            else:
                if starting:
                    form.add_error(None, "Nothing to run: every combination is skipped (the reasons are below).")
        if not form.is_valid():
            status = 400
    else:
        source = request.GET.get("from")
        initial = {}
        if source is not None:  # clone a campaign's definition
            if as_id(source) is None:
                raise Http404("No such campaign")
            initial = CampaignForm.initial_for(_campaign(as_id(source)))
        elif request.GET.get("cloud"):  # a server of a copy of an imported cloud
            from .cloud_views import campaign_initial

            initial = campaign_initial(request.GET["cloud"], request.GET.get("server", "")) or {}
        form = CampaignForm(initial=initial)
    if preview:
        preview = {**preview, "axes": [(name, [pages.value_text(name, v) for v in values])
                                       for name, values in preview["axes"].items()]}
    return render(request, "campaigns/form.html", {"form": form, "preview": preview}, status=status)


# -- a campaign --------------------------------------------------------------------------------
def campaign_page(request, campaign):
    """Everything a campaign's page and its live part show."""
    rows = campaigns.results(campaign)
    state = campaigns.progress(campaign)
    names = list(campaign.definition.get("axes") or {})
    x, y, note = pages.choose_axes(names, request.GET.get("x", ""), request.GET.get("y", ""))
    runs_url = reverse("campaign-runs", args=[campaign.pk])
    counted = pages.totals(rows)
    total = state["total"] or 1
    return {
        "campaign": campaign,
        "progress": state,
        "done_percent": round(100 * state["done"] / total),
        "time_left": pages.duration_text(state["seconds_left"]),
        "chart": pages.outcome_chart(counted, f"Outcomes of campaign {campaign.pk}", link=runs_url),
        "legend": [pages.outcome_badge(key) for key in campaigns.OUTCOMES],
        "matrix": pages.matrix(campaign, rows, x, y, link=runs_url) if x else None,
        "axis_names": names,
        "axis_note": note,
        "query": request.GET.urlencode(),
        "base": pages.base_text(campaign.definition),
        "axes": [(name, [pages.value_text(name, v) for v in values])
                 for name, values in (campaign.definition.get("axes") or {}).items()],
        "skipped": [
            {"values": [(name, pages.value_text(name, value)) for name, value in (entry.get("values") or {}).items()],
             "field": entry.get("field", ""), "reason": entry.get("reason", "")}
            for entry in campaign.skipped
        ],
        "runs_url": runs_url,
        "latencies": campaigns.step_latencies(campaign),
    }


def campaign_detail(request, pk):
    return render(request, "campaigns/detail.html", campaign_page(request, _campaign(pk)))


def campaign_live(request, pk):
    """The part of a campaign's page that changes while it runs (polled by htmx)."""
    return render(request, "campaigns/_live.html", campaign_page(request, _campaign(pk)))


def campaign_action(view):
    """A button on a campaign's page (POST only); logged out, a login that comes back to the page."""

    @wraps(view)
    def wrapper(request, pk):
        if not request.user.is_authenticated:
            return redirect_to_login(reverse("campaign-detail", args=[pk]))
        return view(request, pk)

    return require_POST(wrapper)


@campaign_action
def campaign_cancel(request, pk):
    """Stop a campaign: no further run starts, its unfinished runs are aborted."""
    campaign = _campaign(pk)
    if campaign.is_finished:
        messages.info(request, f"Campaign {pk} is already {campaign.status}.")
    else:
        campaigns.cancel(campaign, request.user.get_username())
        messages.info(request, f"Campaign {pk} cancelled: no further run starts, the unfinished ones are aborted.")
    return redirect("campaign-detail", pk=pk)


def campaign_runs(request, pk):
    """A campaign's runs, filtered by axis values (``?then=none&bugs=1825537``, as the form types
    them; a matrix cell links here) and by outcome (``?outcome=orphaned``)."""
    campaign = _campaign(pk)
    query = {key: request.GET[key] for key in request.GET if key != "page"}
    rows, applied, errors = pages.filter_rows(campaigns.results(campaign), query)
    page = Paginator(rows, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    axes = list(campaign.definition.get("axes") or {})
    shown = [
        {
            **row,
            "url": reverse("run-detail", args=[row["run"]]),
            "cells": [pages.value_text(name, row["values"].get(name)) for name in axes],
            "badge": pages.outcome_badge(row["outcome"]) if row["outcome"] else None,
            "duration_text": "" if row["duration"] is None else f"{row['duration']:.2f} s",
        }
        for row in page.object_list
    ]
    return render(request, "campaigns/runs.html", {
        "campaign": campaign, "axes": axes, "rows": shown, "page_obj": page, "applied": applied,
        "errors": errors, "filtered": bool(applied),
    })


# -- two campaigns -----------------------------------------------------------------------------
def campaign_compare(request):
    """Two campaigns over the same axes: the matrix cells whose worst outcome changed, a → b."""
    ids = [request.GET.get("a", "").strip(), request.GET.get("b", "").strip()]
    recent = Campaign.objects.only("pk", "name", "definition", "status")[:50]
    context = {"picker": {"a": ids[0], "b": ids[1], "recent": recent}}
    if not any(ids):
        return render(request, "campaigns/compare.html", context)
    numbers = [as_id(i) for i in ids]
    if None in numbers:
        return render(request, "campaigns/compare.html", {**context, "error": "Pick two campaigns by their number."},
                      status=400)
    found = {c.pk: c for c in Campaign.objects.filter(pk__in=[n for n in numbers if n <= MAX_ID])}
    missing = [n for n in numbers if n not in found]
    if missing:
        return render(request, "campaigns/compare.html", {**context, "error": f"There is no campaign {missing[0]}."},
                      status=404)
    a, b = found[numbers[0]], found[numbers[1]]
    names_a, names_b = list(a.definition.get("axes") or {}), list(b.definition.get("axes") or {})
    if set(names_a) != set(names_b):
        error = (f"Campaigns {a.pk} and {b.pk} vary different parameters ({', '.join(names_a)} against "
                 f"{', '.join(names_b)}): compare two campaigns over the same axes.")
        return render(request, "campaigns/compare.html", {**context, "a": a, "b": b, "error": error}, status=400)
    x, y, note = pages.choose_axes(names_a, request.GET.get("x", ""), request.GET.get("y", ""))
    links = (reverse("campaign-runs", args=[a.pk]), reverse("campaign-runs", args=[b.pk]))
    compared = pages.compare(a, campaigns.results(a), b, campaigns.results(b), x, y, links)
    return render(request, "campaigns/compare.html", {
        **context,
        "a": a,
        "b": b,
        "compared": compared,
        "differences": pages.definition_differences(a, b),
        "axis_names": names_a,
        "axis_note": note,
        "keep": [("a", a.pk), ("b", b.pk)],
        "finished": a.is_finished and b.is_finished,
    })
