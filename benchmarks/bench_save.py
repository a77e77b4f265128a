"""The diary save path under load: patients open the diary, save the day and land back on
it, through a real gunicorn on PostgreSQL (a development tool, not part of the app).

Run from the project folder:

    .venv/bin/python -m benchmarks.bench_save --patients 40 --seconds 20 --workers 3

What it does, all on this machine (loopback only):

1. creates a scratch PostgreSQL database (`--database`, dropped at the end, also on
   errors) and migrates it;
2. sets up N patients on ldn-fm-2013 (alternating arms), each started 59 days ago in
   America/Los_Angeles so today is study day 60, a treatment day in both arms (all
   items asked), with about 9 days in 10 of the past recorded (no history rows: they
   stand for earlier saves). One known password (the default hasher);
3. starts gunicorn as in production (`data.gunicorn`: DEBUG off, static files
   collected, a free port of 127.0.0.1, `--workers` sync workers; `--threads` > 1 makes
   them gthread workers);
4. signs every patient in once (login page, CSRF, password), a few at a time, before
   the clock starts; sign-ins are correct, so django-axes counts no failure;
5. for `--seconds`, every patient loops: GET /diary/, POST the form to the address it
   names (/diary/YYYY-MM-DD/) with new values (each save changes the day: a
   correction), follow the redirect (GET /diary/). A save is done when the POST
   answered 302 to /diary/ and that GET answered 200 with the "saved/updated" message;
6. checks the database: each patient's entry holds the values of her last acknowledged
   save, and there is one history row per acknowledged save (by her, with a reason).

Requests carry X-Forwarded-Proto: https, as the load balancer in front of the app sets it
(DEBUG off redirects plain HTTP and marks cookies Secure), and Connection: close (a new
connection per request, as a proxy without upstream keep-alive opens them). The client
is Python threads, each patient with her own browser of benchmarks/client.py (the one
the cohort page benchmark signs in with); it shares the 2 cores with gunicorn and
PostgreSQL, as any client on this machine would.

The last line printed is saves/s; `measure()` returns the same figures as a dict.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import threading
import time

from benchmarks import data
from benchmarks.client import CSRF_RE, Browser, UnexpectedAnswer

PASSWORD = "bench-save-correct-horse-7"  # noqa: S105 (a scratch database's patients)
USERNAME = "bench-save-{n:04d}"
REQUEST_TIMEOUT = 30  # seconds for one request
MAX_LOOPS = 100_000  # per patient: the run is bounded by time and by this
SIGN_IN_THREADS = 8
SAVED = ("Your entry for today is saved", "Your entry for today is updated")

ACTION_RE = re.compile(r'<form[^>]*action="(/diary/\d{4}-\d{2}-\d{2}/)"')


def _prepare(count: int) -> dict:
    """The patients, in a Django process (data.in_django): {"today", "usernames",
    "entries"}."""
    import datetime as dt
    import random

    from django.contrib.auth.hashers import make_password
    from django.db import connection
    from django.utils import timezone

    from diary.entries.models import DiaryEntry, EntrySource
    from diary.people.models import Role, User
    from diary.trial.models import Enrollment, Protocol

    rng = random.Random(2013)
    protocol = Protocol.objects.get(slug=data.PROTOCOL)
    arms = list(protocol.arms.order_by("code"))
    zone = "America/Los_Angeles"
    from zoneinfo import ZoneInfo

    today = timezone.now().astimezone(ZoneInfo(zone)).date()
    start = today - dt.timedelta(days=59)  # study day 60: a treatment day in both arms
    physician = User.objects.create(username="bench-save-physician", role=Role.PHYSICIAN)
    password = make_password(PASSWORD)  # once: every patient shares the hash
    users = User.objects.bulk_create(
        User(username=USERNAME.format(n=n), role=Role.PATIENT, password=password)
        for n in range(count)
    )
    enrollments = Enrollment.objects.bulk_create(
        Enrollment(
            study_id=f"SAVE-{n:04d}",
            patient=user,
            physician=physician,
            protocol=protocol,
            arm=arms[n % len(arms)],
            start_date=start,
            timezone=zone,
        )
        for n, user in enumerate(users)
    )
    schedules = {}
    for enrollment in enrollments:
        schedules.setdefault(enrollment.arm_id, enrollment.schedule)
    entries = []
    for enrollment in enrollments:
        schedule = schedules[enrollment.arm_id]
        for offset in range(59):  # every day before today
            if rng.random() < 0.1:
                continue
            day = start + dt.timedelta(days=offset)
            treatment = schedule.span_on(day).is_treatment
            entries.append(
                DiaryEntry(
                    enrollment=enrollment,
                    date=day,
                    pain=rng.randint(0, 10),
                    fatigue=rng.randint(0, 10),
                    sleep_quality=rng.randint(0, 10),
                    vivid_dreams=rng.random() < 0.2,
                    headache=rng.random() < 0.1,
                    dose_taken=True if treatment else None,
                    tolerability=rng.randint(60, 100) if treatment else None,
                    source=EntrySource.PATIENT,
                )
            )
    DiaryEntry.objects.bulk_create(entries, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "today": today.isoformat(),
        "usernames": [user.username for user in users],
        "entries": len(entries),
    }


def _verify(expected: dict) -> dict:
    """Compare the database with what the client was told ({username: {...}}), in a
    Django process (data.in_django)."""
    from diary.entries.models import DiaryEntry
    from diary.trial.models import Enrollment

    reasons = {
        "Recorded by the patient",
        "Corrected by the patient",
        "Recorded again by the patient after it was voided",
    }
    report = {
        "patients_checked": 0,
        "values_ok": 0,
        "values_wrong": [],
        "history_ok": 0,
        "history_wrong": [],
        "history_rows": 0,
    }
    enrollments = {
        e.patient.username: e
        for e in Enrollment.objects.select_related("patient").filter(
            patient__username__in=list(expected)
        )
    }
    for username, told in expected.items():
        if not told["acked"] and not told["uncertain"]:
            continue
        report["patients_checked"] += 1
        enrollment = enrollments[username]
        entry = DiaryEntry.objects.filter(enrollment=enrollment, date=told["day"]).first()
        stored = None
        if entry is not None:
            stored = {name: getattr(entry, name) for name in told["last"] or told["uncertain"][0]}
        # Her last acknowledged values, or those of a later save whose answer was lost.
        acceptable = ([told["last"]] if told["last"] else []) + told["uncertain_after_last"]
        if stored is not None and stored in acceptable:
            report["values_ok"] += 1
        elif told["acked"]:
            report["values_wrong"].append({"patient": username, "stored": stored, **told})
        rows = list(
            DiaryEntry.history.filter(enrollment_id=enrollment.pk, date=told["day"]).values(
                "history_user_id", "history_change_reason"
            )
        )
        report["history_rows"] += len(rows)
        by_her = all(
            row["history_user_id"] == enrollment.patient_id
            and row["history_change_reason"] in reasons
            for row in rows
        )
        # One row per acknowledged save; a save whose answer was lost may have one too.
        in_range = told["acked"] <= len(rows) <= told["acked"] + len(told["uncertain"])
        if by_her and in_range:
            report["history_ok"] += 1
        else:
            report["history_wrong"].append(
                {"patient": username, "rows": len(rows), "acked": told["acked"], "by_her": by_her}
            )
    return report


# The patients ------------------------------------------------------------------------


class Patient:
    """One simulated patient: her browser (benchmarks/client.py), and what she was told."""

    def __init__(self, number: int, username: str, port: int) -> None:
        self.number = number
        self.username = username
        self.browser = Browser(
            port,
            behind_https_proxy=True,
            headers={"Accept-Language": "en", "User-Agent": "bench_save"},
            timeout=REQUEST_TIMEOUT,
        )
        self.day: str | None = None
        self.acked = 0
        self.last: dict | None = None
        self.uncertain: list[dict] = []  # saves sent whose answer never came
        self.uncertain_after_last: list[dict] = []
        self.saves = 0
        self.save_ms: list[float] = []
        self.post_ms: list[float] = []
        self.errors: list[str] = []

    def sign_in(self) -> None:
        status, _, page = self.browser.request("GET", "/accounts/login/?next=/diary/")
        token = CSRF_RE.search(page)
        if status != 200 or token is None:
            raise UnexpectedAnswer(f"sign-in page: {status}")
        form = {
            "csrfmiddlewaretoken": token.group(1),
            "username": self.username,
            "password": PASSWORD,
            "next": "/diary/",
        }
        status, headers, _ = self.browser.request("POST", "/accounts/login/?next=/diary/", form)
        signed_in = "sessionid" in self.browser.cookies
        if status != 302 or headers.get("Location") != "/diary/" or not signed_in:
            raise UnexpectedAnswer(f"sign-in: {status} {headers.get('Location')}")

    def values(self, loop: int, treatment: bool) -> tuple[dict, dict]:
        """What she posts on her `loop`-th save and what should be stored: never the same
        twice in a row (the notes name the loop), so every save is a correction."""
        n = self.number + loop
        stored = {
            "pain": n % 11,
            "fatigue": (3 * n + 1) % 11,
            "sleep_quality": (7 * n + 2) % 11,
            "vivid_dreams": n % 2 == 0,
            "headache": n % 3 == 0,
            "dose_taken": (n % 4 != 0) if treatment else None,
            "tolerability": (13 * n) % 101 if treatment else None,
            "notes": f"bench save {loop} of {self.username}",
        }
        posted = {
            name: ("yes" if value else "no") if isinstance(value, bool) else value
            for name, value in stored.items()
            if value is not None
        }
        return posted, stored

    def save_once(self, loop: int) -> None:
        started = time.perf_counter()
        status, _, page = self.browser.request("GET", "/diary/")
        token, action = CSRF_RE.search(page), ACTION_RE.search(page)
        if status != 200 or token is None or action is None:
            raise UnexpectedAnswer(f"GET /diary/: {status}, form found: {bool(action)}")
        path = action.group(1)
        day = path.strip("/").split("/")[-1]
        if self.day not in (None, day):  # midnight passed in her time zone
            raise UnexpectedAnswer(f"the diary day changed from {self.day} to {day}")
        self.day = day
        posted, stored = self.values(loop, 'name="tolerability"' in page)
        posted["csrfmiddlewaretoken"] = token.group(1)
        post_started = time.perf_counter()
        try:
            status, headers, _ = self.browser.request("POST", path, posted)
        except Exception:
            self.uncertain.append(stored)
            self.uncertain_after_last.append(stored)
            raise
        post_ms = (time.perf_counter() - post_started) * 1000
        location = headers.get("Location")
        if status == 302 and location == "/diary/":
            self.acked += 1
            self.last = stored
            self.uncertain_after_last = []
        elif status >= 500:
            self.uncertain.append(stored)
            self.uncertain_after_last.append(stored)
            raise UnexpectedAnswer(f"POST {path}: {status}")
        else:
            raise UnexpectedAnswer(f"POST {path}: {status} {location}")
        status, _, page = self.browser.request("GET", location)
        if status != 200 or not any(message in page for message in SAVED):
            raise UnexpectedAnswer(f"GET {location} after the save: {status}")
        self.saves += 1
        self.save_ms.append((time.perf_counter() - started) * 1000)
        self.post_ms.append(post_ms)

    def run(self, start: threading.Barrier, deadline_box: list) -> None:
        start.wait()
        deadline = deadline_box[0]
        failures_in_a_row = 0
        for loop in range(MAX_LOOPS):
            if time.perf_counter() >= deadline or failures_in_a_row >= 5:
                break
            try:
                self.save_once(loop)
                failures_in_a_row = 0
            except Exception as problem:  # every problem is counted, none stops the run
                self.errors.append(f"{type(problem).__name__}: {problem}")
                failures_in_a_row += 1
                time.sleep(0.2)


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def _sign_in_all(patients: list[Patient]) -> list[str]:
    problems: list[str] = []
    queue = list(patients)
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if not queue:
                    return
                patient = queue.pop()
            try:
                patient.sign_in()
            except Exception as problem:
                with lock:
                    problems.append(f"{patient.username}: {problem}")

    threads = [threading.Thread(target=work) for _ in range(SIGN_IN_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return problems


def measure(
    patients: int = 40,
    seconds: float = 20,
    workers: int = 3,
    threads: int = 1,
    env: dict | None = None,
    database: str = "ldn_bench_save",
) -> dict:
    """Run the benchmark on a scratch database `database` (created and dropped here);
    `env` adds to gunicorn's environment (e.g. {"DB_CONN_MAX_AGE": "0"})."""
    if patients < 1 or seconds <= 0 or workers < 1 or threads < 1:
        raise ValueError("patients, seconds, workers and threads must be positive")
    load_before = round(os.getloadavg()[0], 2)  # other work on this machine skews the run
    with data.scratch_database(database) as url:
        prepared = data.in_django(url, _prepare, patients)
        with data.gunicorn(url, workers, threads, env) as server:
            crowd = [Patient(n, name, server.port) for n, name in enumerate(prepared["usernames"])]
            sign_in_problems = _sign_in_all(crowd)
            if sign_in_problems:
                raise RuntimeError("sign-in failed: " + "; ".join(sign_in_problems[:5]))
            barrier = threading.Barrier(len(crowd) + 1)
            deadline_box = [0.0]
            runners = [
                threading.Thread(target=p.run, args=(barrier, deadline_box), daemon=True)
                for p in crowd
            ]
            for runner in runners:
                runner.start()
            cpu_before = server.worker_cpu_seconds()
            started = time.perf_counter()
            deadline_box[0] = started + seconds
            barrier.wait()
            for runner in runners:
                runner.join(
                    timeout=max(
                        0.0, started + seconds + 2 * REQUEST_TIMEOUT + 5 - time.perf_counter()
                    )
                )
            elapsed = time.perf_counter() - started
            worker_cpu = server.worker_cpu_seconds() - cpu_before
            hung = sum(runner.is_alive() for runner in runners)
            server_log = server.log_text()
        told = {
            p.username: {
                "day": p.day,
                "acked": p.acked,
                "last": p.last,
                "uncertain": p.uncertain,
                "uncertain_after_last": p.uncertain_after_last,
            }
            for p in crowd
        }
        checked = data.in_django(url, _verify, told)
    saves = sum(p.saves for p in crowd)
    save_ms = [ms for p in crowd for ms in p.save_ms]
    post_ms = [ms for p in crowd for ms in p.post_ms]
    errors = [error for p in crowd for error in p.errors]
    acked = sum(p.acked for p in crowd)
    stored_ok = (
        not checked["values_wrong"]
        and not checked["history_wrong"]
        and checked["values_ok"] == checked["patients_checked"]
    )
    result = {
        "figure": (
            f"diary saves/s (GET /diary/ + POST + GET after the redirect), {patients} patients, "
            f"gunicorn --workers {workers} --threads {threads}, PostgreSQL, DEBUG off"
        ),
        "ours": round(saves / elapsed, 2),
        "p50_ms": _round(percentile(save_ms, 50)),
        "p95_ms": _round(percentile(save_ms, 95)),
        "p99_ms": _round(percentile(save_ms, 99)),
        "post_p50_ms": _round(percentile(post_ms, 50)),
        "post_p95_ms": _round(percentile(post_ms, 95)),
        "post_p99_ms": _round(percentile(post_ms, 99)),
        "saves": saves,
        "acknowledged_saves": acked,
        "unanswered_saves": sum(len(p.uncertain) for p in crowd),
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
        "hung_patients": hung,
        "seconds": round(elapsed, 2),
        "patients": patients,
        "workers": workers,
        "threads": threads,
        "env": env or {},
        "past_entries": prepared["entries"],
        "stored_ok": stored_ok,
        "patients_checked": checked["patients_checked"],
        "values_ok": checked["values_ok"],
        "history_ok": checked["history_ok"],
        "history_rows": checked["history_rows"],
        "values_wrong": checked["values_wrong"][:3],
        "history_wrong": checked["history_wrong"][:3],
        "server_errors_logged": server_log.count("Traceback"),
        "load_average_before": load_before,
        # gunicorn's workers only (not PostgreSQL, not this client): what the app costs.
        "worker_cpu_ms_per_save": round(worker_cpu * 1000 / saves, 1) if saves else None,
    }
    return result


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def print_table(result: dict) -> None:
    rows = [
        ("figure", result["figure"]),
        ("saves/s", result["ours"]),
        ("saves done", result["saves"]),
        ("seconds", result["seconds"]),
        (
            "save p50 / p95 / p99 ms",
            f"{result['p50_ms']} / {result['p95_ms']} / {result['p99_ms']}",
        ),
        (
            "POST p50 / p95 / p99 ms",
            f"{result['post_p50_ms']} / {result['post_p95_ms']} / {result['post_p99_ms']}",
        ),
        ("errors", result["errors"]),
        ("acknowledged saves", result["acknowledged_saves"]),
        ("history rows", result["history_rows"]),
        ("saves without an answer", result["unanswered_saves"]),
        (
            "stored as acknowledged",
            f"{result['stored_ok']} ({result['values_ok']} of {result['patients_checked']} "
            f"patients' values, {result['history_ok']} histories)",
        ),
        ("server tracebacks", result["server_errors_logged"]),
        ("gunicorn worker CPU ms per save", result["worker_cpu_ms_per_save"]),
        ("extra environment", result["env"] or "-"),
        ("load average before", result["load_average_before"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for sample in result["error_samples"]:
        print(f"  error: {sample}")
    for wrong in result["values_wrong"] + result["history_wrong"]:
        print(f"  NOT STORED AS TOLD: {wrong}")
    print(f"saves/s: {result['ours']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database", default="ldn_bench_save", help="scratch database name (dropped after)"
    )
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for gunicorn, e.g. DB_CONN_MAX_AGE=0 (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    arguments = parser.parse_args()
    env = dict(item.split("=", 1) for item in arguments.env)
    result = measure(
        patients=arguments.patients,
        seconds=arguments.seconds,
        workers=arguments.workers,
        threads=arguments.threads,
        env=env,
        database=arguments.database,
    )
    print_table(result)
    if arguments.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
