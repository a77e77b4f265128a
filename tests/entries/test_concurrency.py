"""Simultaneous saves of one day leave one entry, every save whole, no error: 8 at once
on the embedded SQLite default (a file database, as `make run` has), 50 on PostgreSQL."""

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection, connections

from diary.entries import window
from diary.entries.models import DiaryEntry
from diary.trial.models import Enrollment
from tests.factories import EnrollmentFactory, make_arm

ROOT = Path(__file__).resolve().parents[2]

VALUES = {
    "pain": 4,
    "fatigue": 5,
    "sleep_quality": 6,
    "vivid_dreams": False,
    "headache": True,
    "dose_taken": None,
    "tolerability": None,
    "notes": "",
}

# Runs in its own process on a fresh SQLite file: 8 threads post the same day at once
# through the whole request path (sessions, middleware, the save) and report.
SQLITE_SCRIPT = """
import datetime as dt, json, threading
import django
django.setup()
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
from diary.entries.models import DiaryEntry
from tests.factories import EnrollmentFactory, make_arm
arm = make_arm([("baseline", 28)])
enrollment = EnrollmentFactory(arm=arm, protocol=arm.protocol)
day = enrollment.local_today()
clients = []
for _ in range(8):
    client = Client()
    client.force_login(enrollment.patient)
    clients.append(client)
barrier = threading.Barrier(8)
statuses, errors = [], []
def post(client, pain):
    try:
        barrier.wait()
        response = client.post(f"/diary/{day:%Y-%m-%d}/", {
            "pain": pain, "fatigue": 5, "sleep_quality": 6,
            "vivid_dreams": "no", "headache": "yes",
        })
        statuses.append(response.status_code)
    except Exception as error:
        errors.append(repr(error))
    finally:
        django.db.connections.close_all()
threads = [threading.Thread(target=post, args=(c, n % 11)) for n, c in enumerate(clients)]
for t in threads: t.start()
for t in threads: t.join()
history = list(DiaryEntry.history.order_by("history_date").values_list("history_type", flat=True))
print(json.dumps({
    "statuses": statuses, "errors": errors,
    "rows": DiaryEntry.objects.filter(enrollment=enrollment, date=day).count(),
    "history": history,
}))
"""


def test_eight_simultaneous_saves_on_the_sqlite_default(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'diary.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "1",
        "STAFF_2FA": "0",
    }
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["errors"] == []
    assert sorted(outcome["statuses"]) == [302] * 8  # every save acknowledged
    assert outcome["rows"] == 1
    # Each save happened whole: one creation, then a correction for each save that
    # changed the answers (two saves may carry the same answers).
    assert outcome["history"][0] == "+" and set(outcome["history"][1:]) <= {"~"}
    assert len(outcome["history"]) >= 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL's row locks (CI runs it)"
)
def test_fifty_simultaneous_saves_of_the_same_day_on_postgresql():
    arm = make_arm([("baseline", 28)])
    enrollment = EnrollmentFactory(arm=arm, protocol=arm.protocol)
    day = enrollment.local_today()
    count = 50
    barrier = threading.Barrier(count)
    errors = []

    def save(pain):
        try:
            mine = Enrollment.objects.with_schedule().get(pk=enrollment.pk)
            barrier.wait()
            window.record_patient_entry(mine, day, {**VALUES, "pain": pain}, enrollment.patient)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connections.close_all()

    # Pains alternate, so every save after the first changes the entry.
    threads = [threading.Thread(target=save, args=(n % 2 + 3,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert DiaryEntry.objects.filter(enrollment=enrollment, date=day).count() == 1
    # Every save happened whole, one after the other: one creation, then corrections.
    history = DiaryEntry.history.filter(enrollment_id=enrollment.pk).order_by("history_date")
    types = [h.history_type for h in history]
    assert types[0] == "+" and set(types[1:]) <= {"~"}
    entry = DiaryEntry.objects.get(enrollment=enrollment, date=day)
    assert history.last().pain == entry.pain
