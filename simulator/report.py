"""Snapshots of a cloud's placement state and the run report document."""
from . import placement
from .audit import findings
from . import exceptions as exc
from .models import Allocation, Host, InstanceActionEvent, InstanceFault, Inventory, Migration, ResourceProvider, Server
from .states import RESOURCE_CLASSES


def _iso(value):
    return value.isoformat() if value else None


def _own_name(provider):
    return provider.name


def snapshot(cloud=None, providers=None, name=_own_name):
    """Usages, allocations and inventories of every provider of ``cloud``, or of ``providers``,
    each under ``name(provider)`` (the list pages name them "cloud/name": names repeat across
    clouds), in the providers' order (a cloud's: by name). Three queries for a cloud, two for
    providers, whatever their number."""
    if providers is None:
        providers = ResourceProvider.objects.filter(cloud=cloud).order_by("name")
    names = {p.pk: name(p) for p in providers}
    used = {}  # (provider id, resource class) -> the sum of its allocations
    inventories = {}
    for inv in Inventory.objects.filter(provider_id__in=list(names)).order_by("resource_class"):
        inventories.setdefault(inv.provider_id, {})[inv.resource_class] = placement.inventory_record(inv)
    allocations = {}
    rows = (
        Allocation.objects.filter(provider_id__in=list(names))
        .order_by("consumer__consumer_type", "consumer__uuid", "resource_class")
        .values_list("provider_id", "consumer__uuid", "consumer__consumer_type", "resource_class", "used")
    )
    for provider_id, consumer_uuid, consumer_type, rc, amount in rows:
        used[provider_id, rc] = used.get((provider_id, rc), 0) + amount
        entry = allocations.setdefault(provider_id, {}).setdefault(
            consumer_uuid,
            {
                "provider": names[provider_id],
                "consumer_uuid": str(consumer_uuid),
                "consumer_type": consumer_type,
                "resources": {},
            },
        )
        entry["resources"][rc] = amount
    return {
        "usages": {key: {rc: used.get((pk, rc), 0) for rc in RESOURCE_CLASSES} for pk, key in names.items()},
        "allocations": [entry for pk in names for entry in allocations.get(pk, {}).values()],
        "inventories": {key: inventories[pk] for pk, key in names.items() if pk in inventories},
    }


def fault_dict(fault):
    """A fault as Nova's API shows it (None: no fault)."""
    if fault is None:
        return None
    return {
        "code": fault.code,
        "message": fault.message,
        "details": fault.details,
        "host": fault.host,
        "created": _iso(fault.created),
    }


def server_dict(server, faults):
    """The server as Nova's API shows it, with the fault its API shows among ``faults``."""
    return {
        "uuid": str(server.uuid),
        "name": server.name,
        "status": server.status,
        "vm_state": server.vm_state,
        "task_state": server.task_state,
        "power_state": server.power_state,
        "host": server.host.name if server.host else None,
        "node": server.node.name if server.node else None,
        "flavor": server.flavor.name,
        "old_flavor": server.old_flavor.name if server.old_flavor else None,
        "new_flavor": server.new_flavor.name if server.new_flavor else None,
        "fault": fault_dict(server.api_fault(faults)),
    }


def event_dict(event, when=_iso):
    """An instance action event as ``os-instance-actions`` shows it (times through ``when``)."""
    return {
        "event": event.event,
        "host": event.host,
        "worker": event.worker or None,
        "queue": event.queue or None,
        "result": event.result,
        "start_time": when(event.start_time),
        "finish_time": when(event.finish_time),
        "details": event.details or None,
        "traceback": event.traceback or None,
    }


def migration_dict(migration):
    if migration is None:
        return None
    return {
        "uuid": str(migration.uuid),
        "status": migration.status,
        "migration_type": migration.migration_type,
        "source_compute": migration.source_compute.name,
        "source_node": migration.source_node.name,
        "dest_compute": migration.dest_compute.name if migration.dest_compute else None,
        "dest_node": migration.dest_node.name if migration.dest_node else None,
        "old_flavor": migration.old_flavor.name,
        "new_flavor": migration.new_flavor.name,
    }


def room(run, before, faults):
    """What the resize asked for against the free room on each candidate provider at the request
    (every provider the scheduler could pick: not ignored, not a host whose service is down, the
    requested destination if any), and whether the run failed for want of room."""
    spec = (run.pipeline_state or {}).get("request_spec") or {}
    requested = spec.get("resources")
    if not requested or not before:
        return None
    down = set(Host.objects.filter(cloud_id=run.cloud_id, service_up=False).values_list("name", flat=True))
    candidates = {}
    for provider, inventories in sorted(before["inventories"].items()):
        wanted = spec.get("requested_destination")
        if provider in spec.get("ignore_hosts", []) or provider in down or wanted not in (None, provider):
            continue
        candidates[provider] = {}
        for rc, amount in requested.items():
            record = inventories.get(rc)
            used = before["usages"].get(provider, {}).get(rc, 0)
            candidates[provider][rc] = {
                "asked": amount,
                "free": record["capacity"] - used if record else 0,
                "refused": placement.refusal(record, used, amount) if record else "no inventory",
            }
    return {
        "requested": requested,
        "candidates": candidates,
        "failed_for_room": any(exc.about_room(fault.message) for fault in faults),
    }


def build_report(run):
    """The run report: the document ``resize_run --json`` prints."""
    state = run.pipeline_state or {}
    server = (
        Server.objects.select_related("host", "node", "flavor", "old_flavor", "new_flavor").filter(pk=run.server_id).first()
        if run.server_id
        else None
    )
    faults, events, migration = [], [], None
    if server is not None:
        faults = list(InstanceFault.objects.filter(server=server, created__gte=run.created).order_by("created", "id"))
        events = list(
            InstanceActionEvent.objects.filter(action_id__in=state.get("action_ids", []))
            .select_related("action")
            .order_by("id")
        )
        if state.get("migration_id"):
            migration = (
                Migration.objects.select_related(
                    "source_compute", "source_node", "dest_compute", "dest_node", "old_flavor", "new_flavor"
                )
                .filter(pk=state["migration_id"])
                .first()
            )
    before, after = run.before or {}, run.after or {}
    return {
        "id": run.pk,
        "status": run.status,
        "scenario": run.scenario,
        "label": run.label,
        "injected": run.injected,
        "cloud": run.cloud.name if run.cloud else None,
        "params": run.params,
        "created": _iso(run.created),
        "started": _iso(run.started),
        "finished": _iso(run.finished),
        "error": run.error or None,
        "next_step": run.next_step or None,
        "next_host": run.next_host or None,
        "task_id": run.task_id or None,
        "dispatched": _iso(run.dispatched),
        "executing": run.executing or None,
        "redispatches": run.redispatches,
        "steps": [
            {
                "seq": step.seq,
                "name": step.name,
                "host": step.host,
                "worker": step.worker or None,
                "queue": step.queue or None,
                "task_id": step.task_id or None,
                "queued": _iso(step.queued),
                "started": _iso(step.started),
                "finished": _iso(step.finished),
                "duration_ms": round((step.finished - step.started).total_seconds() * 1000, 3),
                "failed": step.failed,
                "error": step.error or None,
                "log": step.log,
            }
            for step in run.steps.all()
        ],
        "server": server_dict(server, faults) if server else None,
        "faults": [fault_dict(f) for f in faults],
        "migration": migration_dict(migration),
        "usages": {"before": before.get("usages"), "after": after.get("usages")},
        "allocations": {"before": before.get("allocations"), "after": after.get("allocations")},
        "inventories": after.get("inventories") or before.get("inventories"),
        "room": room(run, run.before, faults),
        "events": [
            {"action": event.action.action, "request_id": event.action.request_id, **event_dict(event)}
            for event in events
        ],
        "audit": run.audit,
        "verdict": run.verdict,
    }


def _fmt_usage(usage):
    if usage is None:
        return "-"
    return " ".join(f"{rc}={amount}" for rc, amount in usage.items())


def format_report(report, steps=True):
    """The report as lines of text for a terminal (``steps=False``: they were shown live)."""
    lines = []
    out = lines.append
    out(f"Run {report['id']} ({report['label']}) {report['status']} in cloud {report['cloud']}")
    out(f"Injected: {report['injected']['summary']}")
    if report["error"]:
        out(f"Crashed: {report['error']}")
    for step in report["steps"] if steps else []:
        out(format_step(step))
    if report["next_step"]:
        out(f"  Waiting: {report['next_step']} on {report['next_host']}")
    server = report["server"]
    out(
        f"Server {server['name']}: {server['status']} (vm_state {server['vm_state']}, task_state "
        f"{server['task_state']}) on {server['host']}, flavor {server['flavor']}"
    )
    if server["fault"]:
        out(f"Fault: {server['fault']['code']} {server['fault']['message']}")
    for fault in report["faults"]:
        if not server["fault"] or fault["created"] != server["fault"]["created"]:
            out(f"Recorded fault (not shown by the API): {fault['code']} {fault['message']}")
    migration = report["migration"]
    if migration:
        out(
            f"Migration {migration['uuid']}: {migration['status']} ({migration['migration_type']} "
            f"{migration['source_compute']} -> {migration['dest_compute']}, "
            f"{migration['old_flavor']} -> {migration['new_flavor']})"
        )
    out("Usages (before -> after):")
    before, after = report["usages"]["before"], report["usages"]["after"] or {}
    for provider in before:
        out(f"  {provider:10} {_fmt_usage(before[provider]):40} -> {_fmt_usage(after.get(provider))}")
    audit = report["audit"]
    if audit:
        found = findings(audit)
        out(f"Audit: exit code {audit['exit_code']}" + ("" if found else ", nothing found"))
        for _, finding in found:
            out(f"  {finding['message']}" + (" (inherited: there before the run)" if finding.get("inherited") else ""))
    verdict = report["verdict"]
    if verdict:
        out(f"Verdict: {verdict['summary']}")
        for mismatch in verdict["mismatches"]:
            out(f"  {mismatch}")
    return lines


def format_step(step):
    """One executed step as a line: seq, cast, host, worker, time, failure."""
    mark = f"  FAILED: {step['error']}" if step["failed"] else ""
    worker = step["worker"] or "in-process"
    return f"  {step['seq']:>2} {step['name']:30} {step['host']:10} {worker:24} {step['duration_ms']:8.1f} ms{mark}"
