"""Usage bars: what the templates draw, computed here (never in templates).

A bar shows one resource class of one provider: reserved as its own segment, each
consumer's allocation (instance or migration) as a segment, what the audit flags
(orphaned, flavor mismatch) drawn as such, a missing allocation as an outline of what
should be there and, when a resize found no room, what it asked for as a dashed ghost.
Its caption says "Used X of Y", Y being the capacity ``(total − reserved) × allocation_ratio``.

Scales. A bar's full width stands for ``total × allocation_ratio`` (reserved included):
a true bar. Nova's FakeDriver reports 800000 MB, on which a flavor is an invisible
sliver, so a bar whose full width is at least ``MAGNIFY_FROM`` times what it must show
is *magnified*: its full width stands for a round amount (its scale), and the bar itself
says so — a magnifier mark with the factor on the bar, a torn right edge, the scale in
its caption. What a bar must show is fixed before anything moves, so before and after
share one scale and nothing rescales while a run is live:

- a run's bars (``run_scales``): per resource class, the largest of reserved + usage
  before the run + what the resize asks for, over the run's providers;
- a cloud's bars (``cloud_scales``: home, providers): per resource class, the largest of
  reserved + usage now + the cloud's largest flavor, over the cloud's providers.

The scale depends on the run (or the cloud) alone, never on the page: a run draws the
same widths on its page, the compare page and the home page.
"""
from dataclasses import dataclass, field

from simulator import placement
from simulator.models import Flavor, Inventory, Migration, Server
from simulator.states import RESOURCE_CLASSES, ResourceClass

MAGNIFY_FROM = 4  # magnify when the true bar is at least this many times what must be shown
STEPS = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10)  # round amounts, × a power of ten


def human(rc, amount):
    """An amount in human units: 1 VCPU, 512 MiB, 1.5 GiB, 20 GB, 1.2 TB."""
    if rc == ResourceClass.MEMORY_MB:
        if abs(amount) >= 1024:
            return f"{_trim(amount / 1024)} GiB"
        return f"{_trim(amount)} MiB"
    if rc == ResourceClass.DISK_GB:
        if abs(amount) >= 1000:
            return f"{_trim(amount / 1000)} TB"
        return f"{_trim(amount)} GB"
    return f"{_trim(amount)} VCPU"


def asked_text(rc, asked, free):
    """What a resize asked of a provider against what it had free: "asked 8 GiB, 7.5 GiB free"."""
    return f"asked {human(rc, asked)}, {human(rc, free)} free"


def _trim(value):
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def round_up(rc, value):
    """The next round amount at or above value: 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10 × a power of
    ten (of GiB for memory above 1 GiB)."""
    if rc == ResourceClass.MEMORY_MB and value > 1024:
        return 1024 * round_up("", value / 1024)
    power = 10 ** (len(str(int(value))) - 1)
    return next(step * power for step in STEPS if value <= step * power)


@dataclass(frozen=True)
class Scale:
    """What a bar's full width stands for: its true extent, or a magnified round amount."""

    full: float  # total × allocation_ratio
    shown: float  # what 100% of the bar stands for

    @classmethod
    def true(cls, inventory):
        """The true scale: the provider's ``total × allocation_ratio``."""
        full = inventory["total"] * inventory["allocation_ratio"] or 1
        return cls(full, full)

    @property
    def magnified(self):
        return self.shown < self.full

    @property
    def factor(self):
        return round(self.full / self.shown) if self.magnified else 1


def _scales(inventories, envelope):
    """{provider: {rc: Scale}}: one round amount per resource class covering every provider's
    envelope; providers whose true bar is not ``MAGNIFY_FROM`` times larger are drawn true."""
    largest = {}
    for amounts in envelope.values():
        for rc, amount in amounts.items():
            largest[rc] = max(largest.get(rc, 0), amount)
    result = {}
    for provider, by_rc in inventories.items():
        result[provider] = {}
        for rc, inventory in by_rc.items():
            scale = Scale.true(inventory)
            if largest.get(rc) and round_up(rc, largest[rc]) * MAGNIFY_FROM <= scale.full:
                scale = Scale(scale.full, round_up(rc, largest[rc]))
            result[provider][rc] = scale
    return result


def _reserved(inventory):
    return inventory["reserved"] * inventory["allocation_ratio"]


def run_scales(before, requested):
    """The scales of a run's bars, from its 'before' snapshot and what the resize asks for."""
    envelope = {
        provider: {
            rc: _reserved(inventory) + before["usages"].get(provider, {}).get(rc, 0) + (requested or {}).get(rc, 0)
            for rc, inventory in by_rc.items()
        }
        for provider, by_rc in before["inventories"].items()
    }
    return _scales(before["inventories"], envelope)


def cloud_scales(providers):
    """{provider pk: {rc: Scale}} for the bars of ``providers`` drawn as their clouds are now
    (three queries, whatever the number of providers and clouds)."""
    clouds = {p.cloud_id for p in providers}
    inventories, cloud_of = {}, {}
    for inv in Inventory.objects.filter(provider__cloud_id__in=clouds).select_related("provider"):
        inventories.setdefault(inv.provider_id, {})[inv.resource_class] = placement.inventory_record(inv)
        cloud_of[inv.provider_id] = inv.provider.cloud_id
    used = placement.used_by_provider(list(inventories))
    flavor_max = {}
    for flavor in Flavor.objects.filter(cloud_id__in=clouds, disabled=False):
        largest = flavor_max.setdefault(flavor.cloud_id, {})
        for rc, amount in flavor.resources().items():
            largest[rc] = max(largest.get(rc, 0), amount)
    result = {}
    for cloud in clouds:
        mine = {pk: by_rc for pk, by_rc in inventories.items() if cloud_of[pk] == cloud}
        envelope = {
            pk: {
                rc: _reserved(inventory) + used.get((pk, rc), 0) + flavor_max.get(cloud, {}).get(rc, 0)
                for rc, inventory in by_rc.items()
            }
            for pk, by_rc in mine.items()
        }
        result.update(_scales(mine, envelope))
    return {p.pk: result.get(p.pk, {}) for p in providers}


@dataclass
class Segment:
    kind: str  # reserved | instance | migration | orphaned | mismatch | missing | asked
    amount: int
    size: float  # in the units of the bar's scale (reserved counts × allocation_ratio)
    label: str = ""
    width: float = 0.0  # percent of the bar


@dataclass
class Bar:
    provider: str
    rc: str
    when: str
    total: int
    reserved: int
    capacity: int
    used: int
    scale: Scale
    segments: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    asked: Segment | None = None
    free: int = 0
    refused: str | None = None
    delta: int | None = None
    overflow: bool = False  # what is held goes past the bar's scale (clipped at its end)

    @property
    def caption(self):
        reserved = f" ({human(self.rc, self.reserved)} reserved)" if self.reserved else ""
        return f"Used {human(self.rc, self.used)} of {human(self.rc, self.capacity)}{reserved}"

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
    def magnified(self):
        return self.scale.magnified

    @property
    def mark(self):
        return f"×{self.scale.factor:,}" if self.magnified else ""

    @property
    def scale_text(self):
        """The bar's scale when it is not the true one: "scale 0–3 GiB of 781.2 GiB total, magnified ×260"."""
        if not self.magnified:
            return ""
        return (
            f"scale 0–{human(self.rc, self.scale.shown)} of {human(self.rc, self.scale.full)} total, "
            f"magnified {self.mark}"
        )

    @property
    def asked_text(self):
        if self.asked is None:
            return ""
        text = asked_text(self.rc, self.asked.amount, self.free)
        return f"{text}: {self.refused}" if self.refused else text

    @property
    def aria_label(self):
        text = f"{self.provider} {self.rc} {self.when}: used {self.used} of {self.capacity}"
        if self.magnified:
            text += f"; magnified {self.scale.factor} times, the bar shows 0 to {_trim(self.scale.shown)}"
        return text


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


def build_bars(snapshot, when, names, scales, audit=None, compare_to=None, room=None):
    """{provider: [Bar per resource class]} for one snapshot, drawn on ``scales``
    ({provider: {rc: Scale}}); ``room``: what a resize that found no room asked for."""
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
    asked = (room or {}).get("candidates", {})
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
                # A provider that appeared after the scales were set is drawn true.
                scale=scales.get(provider, {}).get(rc) or Scale.true(inventory),
            )
            if compare_to is not None:
                bar.delta = used - previous.get(provider, {}).get(rc, 0)
            if inventory["reserved"]:
                bar.segments.append(
                    Segment("reserved", inventory["reserved"], _reserved(inventory), f"reserved {human(rc, inventory['reserved'])}")
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
            room_here = asked.get(provider, {}).get(rc)
            if room_here:
                bar.asked = Segment("asked", room_here["asked"], room_here["asked"], "")
                bar.free, bar.refused = room_here["free"], room_here["refused"]
                bar.asked.label = bar.asked_text
            _size(bar)
            bars.append(bar)
        result[provider] = bars
    return result


def _size(bar):
    """Segment widths in percent of the bar's scale, one after the other, clipped at its end;
    what the resize asked for comes last, so a request that does not fit runs off the bar."""
    start = 0.0
    for segment in bar.segments + bar.missing + ([bar.asked] if bar.asked else []):
        share = 100 * segment.size / bar.scale.shown
        segment.width = round(max(0.0, min(share, 100 - start)), 3)
        if start + share > 100 + 1e-9 and segment is not bar.asked:
            bar.overflow = True
        start = min(100.0, start + share)
