"""Running a resize: the request, then one step per RPC cast, then the report.

``start_run`` does what nova-api does synchronously (validation, the server's
task_state, the instance action) in one transaction with the run's cloud, so a
rejected request leaves nothing behind. Each later step is one transaction that
loads everything from the database, executes one Nova function, records the
cast it hands on and advances the run's ``seq``: a step delivered twice finds
the run past its seq and does nothing.
"""
import logging
import time
from dataclasses import dataclass
from functools import partial

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from . import compute, compute_api, conductor
from .cloud import prepare
from .compute_api import RequestRejected
from .context import API, StepContext
from .models import Run, RunStep
from .params import ParamError
from .report import snapshot
from .states import VmState
from .validation import resolve

STEP_LOG = logging.getLogger("simulator.steps")

STEPS = {
    "conductor.migrate_server": conductor.migrate_server,
    "compute.prep_resize": compute.prep_resize,
    "compute.resize_instance": compute.resize_instance,
    "compute.finish_resize": compute.finish_resize,
    "api.confirm_resize": compute_api.confirm_resize,
    "compute.confirm_resize": compute.confirm_resize,
    "api.revert_resize": compute_api.revert_resize,
    "compute.revert_resize": compute.revert_resize,
    "compute.finish_revert_resize": compute.finish_revert_resize,
}


@dataclass(frozen=True)
class Delivery:
    """Who executes a cast: the Celery worker, the queue it came from, the task id."""

    worker: str = ""
    queue: str = ""
    task_id: str = ""


IN_PROCESS = Delivery()


class InvalidRun(Exception):
    """The run was refused: bad parameters (400) or the API said no (400/409)."""

    def __init__(self, field, message, status=400):
        self.field = field
        self.message = message
        self.status = status
        super().__init__(message)


def start_run(scenario, overrides, on_cast=None, **fields):
    """Validate, build the cloud, take the 'before' snapshot and send the request (a resize, a cold
    migration, or a confirm or revert of a server left in VERIFY_RESIZE).

    ``on_cast(run_id, seq, step, host, task_id)`` sends the first cast once committed; ``fields``
    go on the run (its campaign and entry).
    """
    try:
        params = resolve(scenario, overrides)
    except ParamError as error:
        raise InvalidRun(error.field, error.message) from error
    try:
        with transaction.atomic():
            run = Run.objects.create(scenario=scenario, params=params, **fields)
            cloud, server = prepare(run, params)
            run.cloud, run.server = cloud, server
            run.before = snapshot(cloud)
            run.pipeline_state = {}
            ctx = StepContext(run, API, IN_PROCESS)
            compute_api.request(ctx)
            run.pipeline_state = ctx.state
            run.seq = 1
            run.hand_on(ctx.next_cast, on_cast)
            run.save()
    except ParamError as error:
        raise InvalidRun(error.field, error.message) from error
    except RequestRejected as error:
        raise InvalidRun(error.field, error.message, error.status) from error
    return run


def execute_step(run_id, seq, delivery=IN_PROCESS, on_cast=None):
    """Execute the cast ``seq`` of a run; its successor goes to ``on_cast``.

    Returns the next seq, or None when the run is over or this cast was already
    executed (a redelivered message).
    """
    pending = Run.objects.filter(pk=run_id, seq=seq).unfinished().exclude(next_step="")
    params = pending.values_list("params", flat=True).first()
    if params is None:
        return None
    now = timezone.now()
    if delay := params.get("step_delay"):  # the simulated duration of the step's work, shown as executing on its worker
        pending.executing(delivery.worker or "in-process", now)
        time.sleep(delay)

    with transaction.atomic():
        run = Run.objects.select_for_update(of=("self",)).select_related("cloud").get(pk=run_id)
        if run.seq != seq or not run.next_step or run.is_finished:
            return None
        run.start_step(now)
        name, host = run.next_step, run.next_host
        ctx = StepContext(run, host, delivery)
        started = now
        failure = None
        busy = _DatabaseBusy()
        try:
            with connection.execute_wrapper(busy):
                STEPS[name](ctx)
        except RequestRejected as error:
            failure = error
            ctx.log("WARNING", "Request refused (%s): %s", error.status, error.message)
        except Exception as error:  # an RPC cast: the caller never sees it
            failure = error
        if busy.error is not None:  # whatever Nova's handlers made of it: roll the step back whole
            raise busy.error
        failure = failure or ctx.rescheduled_from
        step = RunStep.objects.create(
            run=run,
            seq=seq,
            name=name,
            host=host,
            queued=run.dispatched,
            started=started,
            finished=timezone.now(),
            worker=delivery.worker,
            queue=delivery.queue,
            task_id=delivery.task_id,
            failed=failure is not None,
            error=str(failure)[:255] if failure else "",
            log=ctx.log_lines,
        )
        transaction.on_commit(partial(log_step, step))
        next_cast = ctx.next_cast or _user_action(ctx)
        run.pipeline_state = ctx.state
        run.seq = seq + 1
        run.executing = run.error = ""
        if next_cast:
            run.hand_on(next_cast, on_cast)
            run.save(update_fields=Run.STEP_FIELDS)
        else:
            run.finish()
            run.save()
        return run.seq if next_cast else None


def log_step(step):
    """One line per executed step: the run, the step, where and by whom, how long it waited on its
    queue and how long it took, and how it ended."""
    waited = (step.started - step.queued).total_seconds() * 1000 if step.queued else 0.0
    took = (step.finished - step.started).total_seconds() * 1000
    STEP_LOG.info(
        "run %s step %s %s on %s by %s: waited %.1f ms, took %.1f ms, %s",
        step.run_id, step.seq, step.name, step.host, step.worker or "in-process", waited, took,
        f"failed: {step.error}" if step.failed else "ok",
    )


class _DatabaseBusy:
    """Remembers a deadlock or a locked database met by any query of a step, even one Nova's
    failure handling went on to catch: such a step is rolled back and run again (as oslo.db
    retries a deadlock under Nova), never recorded as the instance's fault."""

    def __init__(self):
        self.error = None

    def __call__(self, execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except OperationalError as error:
            self.error = self.error or error
            raise


def _user_action(ctx):
    """After a resize reaches VERIFY_RESIZE, the user confirms or reverts it if asked to."""
    then = ctx.params.get("then")
    server = ctx.server
    if then in ("confirm", "revert") and not ctx.state.get("then_sent"):
        if server.vm_state == VmState.RESIZED and server.task_state is None:
            ctx.state["then_sent"] = True
            return (f"api.{then}_resize", API)
    return None


class AlreadyFinished(Exception):
    """The run to abort has already ended."""


def abort(run_id, who):
    """Stop an unfinished run at the cast it is waiting on: it ends ``crashed`` with the verdict
    "aborted". Returns the run and the task id of the cast that will now find it finished."""
    with transaction.atomic():
        run = Run.objects.select_for_update(of=("self",)).select_related("cloud").get(pk=run_id)
        if run.is_finished:
            raise AlreadyFinished(f"Run {run.pk} is already {run.status}.")
        task_id, step = run.task_id, run.next_step
        run.crash(f"Aborted by {who} before {step}.", aborted=True)
        run.save()
    return run, task_id


def run_to_completion(run):
    """Execute every remaining step of a run in this process, one transaction each."""
    run.refresh_from_db()
    seq = run.seq
    while seq is not None:
        seq = execute_step(run.pk, seq)
    run.refresh_from_db()
    return run
