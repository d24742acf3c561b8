"""Placement's rules: capacity, inventory constraints and writes, usages, consumer
generations, allocation candidates, and atomic multi-consumer writes.

Every write runs in one transaction and locks the providers it touches (in id
order) and the consumers it replaces, so concurrent writers can neither
oversubscribe a provider nor overwrite each other's consumers silently: a stale
consumer generation is a 409 ``placement.concurrent_update``.
"""
import json
import uuid as uuidlib
from collections import Counter

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Prefetch, Q, Sum, Value
from django.db.models.functions import Coalesce

from .models import Allocation, Consumer, Inventory, ResourceProvider
from .states import RESOURCE_CLASSES


CONFLICT = "There was a conflict when trying to complete your request."


class PlacementError(Exception):
    """An error response of the placement API."""

    status = 400
    title = "Bad Request"
    # webob's explanation of the status, which Placement's responses put before the detail.
    explanation = "The server could not comply with the request since it is either malformed or otherwise incorrect."
    code = "placement.undefined_code"

    def __init__(self, detail):
        self.detail = detail
        super().__init__(detail)

    def document(self, request_id=None):
        """Placement's error document: ``{"errors": [{status, title, detail, code[, request_id]}]}``."""
        error = {"status": self.status, "title": self.title, "detail": self.detail, "code": self.code}
        if request_id is not None:
            error["request_id"] = request_id
        return {"errors": [error]}

    def body(self):
        """The JSON error document Placement sends (what Nova puts in its errors): webob renders the
        detail after the status's explanation, and each request gets its own request id."""
        document = self.document(request_id=f"req-{uuidlib.uuid4()}")
        document["errors"][0]["detail"] = f"{self.explanation}\n\n {self.detail}  "
        return json.dumps(document)


class ConcurrentUpdate(PlacementError):
    status = 409
    title = "Conflict"
    explanation = CONFLICT
    code = "placement.concurrent_update"


class AllocationConflict(PlacementError):
    """Capacity or constraints violated: ``Unable to allocate inventory: ...``."""

    status = 409
    title = "Conflict"
    explanation = CONFLICT


class InventoryInUse(PlacementError):
    """An inventory that consumers still allocate from cannot be deleted."""

    status = 409
    title = "Conflict"
    explanation = CONFLICT
    code = "placement.inventory.inuse"


class InvalidInventory(PlacementError):
    """An inventory record that breaks Placement's rules; ``field`` is the one at fault."""

    def __init__(self, field, detail):
        self.field = field
        super().__init__(detail)


class NotFound(PlacementError):
    """No such resource class, resource provider or inventory."""

    status = 404
    title = "Not Found"
    explanation = "The resource could not be found."


# The fields of an inventory record, as Placement names them.
INVENTORY_FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")


def inventory_record(inventory):
    """One inventory as Placement shows it, plus its capacity."""
    return {**{name: getattr(inventory, name) for name in INVENTORY_FIELDS}, "capacity": inventory.capacity}


def provider_inventories(provider):
    """{resource class: ``inventory_record``} of a provider (``provider.inventories``, so a prefetch serves)."""
    return {inv.resource_class: inventory_record(inv) for inv in provider.inventories.all()}


def get_inventory(provider, resource_class):
    """``GET /resource_providers/{uuid}/inventories/{rc}``: its ``inventory_record``, or NotFound."""
    check_resource_class(resource_class)
    inventory = provider.inventories.filter(resource_class=resource_class).first()
    if inventory is None:
        raise _no_inventory(provider, resource_class)
    return inventory_record(inventory)


def _no_inventory(provider, resource_class):
    return NotFound(f"No inventory of {resource_class} for resource provider {provider.uuid}.")


def check_resource_class(resource_class):
    """Raise NotFound for a resource class Placement does not know."""
    if resource_class not in RESOURCE_CLASSES:
        raise NotFound(f"No resource class {resource_class} (known: {', '.join(RESOURCE_CLASSES)}).")


def check_inventory(record):
    """Raise InvalidInventory for a record (every field of ``INVENTORY_FIELDS``) Placement refuses:
    reserved above total, min_unit above max_unit."""
    if record["reserved"] > record["total"]:
        raise InvalidInventory("reserved", "The reserved value is greater than total.")
    if record["min_unit"] > record["max_unit"]:
        raise InvalidInventory("min_unit", "min_unit is greater than max_unit.")


def _locked(provider):
    """The provider, read again and locked for the rest of the transaction."""
    locked = ResourceProvider.objects.select_for_update().filter(pk=provider.pk).first()
    if locked is None:
        raise NotFound(f"No resource provider {provider.uuid}.")
    return locked


def _bump_generations(providers):
    """Bump the providers' generations in one UPDATE, and on the objects too."""
    ResourceProvider.objects.filter(pk__in=[p.pk for p in providers]).update(generation=F("generation") + 1)
    for provider in providers:
        provider.generation += 1


def set_inventory(provider, resource_class, record, generation=None):
    """``PUT /resource_providers/{uuid}/inventories/{rc}``: create or replace one class's inventory
    from ``record`` (every field of ``INVENTORY_FIELDS``; any other key is ignored).

    ``generation`` is the provider generation the write is based on (None: any); a stale one is
    ConcurrentUpdate and writes nothing. Returns the provider, its generation bumped.
    """
    check_resource_class(resource_class)
    check_inventory(record)
    with transaction.atomic():
        provider = _locked(provider)
        if generation is not None and generation != provider.generation:
            raise ConcurrentUpdate("resource provider generation conflict")
        Inventory.objects.update_or_create(
            provider=provider,
            resource_class=resource_class,
            defaults={name: record[name] for name in INVENTORY_FIELDS},
        )
        _bump_generations([provider])
    return provider


def delete_inventory(provider, resource_class):
    """``DELETE /resource_providers/{uuid}/inventories/{rc}``: refused (InventoryInUse) while
    anything is allocated from it, NotFound when there is none. Returns the provider, its
    generation bumped."""
    check_resource_class(resource_class)
    with transaction.atomic():
        provider = _locked(provider)
        if Allocation.objects.filter(provider=provider, resource_class=resource_class).exists():
            raise InventoryInUse(
                f"Unable to delete inventory of class {resource_class} for resource provider {provider.uuid}: "
                "it has allocations."
            )
        deleted, _ = Inventory.objects.filter(provider=provider, resource_class=resource_class).delete()
        if not deleted:
            raise _no_inventory(provider, resource_class)
        _bump_generations([provider])
    return provider


def refusal(record, used, amount):
    """Why Placement would not fit ``amount`` on an inventory (an ``inventory_record``) holding
    ``used``, or None when it fits."""
    if amount > record["max_unit"]:
        return f"above max_unit {record['max_unit']}"
    if amount < record["min_unit"]:
        return f"below min_unit {record['min_unit']}"
    if amount % record["step_size"]:
        return f"not a multiple of step_size {record['step_size']}"
    if used + amount > record["capacity"]:
        return "more than is free"
    return None


def check_constraints(inventory, amount, provider_uuid):
    """Reject an amount outside min_unit/max_unit or off the step_size."""
    if (
        amount < inventory.min_unit
        or amount > inventory.max_unit
        or amount % inventory.step_size != 0
    ):
        raise AllocationConflict(
            "Unable to allocate inventory: Unable to create allocation for "
            f"'{inventory.resource_class}' on resource provider '{provider_uuid}'. "
            "The requested amount would violate inventory constraints."
        )


def _capacity_exceeded(inventory, provider_uuid):
    return AllocationConflict(
        "Unable to allocate inventory: Unable to create allocation for "
        f"'{inventory.resource_class}' on resource provider '{provider_uuid}'. "
        "The requested amount would exceed the capacity."
    )


def used_by_provider(provider_ids):
    """{(provider_id, resource_class): used} in one query."""
    rows = (
        Allocation.objects.filter(provider_id__in=provider_ids)
        .values_list("provider_id", "resource_class")
        .annotate(total=Sum("used"))
    )
    return {(pid, rc): total for pid, rc, total in rows}


def _with_usage(inventories):
    """The inventories (a queryset), each annotated with ``used``: what every consumer holds of
    its class on its provider."""
    return inventories.annotate(
        used=Coalesce(
            Sum("provider__allocations__used", filter=Q(provider__allocations__resource_class=F("resource_class"))),
            0,
        )
    )


def usages(provider):
    """``GET /resource_providers/{uuid}/usages``: classes with inventory and no allocation are 0."""
    return {inv.resource_class: inv.used for inv in _with_usage(provider.inventories.order_by("resource_class"))}


def cloud_usages(cloud):
    """{provider name: {VCPU, MEMORY_MB, DISK_GB}} for every provider of a cloud, in one query."""
    totals = {
        rc: Coalesce(Sum("allocations__used", filter=Q(allocations__resource_class=rc)), 0) for rc in RESOURCE_CLASSES
    }
    rows = (
        ResourceProvider.objects.filter(cloud=cloud)
        .annotate(**totals)
        .order_by("name")
        .values_list("name", *RESOURCE_CLASSES)
    )
    return {name: dict(zip(RESOURCE_CLASSES, used)) for name, *used in rows}


def _allocations_of(consumer_uuids, cloud=None):
    """{consumer uuid: its ``get_allocations`` document} for those of the consumers that exist (in
    ``cloud``, when given), in one query (a consumer holding nothing is a single row without
    allocation)."""
    consumers = Consumer.objects.filter(uuid__in=consumer_uuids)
    if cloud is not None:
        consumers = consumers.filter(cloud=cloud)
    rows = (
        consumers
        .order_by("allocations__provider_id", "allocations__resource_class")
        .values_list(
            "uuid",
            "generation",
            "consumer_type",
            "project_id",
            "user_id",
            "allocations__provider__uuid",
            "allocations__provider__generation",
            "allocations__resource_class",
            "allocations__used",
        )
    )
    documents = {}
    for consumer_uuid, generation, consumer_type, project_id, user_id, rp_uuid, rp_generation, rc, used in rows:
        document = documents.setdefault(
            str(consumer_uuid),
            {
                "allocations": {},
                "consumer_generation": generation,
                "consumer_type": consumer_type,
                "project_id": project_id,
                "user_id": user_id,
            },
        )
        if rp_uuid is not None:
            entry = document["allocations"].setdefault(str(rp_uuid), {"resources": {}, "generation": rp_generation})
            entry["resources"][rc] = used
    return documents


def get_allocations(consumer_uuid, cloud=None):
    """``GET /allocations/{consumer}``; an unknown consumer (or one of another cloud than ``cloud``,
    when given) has ``{"allocations": {}}``."""
    return next(iter(_allocations_of([consumer_uuid], cloud).values()), {"allocations": {}})


def provider_allocations(provider):
    """``GET /resource_providers/{uuid}/allocations``: {consumer uuid: {"resources": {rc: used},
    "consumer_generation"}} of every consumer holding something on ``provider``, in one query."""
    rows = (
        Allocation.objects.filter(provider=provider)
        .order_by("consumer_id", "resource_class")
        .values_list("consumer__uuid", "consumer__generation", "resource_class", "used")
    )
    allocations = {}
    for consumer_uuid, generation, rc, used in rows:
        entry = allocations.setdefault(str(consumer_uuid), {"resources": {}, "consumer_generation": generation})
        entry["resources"][rc] = used
    return allocations


def total_usages(cloud, project_id, user_id=None):
    """``GET /usages?project_id=&user_id=``: {rc: used} summed over the allocations of the
    project's consumers in ``cloud`` (of that user's only, with ``user_id``), in one query; a
    class nobody allocates is absent."""
    return dict(
        _project_allocations(cloud, project_id, user_id)
        .order_by("resource_class")
        .values_list("resource_class")
        .annotate(total=Sum("used"))
    )


def total_usages_by_consumer_type(cloud, project_id, user_id=None, consumer_type=None):
    """``GET /usages`` from microversion 1.38: {consumer type: {rc: used, "consumer_count": n}}.

    ``consumer_type`` keeps one type; ``"all"`` groups every consumer under the key ``all``;
    ``"unknown"`` keeps the consumers without a type (a consumer here always has one). Two queries.
    """
    if consumer_type == "unknown":
        return {}
    allocations = _project_allocations(cloud, project_id, user_id)
    if consumer_type not in (None, "all"):
        allocations = allocations.filter(consumer__consumer_type=consumer_type)
    group = Value("all") if consumer_type == "all" else F("consumer__consumer_type")
    grouped = allocations.annotate(group=group).order_by()
    counts = dict(grouped.values_list("group").annotate(count=Count("consumer", distinct=True)))
    usages = {}
    rows = grouped.values_list("group", "resource_class").annotate(total=Sum("used")).order_by("group", "resource_class")
    for name, rc, total in rows:
        usages.setdefault(name, {})[rc] = total
        usages[name]["consumer_count"] = counts[name]
    return usages


def _project_allocations(cloud, project_id, user_id=None):
    allocations = Allocation.objects.filter(consumer__cloud=cloud, consumer__project_id=project_id)
    if user_id:
        allocations = allocations.filter(consumer__user_id=user_id)
    return allocations


def post_allocations(cloud, payload):
    """``POST /allocations``: replace the allocations of several consumers atomically.

    ``payload`` is ``{consumer_uuid: {"allocations": {rp_uuid: {"resources": {rc: n}}},
    "consumer_generation": int|None, "consumer_type", "project_id", "user_id"}}``.
    An empty allocation set deletes the consumer.
    """
    try:
        with transaction.atomic():
            _write(cloud, payload)
    except IntegrityError:
        # Another writer created one of these consumers first (we sent null).
        raise ConcurrentUpdate("consumer generation conflict - expected 1 but got None") from None


def put_allocations(cloud, consumer_uuid, allocations, consumer_generation, consumer_type, project_id, user_id):
    """``PUT /allocations/{consumer}``: replace one consumer's allocations wholesale."""
    post_allocations(
        cloud,
        {
            str(consumer_uuid): {
                "allocations": allocations,
                "consumer_generation": consumer_generation,
                "consumer_type": consumer_type,
                "project_id": project_id,
                "user_id": user_id,
            }
        },
    )


def _write(cloud, payload):
    """``post_allocations``'s write, inside its transaction: lock the consumers, then every
    provider they hold or are given (in id order); check it all; then write."""
    consumer_uuids = [str(u) for u in payload]
    consumers = {
        str(c.uuid): c for c in Consumer.objects.select_for_update().filter(uuid__in=consumer_uuids)
    }
    for consumer_uuid, body in payload.items():
        consumer = consumers.get(str(consumer_uuid))
        sent = body.get("consumer_generation")
        if consumer is None and sent is not None:
            raise ConcurrentUpdate(f"consumer generation conflict - expected null but got {sent}")
        if consumer is not None and sent != consumer.generation:
            raise ConcurrentUpdate(
                f"consumer generation conflict - expected {consumer.generation} but got {sent}"
            )

    # What the consumers hold now: the write frees it, so its providers are locked too.
    held = Allocation.objects.filter(consumer__in=consumers.values()).values_list(
        "provider_id", "provider__uuid", "resource_class", "used"
    )
    freed = Counter()  # (provider id, rc) -> amount
    provider_uuids = {str(rp_uuid) for body in payload.values() for rp_uuid in body["allocations"]}
    for provider_id, rp_uuid, rc, amount in held:
        freed[provider_id, rc] += amount
        provider_uuids.add(str(rp_uuid))

    providers = {
        str(p.uuid): p
        for p in ResourceProvider.objects.select_for_update().filter(cloud=cloud, uuid__in=provider_uuids).order_by("id")
    }
    missing = provider_uuids - set(providers)
    if missing:
        raise PlacementError(
            "Unable to allocate inventory: resource provider %s not found." % ", ".join(sorted(missing))
        )
    by_pk = {p.pk: p for p in providers.values()}
    inventories = {
        (inv.provider_id, inv.resource_class): inv
        for inv in _with_usage(Inventory.objects.filter(provider__in=providers.values()))
    }

    requested = Counter()  # (provider id, rc) -> amount over all consumers of the write
    for body in payload.values():
        for rp_uuid, entry in body["allocations"].items():
            provider = providers[str(rp_uuid)]
            for rc, amount in entry["resources"].items():
                key = (provider.pk, rc)
                inventory = inventories.get(key)
                if inventory is None:
                    raise AllocationConflict(
                        f"Unable to allocate inventory: Inventory for '{rc}' on resource provider "
                        f"'{provider.uuid}' invalid."
                    )
                check_constraints(inventory, amount, provider.uuid)
                requested[key] += amount

    for key, amount in requested.items():
        inventory = inventories[key]
        new_used = inventory.used - freed[key] + amount
        # Over capacity (``used`` is before the write) is tolerated only if the write does not
        # make the overage worse.
        if new_used > inventory.capacity and new_used > inventory.used:
            raise _capacity_exceeded(inventory, by_pk[key[0]].uuid)

    # A consumer left with nothing is deleted (its allocations with it); the others' are replaced.
    kept, allocations = [], []
    for consumer_uuid, body in payload.items():
        consumer = consumers.get(str(consumer_uuid))
        if not any(entry["resources"] for entry in body["allocations"].values()):
            if consumer:
                consumer.delete()
            continue
        if consumer is None:
            consumer = Consumer.objects.create(
                cloud=cloud,
                uuid=consumer_uuid,
                consumer_type=body["consumer_type"],
                generation=1,
                project_id=body["project_id"],
                user_id=body["user_id"],
            )
        else:
            kept.append(consumer)
            consumer.generation += 1
            consumer.consumer_type = body.get("consumer_type") or consumer.consumer_type
            consumer.project_id, consumer.user_id = body["project_id"], body["user_id"]
            consumer.save(update_fields=["generation", "consumer_type", "project_id", "user_id"])
        allocations.extend(
            Allocation(provider=providers[str(rp_uuid)], consumer=consumer, resource_class=rc, used=amount)
            for rp_uuid, entry in body["allocations"].items()
            for rc, amount in entry["resources"].items()
        )
    Allocation.objects.filter(consumer__in=kept).delete()
    Allocation.objects.bulk_create(allocations)
    _bump_generations(providers.values())


def simulate_concurrent_update(cloud, consumer_uuid):
    """Another writer touches the consumer: its generation moves on, so a writer
    holding the old generation gets 409 ``placement.concurrent_update``."""
    consumer = Consumer.objects.select_for_update().filter(uuid=consumer_uuid).first()
    if consumer is None:
        Consumer.objects.create(
            cloud=cloud, uuid=consumer_uuid, consumer_type="INSTANCE", generation=0, project_id="", user_id=""
        )
    else:
        consumer.generation += 1
        consumer.save(update_fields=["generation"])


def move_allocations(cloud, source_uuid, target_uuid, target_type, race=False):
    """Move everything ``source`` holds to ``target`` in one POST, overwriting ``target``.

    Returns False when the source holds nothing. With ``race`` a concurrent writer
    updates the source between the read and the write.
    """
    documents = _allocations_of([source_uuid, target_uuid])
    source = documents.get(str(source_uuid), {"allocations": {}})
    if not source["allocations"]:
        return False
    target = documents.get(str(target_uuid), {})
    if race:
        simulate_concurrent_update(cloud, source_uuid)
    resources = {rp: {"resources": entry["resources"]} for rp, entry in source["allocations"].items()}
    post_allocations(
        cloud,
        {
            str(source_uuid): {
                "allocations": {},
                "consumer_generation": source["consumer_generation"],
                "consumer_type": source["consumer_type"],
                "project_id": source["project_id"],
                "user_id": source["user_id"],
            },
            str(target_uuid): {
                "allocations": resources,
                "consumer_generation": target.get("consumer_generation"),
                "consumer_type": target_type,
                "project_id": source["project_id"],
                "user_id": source["user_id"],
            },
        },
    )
    return True


def delete_allocations(cloud, consumer_uuid, race=False):
    """Delete a consumer's allocations with its current generation (``force=False``).

    Returns False when it held none. With ``race`` a concurrent writer updates it
    between the read and the write.
    """
    current = get_allocations(consumer_uuid)
    if not current["allocations"]:
        return False
    if race:
        simulate_concurrent_update(cloud, consumer_uuid)
    post_allocations(
        cloud,
        {
            str(consumer_uuid): {
                "allocations": {},
                "consumer_generation": current["consumer_generation"],
                "consumer_type": current["consumer_type"],
                "project_id": current["project_id"],
                "user_id": current["user_id"],
            }
        },
    )
    return True


def allocation_candidates(cloud, resources, provider_names=None, limit=1000):
    """``GET /allocation_candidates``: providers where every requested amount fits.

    Returns ``[{"provider": rp, "allocation_request": {...}, "summary": {rc: {"capacity", "used"}}}]``
    in provider-name order, at most ``limit``.
    """
    providers = ResourceProvider.objects.filter(cloud=cloud).select_related("host").order_by("name")
    if provider_names is not None:
        providers = providers.filter(name__in=provider_names)
    providers = providers.prefetch_related(Prefetch("inventories", queryset=_with_usage(Inventory.objects.all())))
    candidates = []
    for provider in providers:
        inventories = {inv.resource_class: inv for inv in provider.inventories.all()}
        summary = {}
        fits = True
        for rc, amount in resources.items():
            inventory = inventories.get(rc)
            if inventory is None:
                fits = False
                break
            summary[rc] = {"capacity": inventory.capacity, "used": inventory.used}
            if refusal(inventory_record(inventory), inventory.used, amount):
                fits = False
                break
        if fits:
            candidates.append(
                {
                    "provider": provider,
                    "allocation_request": {str(provider.uuid): {"resources": dict(resources)}},
                    "summary": summary,
                }
            )
    return candidates[:limit]
