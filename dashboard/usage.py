"""Usage bars: what the templates draw, computed here (never in templates).

A bar shows one resource class of one provider: reserved as its own segment,
each consumer's allocation (instance or migration) as a segment, and what the
audit flags (orphaned, flavor mismatch) drawn as such; a missing allocation is
drawn as an outline of what should be there. Widths are percentages of
``total × allocation_ratio``; captions say "Used X of Y" with Y the capacity
``(total − reserved) × allocation_ratio``.

Nova's FakeDriver hosts are huge (800000 MB), so a flavor's allocation would be
an invisible sliver. ``zoom`` gives every bar of a resource class in a view the
same, smaller scale (a little above the largest amount drawn) when everything
drawn is under a tenth of the capacity; such bars say so ("scale 0–2.5 GiB").
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
    size: float  # in the units of the bar's scale (reserved counts × allocation_ratio)
    label: str = ""
    width: float = 0.0  # percent of the bar, set by zoom()


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
    full_scale: float = 1.0  # total × allocation_ratio
    scale: float = 1.0  # what 100% of the bar stands for
    zoomed: bool = False

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
    def scale_text(self):
        scale = int(self.scale) if self.scale == int(self.scale) else self.scale
        return f"scale 0–{human(self.rc, scale)}" if self.zoomed else ""

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
            bar.full_scale = inventory["total"] * inventory["allocation_ratio"] or 1
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
            bars.append(bar)
        result[provider] = bars
    zoom([bar for bars in result.values() for bar in bars])
    return result


def zoom(bars):
    """Scale the bars (one view's, all providers, before and after) and size their segments."""
    by_rc = {}
    for bar in bars:
        by_rc.setdefault(bar.rc, []).append(bar)
    for rc, same_class in by_rc.items():
        drawn = max(sum(s.size for s in bar.segments + bar.missing) for bar in same_class)
        smallest = min(bar.full_scale for bar in same_class)
        zoomed = 0 < drawn < smallest / 10
        for bar in same_class:
            bar.scale, bar.zoomed = (_nice(rc, drawn * 1.25), True) if zoomed else (bar.full_scale, False)
            for segment in bar.segments + bar.missing:
                share = 100 * segment.size / bar.scale
                segment.width = round(min(max(share, MIN_VISIBLE), 100) if segment.amount else 0, 2)
    return bars


def _nice(rc, value):
    """The next round amount above value: 1, 1.5, 2, 2.5, 5, 10 × a power of ten (of GiB for memory)."""
    if rc == "MEMORY_MB" and value > 1024:
        return 1024 * _nice("", value / 1024)
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 1.5, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power
