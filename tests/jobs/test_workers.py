"""Two real job workers (`manage.py qcluster`) on one PostgreSQL database: one is killed
in the middle of a job, and the other completes it, once; a schedule runs once per
period although both workers' schedulers look at it.

It needs a database that other processes can open, so it runs on PostgreSQL (CI); the
in-memory SQLite test database is private to the test process."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from diary.audit.models import AuditEvent
from diary.jobs.models import Job, JobStatus
from tests.factories import CoordinatorFactory

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"),
        reason="worker processes need a shared database (PostgreSQL)",
    ),
]


def database_url() -> str:
    s = connection.settings_dict
    user = s["USER"] or "postgres"
    auth = f"{user}:{s['PASSWORD']}@" if s["PASSWORD"] else f"{user}@"
    return f"postgres://{auth}{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def start_worker(name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "JOB_TIMEOUT": "5",
        "JOB_RETRY": "8",
        "JOB_WORKERS": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # The test kinds live in tests/jobs/support.py (imported by run_slow's module).
        "PYTHONPATH": str(ROOT),
    }
    log = open(ROOT / f".pytest-worker-{name}-{os.getpid()}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed with its children
    )


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def test_a_killed_worker_s_job_is_completed_once_by_the_other():
    from django_q.models import Schedule
    from django_q.tasks import async_task

    Schedule.objects.all().delete()
    Schedule.objects.create(
        name="Test period",
        func="tests.jobs.support.count_run",
        args="'period'",
        schedule_type=Schedule.MINUTES,
        minutes=10,
        next_run=timezone.now() - dt.timedelta(seconds=1),
    )
    job = Job.objects.create(
        kind="test-slow",
        title="Slow",
        requested_by=CoordinatorFactory(),
        params={"steps": 8, "sleep": 0.4},
    )
    async_task("tests.jobs.support.run_slow", str(job.pk))

    workers = {name: start_worker(name) for name in ("a", "b")}
    started = time.monotonic()
    try:
        # One worker takes the job; its stage names the process running it.
        running = wait_for(
            lambda: (
                Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING)
                .exclude(stage="")
                .values_list("stage", flat=True)
                .first()
            ),
            60,
            "a worker to take the job",
        )
        pid = int(running.split()[1])
        victim = next(
            name
            for name, worker in workers.items()
            if pid != worker.pid and _child_of(pid, worker.pid)
        )
        os.killpg(workers[victim].pid, signal.SIGKILL)
        workers[victim].wait(10)

        done = wait_for(
            lambda: Job.objects.filter(pk=job.pk, status=JobStatus.DONE).first(),
            90,
            "the other worker to complete the job",
        )
        assert done.attempts == 2
        assert done.result["pid"] != pid
        assert AuditEvent.objects.filter(reason=str(job.pk)).count() == 1
        # Both schedulers have looked at the schedule (every 30 s) by now.
        time.sleep(max(0.0, 35 - (time.monotonic() - started)))
        assert AuditEvent.objects.filter(actor_name="schedule-test").count() == 1
    finally:
        for worker in workers.values():
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)


def _child_of(pid: int, ancestor: int) -> bool:
    """Whether process `pid` descends from `ancestor` (Linux /proc)."""
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False
