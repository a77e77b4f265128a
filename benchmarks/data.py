"""The benchmarks' study: N patients over the whole 154-day ldn-fm-2013 schedule, built
fast in a scratch PostgreSQL database (a development tool, never the real database).

    from benchmarks import data
    with data.scratch_database("ldn_bench_2000") as url:   # created, migrated, dropped
        study = data.build(patients=2000)                  # -> data.Study

Entries are COPYed in (no history rows: the benchmarks read them, they do not audit
them); about 1 day in 10 is missed, as in the trials. The same seed gives the same rows.
`import_files` writes the same study as the import files (`import_enrollments`,
`import_entries`), for the import benchmark.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import http.client
import io
import multiprocessing
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")
AS_OF = dt.date(2026, 6, 30)
START = AS_OF - dt.timedelta(days=153)  # the whole schedule has elapsed by AS_OF
DAYS = 154
PROTOCOL = "ldn-fm-2013"
SEED = 2013


@dataclass
class Study:
    patients: int
    entries: int
    as_of: dt.date = AS_OF


def psql(sql: str, database: str = "postgres") -> None:
    subprocess.run(
        ["psql", f"{SERVER}/{database}", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True,
        capture_output=True,
    )


@contextlib.contextmanager
def scratch_database(name: str, keep: bool = False):
    """A new PostgreSQL database `name`, migrated; its URL while the block runs; dropped
    afterwards unless `keep`."""
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{name}"')
    url = f"{SERVER}/{name}"
    try:
        manage("migrate", "--noinput", database_url=url)
        yield url
    finally:
        if not keep:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(*args: str, database_url: str, **kwargs) -> subprocess.CompletedProcess:
    """`python manage.py *args` in its own process, on `database_url`."""
    return subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=bench_environment(database_url),
        check=True,
        capture_output=True,
        text=True,
        **kwargs,
    )


def bench_environment(database_url: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": "benchmark-only-secret-key-that-is-long-enough-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_ROOT": "http://127.0.0.1:8000",
        "LOG_LEVEL": "WARNING",
        # Plain HTTP on loopback: no redirect to https, cookies over http.
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
    }


# A real server -----------------------------------------------------------------------


@dataclass
class Server:
    """A running gunicorn: its address, its master process and its log."""

    port: int
    pid: int
    log: object  # the open log file (stdout and stderr of gunicorn)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_cpu_seconds(self) -> float:
        """User + system CPU time of the workers so far (Linux /proc), 0 if unknown."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as listing:
                children = listing.read().split()
            for child in children:
                with open(f"/proc/{child}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            return 0.0
        return total / ticks

    def log_text(self) -> str:
        self.log.seek(0)
        return self.log.read()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def gunicorn(
    database_url: str, workers: int = 3, threads: int = 1, env: dict | None = None
) -> Iterator[Server]:
    """The app under gunicorn on a free port of 127.0.0.1, as in production (DEBUG off,
    static files collected first); `env` adds to its environment. Stopped, with its
    workers, when the block ends."""
    manage("collectstatic", "--noinput", database_url=database_url)
    port = free_port()
    command = [
        str(Path(PYTHON).parent / "gunicorn"),
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--timeout",
        "60",
        "--log-level",
        "warning",
    ]
    with tempfile.NamedTemporaryFile("w+", prefix="bench_gunicorn_", suffix=".log") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**bench_environment(database_url), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its workers
        )
        server = Server(port, process.pid, log)
        try:
            _wait_until_up(process, server)
            yield server
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _wait_until_up(process: subprocess.Popen, server: Server) -> None:
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({process.returncode}):\n{server.log_text()}")
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        if time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not answer /healthz within 30 s")
        time.sleep(0.2)


def setup_django(database_url: str) -> None:
    """Django in this process, on `database_url` (call once, before any model import)."""
    os.environ.update(bench_environment(database_url))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def in_django(url: str, function, *args):
    """`function(*args)` in a fresh process whose Django uses `url`; its result."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_call, (url, function, args))


def _call(url, function, args):
    setup_django(url)
    return function(*args)


def days_of(patients: int, seed: int = SEED):
    """(patient number, day, offset) of every recorded day, the same for any caller."""
    rng = random.Random(seed)
    for n in range(patients):
        for offset in range(DAYS):
            if rng.random() < 0.1:
                continue
            yield n, START + dt.timedelta(days=offset), offset, rng


def entry_values(offset: int, in_treatment: bool, rng: random.Random) -> dict:
    return {
        "pain": rng.randint(0, 10),
        "fatigue": rng.randint(0, 10),
        "sleep_quality": rng.randint(0, 10),
        "vivid_dreams": rng.random() < 0.2,
        "headache": rng.random() < 0.1,
        "dose_taken": True if in_treatment else None,
        "tolerability": rng.randint(60, 100) if in_treatment else None,
    }


def treatment_offsets(arm) -> set[int]:
    from diary.trial.models import Enrollment

    schedule = Enrollment(start_date=START, arm=arm, protocol=arm.protocol).schedule
    return {(day - START).days for span in schedule if span.is_treatment for day in span.dates()}


def study_id(n: int) -> str:
    return f"BENCH-{n:05d}"


def build(patients: int, seed: int = SEED) -> Study:
    """The study in the database Django is connected to (PostgreSQL: COPY)."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from diary.people.models import Role, User
    from diary.trial.models import Enrollment, Protocol

    protocol = Protocol.objects.get(slug=PROTOCOL)
    arms = list(protocol.arms.order_by("code"))
    treatment = {arm.pk: treatment_offsets(arm) for arm in arms}
    physician, _ = User.objects.get_or_create(
        username="bench-physician", defaults={"role": Role.PHYSICIAN}
    )
    User.objects.get_or_create(
        username="bench-coordinator",
        defaults={"role": Role.COORDINATOR, "is_staff": True, "password": make_password("x")},
    )
    password = make_password(None)
    users = User.objects.bulk_create(
        (
            User(username=f"bench-{n:05d}", role=Role.PATIENT, password=password)
            for n in range(patients)
        ),
        batch_size=5000,
    )
    enrollments = Enrollment.objects.bulk_create(
        (
            Enrollment(
                study_id=study_id(n),
                patient=user,
                physician=physician,
                protocol=protocol,
                arm=arms[n % len(arms)],
                start_date=START,
                timezone="America/Los_Angeles",
            )
            for n, user in enumerate(users)
        ),
        batch_size=5000,
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    count = 0
    now = dt.datetime(2026, 7, 1, tzinfo=dt.UTC).isoformat()
    for n, day, offset, rng in days_of(patients, seed):
        enrollment = enrollments[n]
        values = entry_values(offset, offset in treatment[enrollment.arm_id], rng)
        writer.writerow(
            [
                enrollment.pk,
                day.isoformat(),
                values["pain"],
                values["fatigue"],
                values["sleep_quality"],
                "t" if values["vivid_dreams"] else "f",
                "t" if values["headache"] else "f",
                "" if values["dose_taken"] is None else "t",
                "" if values["tolerability"] is None else values["tolerability"],
                "",
                "import",
                "f",
                "f",
                "",
                now,
                now,
            ]
        )
        count += 1
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.copy_expert(
            "COPY diary_diaryentry (enrollment_id, date, pain, fatigue, sleep_quality, "
            "vivid_dreams, headache, dose_taken, tolerability, notes, source, late, voided, "
            "void_reason, created_at, updated_at) FROM STDIN "
            "WITH (FORMAT csv, FORCE_NOT_NULL (notes, void_reason))",
            buffer,
        )
        cursor.execute("ANALYZE")
    return Study(patients=patients, entries=count)


def import_files(patients: int, folder: Path, seed: int = SEED) -> tuple[Path, Path]:
    """The same study as import files: enrollments.csv and entries.csv in `folder`."""
    from diary.trial.models import Protocol

    protocol = Protocol.objects.get(slug=PROTOCOL)
    arms = list(protocol.arms.order_by("code"))
    treatment = {arm.code: treatment_offsets(arm) for arm in arms}
    enrollments_csv, entries_csv = folder / "enrollments.csv", folder / "entries.csv"
    with enrollments_csv.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            ["study_id", "username", "email", "physician", "protocol", "arm", "start_date"]
        )
        for n in range(patients):
            writer.writerow(
                [
                    study_id(n),
                    f"bench-{n:05d}",
                    f"bench-{n:05d}@example.org",
                    "bench-physician",
                    PROTOCOL,
                    arms[n % len(arms)].code,
                    START.isoformat(),
                ]
            )
    with entries_csv.open("w", newline="") as stream:
        writer = csv.writer(stream)
        columns = ["pain", "fatigue", "sleep_quality", "vivid_dreams", "headache"]
        writer.writerow(["study_id", "date", *columns, "dose_taken", "tolerability", "notes"])
        for n, day, offset, rng in days_of(patients, seed):
            arm = arms[n % len(arms)]
            values = entry_values(offset, offset in treatment[arm.code], rng)

            def yes_no(value):
                return "" if value is None else ("yes" if value else "no")

            writer.writerow(
                [
                    study_id(n),
                    day.isoformat(),
                    *(
                        yes_no(values[c]) if isinstance(values[c], bool) else values[c]
                        for c in columns
                    ),
                    yes_no(values["dose_taken"]),
                    "" if values["tolerability"] is None else values["tolerability"],
                    "",
                ]
            )
    return enrollments_csv, entries_csv
