"""Following a run from the command line."""
import time

from simulator.models import Run
from simulator.report import build_report, format_step
from simulator.tasks import queue_for


def follow(run_id, write, timeout, poll=0.2):
    """Print each step as it completes until the run ends; False on timeout."""
    shown, waiting_shown = 0, None
    deadline = time.monotonic() + timeout
    while True:
        run = Run.objects.select_related("cloud", "server").get(pk=run_id)
        report = build_report(run)
        for step in report["steps"][shown:]:
            write(format_step(step))
        shown = len(report["steps"])
        if run.is_finished:
            return True
        if run.next_step and not run.executing and (run.next_step, run.seq) != waiting_shown:
            waiting_shown = (run.next_step, run.seq)
            write(f"     … {run.next_step} queued on {queue_for(run.next_step, run.next_host)}")
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
