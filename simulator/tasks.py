"""The pipeline's steps as Celery tasks, routed like Nova's RPC topics.

Each step is its own task (``nova.compute.prep_resize``, ...). Conductor steps go
to the ``conductor`` queue, API requests (confirm/revert) to ``api``, and compute
steps to ``compute.<host>``, so a worker consuming one host's queue is that
host's nova-compute. Messages carry ids only; a step sends its successor after
its transaction commits.
"""
import logging

from celery import shared_task
from kombu.exceptions import OperationalError

from .pipeline import STEPS, Delivery, execute_step

LOG = logging.getLogger("simulator")


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


def _step_task(step):
    @shared_task(bind=True, name=f"nova.{step}", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_step(self, run_id, seq):
        delivery = Delivery(
            worker=self.request.hostname or "",
            queue=(self.request.delivery_info or {}).get("routing_key") or "",
            task_id=self.request.id or "",
        )
        execute_step(run_id, seq, delivery, on_cast=cast)

    run_step.__doc__ = f"Execute the ``{step}`` cast of a run."
    return run_step


STEP_TASKS = {step: _step_task(step) for step in STEPS}
