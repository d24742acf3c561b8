"""Nova's side of placement (``nova/scheduler/client/report.py``): placement's
409s become Nova's Allocation* exceptions."""
from . import exceptions as exc
from . import placement
from .context import PROJECT_ID, USER_ID
from .states import ConsumerType


def claim_resources(ctx, provider, resources):
    """``PUT /allocations/{instance}`` for the new flavor on ``provider``.

    False when placement refuses the amounts (capacity taken meanwhile);
    AllocationUpdateFailed on a consumer generation conflict.
    """
    consumer = ctx.server.uuid
    current = placement.get_allocations(consumer)
    if ctx.placement_race("scheduler_claim"):
        placement.simulate_concurrent_update(ctx.cloud, consumer)
    try:
        placement.put_allocations(
            ctx.cloud,
            consumer,
            {str(provider.uuid): {"resources": dict(resources)}},
            current.get("consumer_generation"),
            ConsumerType.INSTANCE,
            PROJECT_ID,
            USER_ID,
        )
    except placement.ConcurrentUpdate as error:
        # Nova words this conflict itself (trailing space included); Placement's body is dropped.
        reason = (
            "another process changed the consumer %s after the report client read the consumer state "
            "during the claim " % consumer
        )
        raise exc.AllocationUpdateFailed(consumer_uuid=consumer, error=reason) from error
    except placement.PlacementError as error:
        ctx.log("WARNING", "Unable to submit allocation for instance %s (%s)", consumer, error.detail)
        return False
    return True


def move_allocations(ctx, source, target, target_type, race_point=None):
    """Move all of ``source``'s allocations to ``target`` (overwriting it) in one POST."""
    race = bool(race_point) and ctx.placement_race(race_point)
    try:
        return placement.move_allocations(ctx.cloud, source, target, target_type, race=race)
    except placement.ConcurrentUpdate as error:
        raise exc.AllocationMoveFailed(source_consumer=source, target_consumer=target, error=error.body()) from error


def delete_allocation_for_instance(ctx, consumer, race_point=None):
    """Delete a consumer's allocations with its generation (``force=False``)."""
    race = bool(race_point) and ctx.placement_race(race_point)
    try:
        return placement.delete_allocations(ctx.cloud, consumer, race=race)
    except placement.ConcurrentUpdate as error:
        raise exc.AllocationDeleteFailed(consumer_uuid=consumer, error=error.body()) from error
