"""Job kinds for the tests only, registered when this module is imported (also by a
worker process started by a test, through `run_slow`)."""

import os
import time

from diary.audit.models import AuditAction, AuditEvent
from diary.jobs import runner


def echo(context):
    """Writes its input back as its output, in the pieces it was stored in."""
    total = context.params.get("steps", 3)
    for _step in context.counted(range(total), total, "Echoing"):
        pass
    context.write_output("echo.txt", "text/plain", context.input_pieces())
    return f"Echoed {total} steps."


def refuse(context):
    raise runner.JobRefused("Line 3: the study ID DEMO-999 is not enrolled.")


def crash(context):
    raise RuntimeError("a bug")


def slow_once(context):
    """Takes a few seconds, says which process runs it, then commits its one effect
    (an audit event) with its "done"."""
    steps = context.params.get("steps", 10)
    for step in range(steps):
        context.progress(step, steps, f"pid {os.getpid()}")
        time.sleep(context.params.get("sleep", 0.5))
    with context.finish_in("Slow job done.", {"pid": os.getpid()}):
        AuditEvent.objects.create(
            action=AuditAction.ALERT_ACKNOWLEDGED, actor_name="job-test", reason=str(context.job.pk)
        )
    return "Slow job done."


for kind, function in {
    "test-echo": echo,
    "test-refuse": refuse,
    "test-crash": crash,
    "test-slow": slow_once,
}.items():
    runner.register(kind, function)


def run_slow(job_id: str) -> None:
    """What a worker started by a test runs (the kinds above are registered by then)."""
    runner.run(job_id)


def count_run(name: str) -> None:
    """A periodic function of the tests: one audit event per run."""
    AuditEvent.objects.create(
        action=AuditAction.ALERT_ACKNOWLEDGED, actor_name="schedule-test", reason=name
    )
