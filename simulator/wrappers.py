"""Nova's failure-handling wrappers (``nova/compute/manager.py``, ``nova/compute/utils.py``).

They stack on each step exactly as in Nova, so the order of side effects on a
failure (vm_state, allocations, fault, migration status, event, task_state) is
Nova's.
"""
import contextlib
import functools
import traceback
from pathlib import Path

from django.db.models import Subquery

from . import exceptions as exc
from .models import InstanceActionEvent, InstanceFault
from .states import MigrationStatus, VmState

_ROOT = str(Path(__file__).resolve().parent.parent) + "/"


def format_traceback(error):
    """The formatted traceback, with file names relative to the project (a fault's details)."""
    return "".join(traceback.format_exception(error)).replace(_ROOT, "")


def format_frames(error):
    """The traceback's frames alone, as Nova keeps an instance action event's (``format_tb``: no
    "Traceback" line and no exception line; the event's details say what was raised)."""
    return "".join(traceback.format_tb(error.__traceback__)).replace(_ROOT, "")


def add_instance_fault_from_exc(ctx, error):
    """Record the fault Nova records: details only for code 500."""
    code, message = exc.fault_fields(error)
    return InstanceFault.objects.create(
        server=ctx.server,
        code=code,
        message=message,
        details=format_traceback(error) if code == 500 else "",
        host=ctx.service,
        created=ctx.now(),
    )


@contextlib.contextmanager
def event_reporter(ctx, event_name):
    """``EventReporter``: ``action_event_start`` always adds a row; the finish goes
    through ``_finish_event``."""
    InstanceActionEvent.objects.create(
        action_id=ctx.state["action_id"],
        event=event_name,
        host=ctx.service,
        start_time=ctx.now(),
        worker=ctx.delivery.worker,
        queue=ctx.delivery.queue,
    )
    try:
        yield
    except Exception as error:
        _finish_event(ctx, event_name, error)
        raise
    _finish_event(ctx, event_name, None)


def _finish_event(ctx, event_name, error):
    """``action_event_finish`` (``nova/db/main/api.py``): it updates the *first* row
    of that name in the action (``.first()``), not the row this reporter started.

    A reschedule reuses the request id, so its repeated rows are never finished and
    each later finish overwrites the first row's result. A success writes only
    ``finish_time`` and ``result``: an earlier error's traceback and details stay.
    """
    rows = InstanceActionEvent.objects.filter(action_id=ctx.state["action_id"], event=event_name)
    first = rows.order_by("id").values("id")[:1]
    finish = {"finish_time": ctx.now(), "result": "Error" if error else "Success"}
    if error:
        finish.update(traceback=format_frames(error), details=exc.fault_fields(error)[1])
        ctx.action_failed()
    InstanceActionEvent.objects.filter(pk=Subquery(first)).update(**finish)


def wrap_instance_event(prefix):
    def decorator(function):
        @functools.wraps(function)
        def wrapper(ctx, *args, **kwargs):
            with event_reporter(ctx, f"{prefix}_{function.__name__}"):
                return function(ctx, *args, **kwargs)

        return wrapper

    return decorator


def wrap_instance_fault(function):
    @functools.wraps(function)
    def wrapper(ctx, *args, **kwargs):
        try:
            return function(ctx, *args, **kwargs)
        except Exception as error:
            add_instance_fault_from_exc(ctx, error)
            raise

    return wrapper


def reverts_task_state(function):
    @functools.wraps(function)
    def wrapper(ctx, *args, **kwargs):
        try:
            return function(ctx, *args, **kwargs)
        except exc.UnexpectedTaskStateError:
            raise
        except Exception:
            previous = ctx.server.task_state
            ctx.server.task_state = None
            ctx.save_server()
            ctx.log("INFO", "Successfully reverted task state from %s on failure for instance.", previous)
            raise

    return wrapper


@contextlib.contextmanager
def errors_out_migration_ctxt(ctx):
    try:
        yield
    except Exception:
        if ctx.migration is not None:
            ctx.migration.status = MigrationStatus.ERROR
            ctx.save_migration()
        raise


def errors_out_migration(function):
    @functools.wraps(function)
    def wrapper(ctx, *args, **kwargs):
        with errors_out_migration_ctxt(ctx):
            return function(ctx, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def error_out_instance_on_exception(ctx, instance_state=VmState.ACTIVE):
    """ERROR for any exception; back to ``instance_state`` for a rollback."""
    try:
        yield
    except (NotImplementedError, exc.InstanceFaultRollback) as error:
        ctx.log("INFO", "Setting instance back to %s after: %s", instance_state, error)
        ctx.server.vm_state = instance_state
        ctx.server.task_state = None
        ctx.save_server()
        if isinstance(error, exc.InstanceFaultRollback):
            raise error.inner_exception
        raise
    except Exception:
        ctx.log("ERROR", "Setting instance vm_state to ERROR")
        ctx.server.vm_state = VmState.ERROR
        ctx.save_server()
        raise
