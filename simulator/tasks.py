"""The pipeline's steps as Celery tasks, routed like Nova's RPC topics.

Each step is its own task (``nova.compute.prep_resize``, ...). Conductor steps go
to the ``conductor`` queue, API requests (confirm/revert) to ``api``, and compute
steps to ``compute.<host>``, so a worker consuming one host's queue is that
host's nova-compute. Messages carry ids only; a step sends its successor after
its transaction commits.
"""
import logging
import uuid

from celery import shared_task
from django.db import OperationalError as DatabaseBusy
from django.db import transaction
from kombu.exceptions import OperationalError

from .campaigns import dispatch
from .conformance import run_checks
from .models import ConformanceCheck, Run
from .pipeline import STEPS, Delivery, execute_step
from .states import ConformanceStatus

LOG = logging.getLogger("simulator")
CONFORMANCE_QUEUE = "conformance"  # replays in real Nova: slow, so apart from the steps


def queue_for(step, host):
    """The queue of a cast: ``conductor``, ``api`` or ``compute.<host>``."""
    service = step.split(".", 1)[0]
    return f"compute.{host}" if service == "compute" else service


def cast(run_id, seq, step, host, task_id):
    """Send a cast. If the broker is unreachable the message is lost; the reaper sends it again."""
    try:
        STEP_TASKS[step].apply_async((run_id, seq), queue=queue_for(step, host), task_id=task_id)
    except (OperationalError, OSError) as error:
        LOG.error("Could not send %s for run %s (%s); the reaper will send it again.", step, run_id, error)


def revoke(task_id):
    """Tell the workers to drop a cast (an aborted run's); the step would find the run finished anyway."""
    from celery import current_app

    try:
        current_app.control.revoke(task_id)
    except (OperationalError, OSError) as error:
        LOG.warning("Could not revoke %s (%s); the step will find its run finished.", task_id, error)


def _step_task(step):
    @shared_task(
        bind=True,
        name=f"nova.{step}",
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
        # A deadlock or a locked database rolls the step back whole: try it again.
        autoretry_for=(DatabaseBusy,),
        retry_backoff=0.2,
        max_retries=8,
    )
    def run_step(self, run_id, seq):
        delivery = Delivery(
            worker=self.request.hostname or "",
            queue=(self.request.delivery_info or {}).get("routing_key") or "",
            task_id=self.request.id or "",
        )
        try:
            execute_step(run_id, seq, delivery, on_cast=cast)
        except DatabaseBusy:
            raise
        except Exception as error:  # the step rolled back; the reaper will send it again
            Run.objects.filter(pk=run_id, seq=seq).step_failed(f"{step} failed: {error!r}")
            raise

    run_step.__doc__ = f"Execute the ``{step}`` cast of a run."
    return run_step


STEP_TASKS = {step: _step_task(step) for step in STEPS}


@shared_task(name="simulator.conformance", acks_late=True, ignore_result=True)
def conform(check_id):
    """Replay a run in real Nova 34 and compare (a worker on the ``conformance`` queue)."""
    check = ConformanceCheck.objects.select_related("run__cloud").filter(pk=check_id).first()
    if check is not None and not check.is_finished:
        run_checks([check])


def request_conformance(run):
    """Queue a conformance check of ``run``; the replay runs on a worker, never in the caller."""
    with transaction.atomic():
        check = ConformanceCheck.objects.create(run=run, scenario=run.scenario, params=run.params)
        check.task_id = str(uuid.uuid4())
        check.save(update_fields=["task_id"])
        transaction.on_commit(lambda: _send_conformance(check))
    return check


def _send_conformance(check):
    try:
        conform.apply_async((check.pk,), queue=CONFORMANCE_QUEUE, task_id=check.task_id)
    except (OperationalError, OSError) as error:
        LOG.error("Could not queue conformance check %s (%s).", check.pk, error)
        check.status, check.error = ConformanceStatus.FAILED, f"Could not reach the broker: {error}"
        check.save(update_fields=["status", "error"])


@shared_task(name="simulator.campaign_dispatch", acks_late=True, ignore_result=True)
def campaign_dispatch(campaign_id):
    """Start a campaign's next runs (on the conductor queue, like the conductor's own work)."""
    dispatch(campaign_id, on_cast=cast)


def send_dispatch(campaign_id):
    try:
        campaign_dispatch.apply_async((campaign_id,), queue="conductor")
    except (OperationalError, OSError) as error:  # the reaper wakes the campaign again
        LOG.error("Could not wake campaign %s (%s); the reaper will.", campaign_id, error)
