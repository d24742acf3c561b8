"""The clouds' pages: the imported clouds and their copies, one cloud with its bars and audit, the
import form, and a copy made to replay a run or a campaign on."""
import json
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from simulator import imports
from simulator.audit import audit_cloud, findings
from simulator.copies import CopyRefused, copy_cloud
from simulator.models import Cloud, Migration, Run, Server
from simulator.report import snapshot
from simulator.states import RESOURCE_CLASSES

from .forms import ImportForm
from .usage import build_bars, cloud_scales, consumer_names


def cloud_list(request):
    """The imported clouds (their copies are on their pages)."""
    clouds = (
        Cloud.objects.filter(imported__isnull=False)
        .annotate(
            n_servers=Count("servers", distinct=True),
            n_providers=Count("providers", distinct=True),
            n_copies=Count("copies", distinct=True),
        )
        .order_by("name")
    )
    return render(request, "clouds/list.html", {"clouds": clouds})


def cloud_detail(request, name):
    """A cloud as any other: its providers' bars with the audit drawn on them, its servers and
    migrations, each allocation labelled; what the import read and found; copies to replay on."""
    cloud = get_object_or_404(Cloud.objects.select_related("copy_of"), name=name)
    now = snapshot(cloud)
    audit = audit_cloud(cloud)
    providers = list(cloud.providers.all())
    scales = cloud_scales(providers)
    names = consumer_names([now])
    bars = build_bars(now, "now", names, {p.name: scales[p.pk] for p in providers}, audit=audit)
    labels = imports.consumer_labels(cloud)
    leaked = {f["consumer_uuid"] for f in audit["orphaned"]}
    held = {}
    for alloc in now["allocations"]:
        held.setdefault(alloc["consumer_uuid"], []).append(alloc["provider"])
    servers = list(Server.objects.filter(cloud=cloud).select_related("node", "flavor").order_by("name"))
    migrations = list(
        Migration.objects.filter(cloud=cloud).select_related("server", "source_node", "dest_node").order_by("-created", "-id")
    )
    record = cloud.imported
    return render(
        request,
        "clouds/detail.html",
        {
            "cloud": cloud,
            "record": record,
            "labels": [(label.lower(), n) for label, n in (record or {}).get("labels", {}).items()],
            "placement_usages": _placement_usages(record, now) if record else [],
            "bars": sorted(bars.items()),
            "audit": audit,
            "audit_findings": [(kind, finding, labels.get(finding.get("consumer_uuid", ""), "")) for kind, finding in findings(audit)],
            "servers": [
                {"server": s, "held": ", ".join(held.get(str(s.uuid), [])), "movable": s.status in ("ACTIVE", "SHUTOFF")}
                for s in servers
            ],
            "migrations": [
                {"migration": m, "held": ", ".join(held.get(str(m.uuid), [])), "leaked": str(m.uuid) in leaked}
                for m in migrations
            ],
            # The copies made to run several resizes in (not the one each run on it makes).
            "copies": cloud.copies.exclude(runs__params__cloud=cloud.name).order_by("name") if record else [],
            "runs": (Run.objects.filter(params__cloud=cloud.name) if record else Run.objects.filter(cloud=cloud))
            .select_related("cloud")[:10],
        },
    )


def _placement_usages(record, now):
    """[(provider, rc, Placement's usage, the cloud's)] for every provider and class."""
    rows = []
    for provider, usages in sorted(record.get("placement_usages", {}).items()):
        for rc in RESOURCE_CLASSES:
            if rc in usages:
                ours = now["usages"].get(provider, {}).get(rc, 0)
                rows.append({"provider": provider, "rc": rc, "placement": usages[rc], "cloud": ours, "same": ours == usages[rc]})
    return rows


def cloud_import(request):
    """The import form: Placement's URL and token, and Nova's JSON (or its compute URL). Anyone
    may see it; importing needs a login."""
    status = 200
    if request.method == "POST":
        if not request.user.is_authenticated:
            return redirect_to_login(reverse("cloud-import"))
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                cloud = imports.import_cloud(
                    data["name"],
                    data["placement_url"],
                    token=data["token"] or None,
                    servers_json=data["servers_json"] or None,
                    migrations_json=data["migrations_json"] or None,
                    flavors_json=data["flavors_json"] or None,
                    compute_url=data["compute_url"] or None,
                    replace=data["replace"],
                )
            except imports.ImportFailed as error:
                form.add_error(None, str(error))
            else:
                counts = cloud.imported["counts"]
                messages.info(
                    request,
                    f"Imported {cloud.name}: {counts['providers']} providers, {counts['servers']} servers, "
                    f"{counts['consumers']} consumers. Nothing was written to the real cloud.",
                )
                return redirect("cloud-detail", name=cloud.name)
        status = 400
    else:
        form = ImportForm(initial={"name": request.GET.get("name", "")})
    return render(request, "clouds/import.html", {"form": form}, status=status)


@require_POST
def cloud_copy(request, name):
    """Copy an imported cloud, then go where the button said: the run form or the campaign form on
    the copy (with its server), or the copy's page."""
    source = get_object_or_404(Cloud, name=name)
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("cloud-detail", args=[name]))
    try:
        copy = copy_cloud(source)
    except CopyRefused as error:
        messages.error(request, str(error))
        return redirect("cloud-detail", name=name)
    server = request.POST.get("server", "")
    then = request.POST.get("then", "")
    messages.info(request, f"Copied {source.name} to {copy.name}: runs there never touch {source.name}.")
    return redirect(replay_url(copy, server, then))


def replay_url(cloud, server="", then=""):
    """Where to start a run (``then`` "run") or a campaign ("campaign") on ``cloud``, with ``server``."""
    query = {"cloud": cloud.name, **({"server": server} if server else {})}
    if then == "run":
        return f"{reverse('run-new')}?{urlencode(query)}"
    if then == "campaign":
        return f"{reverse('campaign-new')}?{urlencode(query)}"
    return reverse("cloud-detail", args=[cloud.name])


def run_initial(cloud_name, server_name):
    """The run form's values for a resize of ``server_name`` in ``cloud_name`` (a copy, or a shared
    cloud): custom, the server's host and flavor, the next larger flavor; None when there is no
    such server."""
    from simulator.cloud import find_server
    from simulator.params import DEFAULTS

    cloud = Cloud.objects.filter(name=cloud_name).first()
    server = find_server(cloud, server_name) if cloud and server_name else None
    if server is None:
        return None
    flavors = list(cloud.flavors.filter(disabled=False).order_by("memory_mb", "vcpus", "root_gb", "name"))
    bigger = [f for f in flavors if f.pk != server.flavor_id and (f.memory_mb, f.vcpus, f.root_gb) >= (
        server.flavor.memory_mb, server.flavor.vcpus, server.flavor.root_gb)]
    other = (bigger or [f for f in flavors if f.pk != server.flavor_id] or [server.flavor])[0]
    return {
        **DEFAULTS,
        "cloud": cloud.name,
        "server": server.name,
        "source_host": server.host.name if server.host else "",
        "flavor": server.flavor.name,
        "new_flavor": other.name,
    }


def campaign_initial(cloud_name, server_name):
    """The campaign form's values for ``server_name`` in ``cloud_name``: custom, the cloud and the
    server as the base's parameters."""
    params = run_initial(cloud_name, server_name)
    if params is None:
        return None
    base = {key: params[key] for key in ("cloud", "server", "new_flavor")}
    return {"scenario": "custom", "params": json.dumps(base)}
