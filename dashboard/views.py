"""The dashboard's run pages: home, the run page and its live partial, the form, compare."""
from functools import wraps
from pathlib import Path

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from simulator.audit import audit_cloud, findings
from simulator.conformance import HOW_TO, nova_python
from simulator.models import Cloud, Run
from simulator.params import KNOWN_BUGS
from simulator.pipeline import AlreadyFinished, InvalidRun, abort, start_run
from simulator.presets import CUSTOM, DEFAULT_SCENARIO, SCENARIOS
from simulator.report import snapshot
from simulator.tasks import cast, request_conformance, revoke

from .access import over_limit
from .forms import RunForm
from .presenters import conformance_page, presets, run_page
from .usage import build_bars, cloud_scales, consumer_names


FAVICON = Path(__file__).resolve().parent / "static" / "dashboard" / "favicon.ico"


@login_not_required
@cache_control(max_age=86400, public=True)
def favicon(request):
    """``/favicon.ico``, where browsers look for it whatever the page says."""
    return FileResponse(FAVICON.open("rb"), content_type="image/x-icon")


MAX_ID = 2**63 - 1  # the largest primary key the databases store


def as_id(text):
    """A record id as typed in a query string (ASCII digits: "²" is a digit to Python, not to the
    database), or None. One past MAX_ID is a number that names no record."""
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _run(pk):
    return get_object_or_404(Run.objects.select_related("cloud", "server"), pk=pk)


def home(request):
    """The demo cloud's providers, the latest run with its bars, the latest runs, and the audit at a glance."""
    cloud = Cloud.objects.filter(shared=True).order_by("name").first()
    bars, audit = {}, None
    if cloud is not None:
        now = snapshot(cloud)
        audit = audit_cloud(cloud)
        providers = list(cloud.providers.all())
        scales = cloud_scales(providers)
        bars = build_bars(now, "now", consumer_names([now]), {p.name: scales[p.pk] for p in providers}, audit=audit)
    latest = list(Run.objects.select_related("cloud")[:10])
    statuses = Run.objects.values("status").annotate(n=Count("id")).order_by("status")
    return render(
        request,
        "home.html",
        {
            "cloud": cloud,
            "bars": sorted(bars.items()),
            "last": run_page(_run(latest[0].pk)) if latest else None,
            "audit": audit,
            "audit_findings": findings(audit),
            "latest": latest,
            "counts": {row["status"]: row["n"] for row in statuses},
            "leaky_runs": Run.objects.filter(audit__exit_code=3).count(),
        },
    )


def run_detail(request, pk):
    run = _run(pk)
    return render(request, "runs/detail.html", {**run_page(run), "conformance": conformance_page(run)})


def run_live(request, pk):
    """The part of the run page that changes while it runs (polled by htmx)."""
    return render(request, "runs/_live.html", run_page(_run(pk)))


def run_new(request):
    """The run form: a preset, or everything set by hand (POST/redirect/GET).

    Choosing a preset loads its parameters: htmx swaps them in as soon as the scenario
    changes; without JavaScript, "Load its parameters" (or Start, when the scenario differs
    from the one the form was filled with) reloads the form with them instead of starting a
    run under a name it would not run.
    """
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?next={request.path}")
        chosen = request.POST.get("scenario", "")
        if (chosen in SCENARIOS or chosen == CUSTOM) and (
            "load" in request.POST or chosen != request.POST.get("loaded")
        ):
            messages.info(request, f"Loaded the parameters of {chosen}: check them, then start the run.")
            return redirect(f"{reverse('run-new')}?scenario={chosen}")
        form = RunForm(request.POST)
        if form.is_valid():
            if limited := over_limit(request, "runs"):
                return limited
            scenario, overrides = form.overrides()
            try:
                run = start_run(scenario, overrides, on_cast=cast)
            except InvalidRun as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                return redirect("run-detail", pk=run.pk)
        status = 400
    else:
        form = RunForm(initial=_initial(request))
        status = 200
    chosen = form["scenario"].value()
    return render(
        request,
        "runs/form.html",
        {"form": form, "presets": presets(), "chosen": chosen, "custom": CUSTOM},
        status=status,
    )


def _initial(request):
    """The form's values: a run's (``?from=ID``, clone) or a preset's (``?scenario=NAME``)."""
    source = request.GET.get("from")
    if request.GET.get("cloud") and not source:  # a server of a copy (or a shared cloud) to resize
        from .cloud_views import run_initial

        initial = run_initial(request.GET["cloud"], request.GET.get("server", ""))
        if initial is not None:
            return {**RunForm.initial_for(initial), "scenario": CUSTOM, "loaded": CUSTOM}
    if source:
        number = as_id(source)
        run = get_object_or_404(Run, pk=number) if number is not None and number <= MAX_ID else None
        if run is None:
            raise Http404("No such run")
        scenario, params = run.scenario, run.params
    else:
        scenario = request.GET.get("scenario", DEFAULT_SCENARIO)
        if scenario not in SCENARIOS and scenario != CUSTOM:
            scenario = DEFAULT_SCENARIO
        params = SCENARIOS[scenario].params if scenario in SCENARIOS else {}
    return {**RunForm.initial_for(params), "scenario": scenario, "loaded": scenario}


def run_action(view):
    """A button on a run's page (POST only). Logged out, it sends the user to log in and back to
    the run's page: never back to this URL, which a browser would GET (405)."""

    @wraps(view)
    def wrapper(request, pk, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(reverse("run-detail", args=[pk]))
        return view(request, pk, *args, **kwargs)

    return require_POST(wrapper)


@run_action
def run_rerun(request, pk):
    """Start a run with exactly the same parameters."""
    run = _run(pk)
    if limited := over_limit(request, "runs"):
        return limited
    try:
        again = start_run(run.scenario, run.params, on_cast=cast)
    except InvalidRun as error:
        messages.error(request, f"Cannot re-run: {error.message}")
        return redirect("run-detail", pk=run.pk)
    return redirect("run-detail", pk=again.pk)


@run_action
def run_abort(request, pk):
    """Stop an unfinished run (as ``POST /api/runs/{id}/abort/`` does)."""
    _run(pk)
    try:
        _, task_id = abort(pk, request.user.get_username())
    except AlreadyFinished as error:
        messages.info(request, str(error))
    else:
        if task_id:
            revoke(task_id)
        messages.info(request, f"Run {pk} aborted.")
    return redirect("run-detail", pk=pk)


@run_action
def run_conform(request, pk):
    """Check a finished run against Nova 34 (as ``POST /api/runs/{id}/conformance/`` does)."""
    run = _run(pk)
    if not run.is_finished:
        messages.info(request, f"Run {pk} can be checked against Nova once it has finished.")
    elif nova_python() is None:
        messages.error(request, f"No Nova environment on this server. {HOW_TO}")
    else:
        request_conformance(run)
        messages.info(request, f"Run {pk} is being replayed in Nova 34.")
    return redirect(f"{reverse('run-detail', args=[pk])}#conformance")


def run_conformance(request, pk):
    """The run page's conformance panel (polled by htmx while the check runs)."""
    return render(request, "runs/_conformance.html", conformance_page(_run(pk)))


@run_action
def run_toggle_bug(request, pk, bug):
    """Run the same scenario with one known bug switched the other way, and compare."""
    run = _run(pk)
    if bug not in KNOWN_BUGS:
        raise Http404("Unknown bug")
    if limited := over_limit(request, "runs"):
        return limited
    bugs = set(run.params.get("bugs", []))
    bugs ^= {bug}
    try:
        other = start_run(run.scenario, {**run.params, "bugs": sorted(bugs)}, on_cast=cast)
    except InvalidRun as error:
        messages.error(request, f"Cannot run the counterpart: {error.message}")
        return redirect("run-detail", pk=run.pk)
    with_bug, without = (run, other) if bug in run.params.get("bugs", []) else (other, run)
    return redirect(f"{reverse('run-compare')}?a={with_bug.pk}&b={without.pk}")


def run_compare(request):
    """Two runs side by side, bars aligned by provider and resource class; without two runs, a picker."""
    context = _compare_context(request)
    return render(request, "runs/compare.html", context, status=context.get("status", 200))


def run_compare_live(request):
    context = _compare_context(request)
    if not context["sides"]:
        raise Http404(context.get("error") or "Give two runs: ?a=<id>&b=<id>")
    return render(request, "runs/_compare_live.html", context)


def _compare_context(request):
    """Two runs side by side, each drawn on its own run's scales (as on its own page)."""
    ids = [request.GET.get("a", ""), request.GET.get("b", "")]
    picker = {"a": ids[0], "b": ids[1], "recent": Run.objects.only("pk", "scenario", "params", "status")[:50]}
    numbers = [as_id(i) for i in ids]
    if None in numbers:
        if not any(ids):
            return {"sides": None, "picker": picker}
        return {"sides": None, "picker": picker, "error": "Pick two runs by their number.", "status": 400}
    runs = {run.pk: run for run in Run.objects.select_related("cloud", "server").filter(
        pk__in=[number for number in numbers if number <= MAX_ID])}
    missing = [i for i in ids if int(i) not in runs]
    if missing:
        return {"sides": None, "picker": picker, "error": f"There is no run {missing[0]}.", "status": 404}
    sides = [run_page(runs[int(i)]) for i in ids]
    providers = sorted({p for side in sides for p, _ in side["bars"]})
    rows = []
    for provider in providers:
        left = [pair[1] or pair[0] for pair in dict(sides[0]["bars"]).get(provider, [])]
        right = [pair[1] or pair[0] for pair in dict(sides[1]["bars"]).get(provider, [])]
        rows.append((provider, list(zip(left, right))))
    labels = [side["report"]["label"] for side in sides]
    return {
        "a": sides[0],
        "b": sides[1],
        "sides": sides,
        "rows": rows,
        "picker": picker,
        "different": labels[0] != labels[1],
        "finished": all(side["finished"] for side in sides),
        "query": request.GET.urlencode(),
    }
