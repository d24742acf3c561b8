"""Running a resize: the request, then one step per RPC cast, then the report.

``start_run`` does what nova-api does synchronously (validation, the server's
task_state, the instance action) in one transaction with the run's cloud, so a
rejected request leaves nothing behind. Each later step is one transaction that
loads everything from the database, executes one Nova function, records the
cast it hands on and advances the run's ``seq``: a step delivered twice finds
the run past its seq and does nothing.
"""
from django.db import transaction
from django.utils import timezone

from . import api, compute, conductor, scenarios
from .api import RequestRejected
from .audit import audit_cloud
from .context import API, StepContext
from .models import Run, RunStatus, RunStep
from .report import build_report, snapshot
from .states import VmState

STEPS = {
    "conductor.migrate_server": conductor.migrate_server,
    "compute.prep_resize": compute.prep_resize,
    "compute.resize_instance": compute.resize_instance,
    "compute.finish_resize": compute.finish_resize,
    "api.confirm_resize": api.confirm_resize,
    "compute.confirm_resize": compute.confirm_resize,
    "api.revert_resize": api.revert_resize,
    "compute.revert_resize": compute.revert_resize,
    "compute.finish_revert_resize": compute.finish_revert_resize,
}


class InvalidRun(Exception):
    """The run was refused: bad parameters (400) or the API said no (400/409)."""

    def __init__(self, field, message, status=400):
        self.field = field
        self.message = message
        self.status = status
        super().__init__(message)


def start_run(scenario, overrides):
    """Validate, build the cloud, take the 'before' snapshot and send the resize request."""
    try:
        params = scenarios.resolve(scenario, overrides)
    except scenarios.ParamError as error:
        raise InvalidRun(error.field, error.message) from error
    try:
        with transaction.atomic():
            run = Run.objects.create(scenario=scenario, params=params)
            cloud, server = scenarios.prepare(run, params)
            run.cloud, run.server = cloud, server
            run.before = snapshot(cloud)
            run.context = {}
            ctx = StepContext(run, API)
            api.resize(ctx, params["new_flavor"])
            run.context = ctx.state
            run.next_step, run.next_host = ctx.next_cast
            run.seq = 1
            run.save()
    except scenarios.ParamError as error:
        raise InvalidRun(error.field, error.message) from error
    except RequestRejected as error:
        raise InvalidRun(error.field, error.message, error.status) from error
    return run


def execute_step(run_id, seq):
    """Execute the step ``seq`` of a run. Returns the next seq, or None when the run is over
    (or this step was already executed)."""
    with transaction.atomic():
        run = Run.objects.select_for_update(of=("self",)).select_related("cloud").get(pk=run_id)
        if run.seq != seq or not run.next_step or run.status in (RunStatus.DONE, RunStatus.CRASHED):
            return None
        name, host = run.next_step, run.next_host
        if run.status == RunStatus.QUEUED:
            run.status = RunStatus.RUNNING
            run.started = timezone.now()
        ctx = StepContext(run, host)
        started = timezone.now()
        failure = None
        try:
            STEPS[name](ctx)
        except RequestRejected as error:
            failure = error
            ctx.log("WARNING", "Request refused (%s): %s", error.status, error.message)
        except Exception as error:  # an RPC cast: the caller never sees it
            failure = error
        failure = failure or (ctx.event_errors[0] if ctx.event_errors else None)
        RunStep.objects.create(
            run=run,
            seq=seq,
            name=name,
            host=host,
            started=started,
            finished=timezone.now(),
            failed=failure is not None,
            error=str(failure)[:255] if failure else "",
            log=ctx.log_lines,
        )
        next_cast = ctx.next_cast or _user_action(ctx)
        run.context = ctx.state
        run.seq = seq + 1
        if next_cast:
            run.next_step, run.next_host = next_cast
        else:
            run.next_step, run.next_host = "", ""
            _finish(run)
        run.save()
        return run.seq if next_cast else None


def _user_action(ctx):
    """After a resize reaches VERIFY_RESIZE, the user confirms or reverts it if asked to."""
    then = ctx.params.get("then")
    server = ctx.server
    if then in ("confirm", "revert") and not ctx.state.get("then_sent"):
        if server.vm_state == VmState.RESIZED and server.task_state is None:
            ctx.state["then_sent"] = True
            return (f"api.{then}_resize", API)
    return None


def _finish(run):
    run.after = snapshot(run.cloud)
    run.audit = audit_cloud(run.cloud)
    run.status = RunStatus.DONE
    run.finished = timezone.now()
    run.verdict = scenarios.verdict(run.scenario, run.params, build_report(run))


def run_to_completion(run):
    """Execute every step of a run in this process, one transaction each."""
    seq = run.seq
    while seq is not None:
        seq = execute_step(run.pk, seq)
    run.refresh_from_db()
    return run
