"""Usage bars: what the templates draw, computed here (never in templates).

A bar shows one resource class of one provider: reserved as its own segment,
each consumer's allocation (instance or migration) as a segment, and what the
audit flags (orphaned, flavor mismatch) drawn as such; a missing allocation is
drawn as an outline of what should be there. Widths are percentages of
``total × allocation_ratio``; captions say "Used X of Y" with Y the capacity
``(total − reserved) × allocation_ratio``.
"""
from dataclasses import dataclass, field

from simulator.models import Migration, Server

RESOURCE_CLASSES = ("VCPU", "MEMORY_MB", "DISK_GB")
MIN_VISIBLE = 1.0  # percent: a non-zero segment is never drawn thinner than this


def human(rc, amount):
    """An amount in human units: 1 VCPU, 512 MiB, 1.5 GiB, 20 GB, 1.2 TB."""
    if rc == "MEMORY_MB":
        if abs(amount) >= 1024:
            return f"{_trim(amount / 1024)} GiB"
        return f"{amount} MiB"
    if rc == "DISK_GB":
        if abs(amount) >= 1000:
            return f"{_trim(amount / 1000)} TB"
        return f"{amount} GB"
    return f"{amount} VCPU"


def _trim(value):
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


@dataclass
class Segment:
    kind: str  # reserved | instance | migration | orphaned | mismatch | missing
    amount: int
    width: float = 0.0
    label: str = ""


@dataclass
class Bar:
    provider: str
    rc: str
    when: str
    total: int
    reserved: int
    capacity: int
    used: int
    segments: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    delta: int | None = None

    @property
    def caption(self):
        return f"Used {human(self.rc, self.used)} of {human(self.rc, self.capacity)}"

    @property
    def percent(self):
        return round(100 * self.used / self.capacity, 1) if self.capacity else 0.0

    @property
    def over_capacity(self):
        return self.used > self.capacity

    @property
    def changed(self):
        return bool(self.delta)

    @property
    def delta_text(self):
        if not self.delta:
            return ""
        return ("+" if self.delta > 0 else "−") + human(self.rc, abs(self.delta))

    @property
    def aria_label(self):
        return f"{self.provider} {self.rc} {self.when}: used {self.used} of {self.capacity}"


def consumer_names(snapshots):
    """{consumer uuid: "server1" / "migration of server1"} for the consumers in snapshots (2 queries)."""
    uuids = {a["consumer_uuid"] for snap in snapshots if snap for a in snap["allocations"]}
    names = {str(u): name for u, name in Server.objects.filter(uuid__in=uuids).values_list("uuid", "name")}
    for uuid, name in Migration.objects.filter(uuid__in=uuids).values_list("uuid", "server__name"):
        names[str(uuid)] = f"migration of {name}"
    return names


def _flags(audit):
    """(provider, consumer uuid) -> (kind, explanation) for the audit's findings."""
    flags = {}
    for finding in (audit or {}).get("orphaned", []):
        flags[(finding["provider"], finding["consumer_uuid"])] = ("orphaned", finding["message"])
    for finding in (audit or {}).get("flavor_mismatch", []):
        flags[(finding["provider"], finding["server_uuid"])] = ("mismatch", finding["message"])
    return flags


def build_bars(snapshot, when, names, audit=None, compare_to=None):
    """{provider: [Bar per resource class]} for one snapshot."""
    if not snapshot:
        return {}
    flags = _flags(audit)
    missing = {}
    for finding in (audit or {}).get("missing", []):
        missing.setdefault(finding["provider"], []).append(finding)
    by_provider = {}
    for alloc in snapshot["allocations"]:
        by_provider.setdefault(alloc["provider"], []).append(alloc)
    previous = (compare_to or {}).get("usages") or {}
    result = {}
    for provider, inventories in snapshot["inventories"].items():
        bars = []
        for rc in RESOURCE_CLASSES:
            inventory = inventories.get(rc)
            if inventory is None:
                continue
            used = snapshot["usages"].get(provider, {}).get(rc, 0)
            bar = Bar(
                provider=provider,
                rc=rc,
                when=when,
                total=inventory["total"],
                reserved=inventory["reserved"],
                capacity=inventory["capacity"],
                used=used,
            )
            if compare_to is not None:
                bar.delta = used - previous.get(provider, {}).get(rc, 0)
            scale = inventory["total"] * inventory["allocation_ratio"] or 1
            if inventory["reserved"]:
                reserved = inventory["reserved"] * inventory["allocation_ratio"]
                bar.segments.append(
                    Segment("reserved", inventory["reserved"], reserved, f"reserved {human(rc, inventory['reserved'])}")
                )
            for alloc in by_provider.get(provider, []):
                amount = alloc["resources"].get(rc, 0)
                if not amount:
                    continue
                kind, why = flags.get((provider, alloc["consumer_uuid"]), (alloc["consumer_type"].lower(), ""))
                who = names.get(alloc["consumer_uuid"], alloc["consumer_uuid"])
                label = f"{who} ({alloc['consumer_type']}): {human(rc, amount)}" + (f" — {kind}: {why}" if why else "")
                bar.segments.append(Segment(kind, amount, amount, label))
            for finding in missing.get(provider, []):
                amount = finding["expected"].get(rc, 0)
                if amount:
                    bar.missing.append(Segment("missing", amount, amount, f"missing: {finding['message']}"))
            _scale(bar.segments + bar.missing, scale)
            bars.append(bar)
        result[provider] = bars
    return result


def _scale(segments, scale):
    for segment in segments:
        share = 100 * segment.width / scale
        segment.width = round(max(share, MIN_VISIBLE) if segment.amount else 0, 2)
