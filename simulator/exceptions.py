"""Nova's exceptions, as the simulator raises them.

Messages and codes follow ``nova/exception.py``. The classes report
``nova.exception`` as their module so tracebacks stored in faults and events
read like Nova's own.
"""


class NovaException(Exception):
    """Base: ``msg_fmt % kwargs`` unless an explicit message is given; code 500."""

    msg_fmt = "An unknown exception occurred."
    code = 500

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        self.kwargs.setdefault("code", self.code)
        if not message:
            message = self.msg_fmt % kwargs
        self.message = message
        super().__init__(message)

    def format_message(self):
        return self.args[0]


class Invalid(NovaException):
    msg_fmt = "Bad Request - Invalid Parameters"
    code = 400


class NotFound(NovaException):
    msg_fmt = "Resource could not be found."
    code = 404


class ServiceUnavailable(Invalid):
    msg_fmt = "Service is unavailable at this time."


class VirtualInterfaceCreateException(NovaException):
    msg_fmt = "Virtual Interface creation failed"


class ResizeError(NovaException):
    msg_fmt = "Resize error: %(reason)s"


class MigrationError(NovaException):
    msg_fmt = "Migration error: %(reason)s"


class MigrationPreCheckError(MigrationError):
    msg_fmt = "Migration pre-check error: %(reason)s"


class InstanceFaultRollback(NovaException):
    """Wraps ``inner_exception``; the instance goes back to its vm_state, not ERROR."""

    def __init__(self, inner_exception=None):
        self.inner_exception = inner_exception
        super().__init__("Instance rollback performed due to: %s" % inner_exception)


class NoValidHost(NovaException):
    msg_fmt = "No valid host was found. %(reason)s"


class MaxRetriesExceeded(NoValidHost):
    msg_fmt = "Exceeded maximum number of retries. %(reason)s"


class ComputeResourcesUnavailable(ServiceUnavailable):
    msg_fmt = "Insufficient compute resources: %(reason)s."


class UnableToMigrateToSelf(Invalid):
    msg_fmt = "Unable to migrate instance (%(instance_id)s) to current host (%(host)s)."


class ComputeHostNotFound(NotFound):
    msg_fmt = "Compute host %(host)s could not be found."


class CannotMigrateToSameHost(NovaException):
    msg_fmt = "Cannot migrate to the host where the server exists."


class FlavorExists(NovaException):
    msg_fmt = "Flavor with name %(name)s already exists."


class FlavorNotFound(NotFound):
    msg_fmt = "Flavor %(flavor_id)s could not be found."


class InstanceNotFound(NotFound):
    msg_fmt = "Instance %(instance_id)s could not be found."


class CannotResizeToSameFlavor(NovaException):
    msg_fmt = "When resizing, instances must change flavor!"


class CannotResizeDisk(NovaException):
    msg_fmt = "Server disk was unable to be resized because: %(reason)s"


class InstanceInvalidState(Invalid):
    msg_fmt = (
        "Instance %(instance_uuid)s in %(attr)s %(state)s. Cannot %(method)s while the instance is in this state."
    )


class AllocationMoveFailed(NovaException):
    msg_fmt = (
        "Failed to move allocations from consumer %(source_consumer)s to consumer "
        "%(target_consumer)s. Error: %(error)s"
    )


class AllocationDeleteFailed(NovaException):
    msg_fmt = "Failed to delete allocations for consumer %(consumer_uuid)s. Error: %(error)s"


class AllocationUpdateFailed(NovaException):
    msg_fmt = "Failed to update allocations for consumer %(consumer_uuid)s. Error: %(error)s"


class UnexpectedTaskStateError(NovaException):
    """``instance.save(expected_task_state=...)`` found another task state."""

    msg_fmt = "Conflict updating instance %(instance_uuid)s. Expected: %(expected)s. Actual: %(actual)s"


class TestingException(Exception):
    """``nova.test.TestingException``: a plain, non-Nova exception."""

    __test__ = False  # not a pytest test class


for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, Exception) and _cls.__module__ == __name__:
        _cls.__module__ = "nova.test" if _cls is TestingException else "nova.exception"


def fault_fields(exc):
    """(code, message) of the instance fault Nova records for ``exc``."""
    if isinstance(exc, NovaException):
        return exc.kwargs["code"], exc.format_message()[:255]
    return 500, type(exc).__name__


# Failures that say there was no room: the scheduler found no host, or a host's claim failed.
ROOM_FAILURES = tuple(cls.msg_fmt.split("%(")[0] for cls in (NoValidHost, MaxRetriesExceeded, ComputeResourcesUnavailable))


def about_room(message):
    """Whether a fault's message says a resize found no room."""
    return message.startswith(ROOM_FAILURES)
