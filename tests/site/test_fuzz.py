"""Fuzzing with hypothesis: whatever a browser or a file sends, the diary form, the
settings form and every import answer with a message (never a server error), and a
refused request writes nothing."""

import csv
import datetime as dt
import io
import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from diary.entries.models import DiaryEntry
from diary.files import imports
from diary.people.models import User
from diary.trial.models import Enrollment
from diary.visits.models import Visit
from tests.factories import EnrollmentFactory, PhysicianFactory, make_arm

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
EXAMPLES = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text a browser could send: digits, words, edge values, control characters, any Unicode.
TEXT = st.one_of(
    st.sampled_from(
        ["", "0", "10", "11", "-1", "100", "101", "5.5", "yes", "no", "YES", "1e3", "٣", " 7 "]
    ),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=990, max_size=1100),
)
FIELDS = ["pain", "fatigue", "sleep_quality", "vivid_dreams", "headache", "dose_taken"]
FIELDS += ["tolerability", "notes", "unknown"]


@pytest.fixture
def patient_client(frozen_clock):
    arm = make_arm([("baseline", 14), ("ldn", 28)])
    enrollment = EnrollmentFactory(
        arm=arm, protocol=arm.protocol, start_date=NOW.date() - dt.timedelta(days=18)
    )
    client = Client()
    client.force_login(enrollment.patient)
    return client, enrollment


def snapshot(enrollment):
    entries = list(DiaryEntry.objects.filter(enrollment=enrollment).values())
    return entries, DiaryEntry.history.filter(enrollment_id=enrollment.pk).count()


@EXAMPLES
@given(data=st.dictionaries(st.sampled_from(FIELDS), TEXT, max_size=len(FIELDS)))
def test_the_diary_form_never_fails_and_never_half_saves(patient_client, data):
    client, enrollment = patient_client
    before, history_before = snapshot(enrollment)
    response = client.post("/diary/", data)  # a server error would raise here
    after, history_after = snapshot(enrollment)
    assert response.status_code in (302, 400, 403)
    if response.status_code != 302 or after == before:
        # Refused, or nothing to change: nothing was written.
        assert (after, history_after) == (before, history_before)
        return
    # Saved whole: one entry for today, valid, with exactly one new history row.
    (entry,) = after
    assert 0 <= entry["pain"] <= 10 and 0 <= entry["tolerability"] <= 100
    assert len(entry["notes"]) <= 1000 and "\r" not in entry["notes"]
    assert history_after == history_before + 1


@EXAMPLES
@given(
    data=st.dictionaries(
        st.sampled_from(["reminder_time", "language", "other"]),
        st.one_of(
            st.sampled_from(["", "20:00", "05:00", "23:30", "24:00", "en", "es", "de"]), TEXT
        ),
    )
)
def test_the_settings_form_never_fails_and_stores_only_valid_values(patient_client, data):
    client, enrollment = patient_client
    response = client.post("/diary/settings/", data)
    assert response.status_code in (302, 400)
    enrollment.refresh_from_db()
    enrollment.patient.refresh_from_db()
    time = enrollment.reminder_time
    assert time is None or (dt.time(5) <= time <= dt.time(23, 30) and time.minute in (0, 30))
    assert enrollment.patient.language in ("", "en", "es")


def counts():
    return (
        User.objects.count(),
        User.history.count(),
        Enrollment.objects.count(),
        Enrollment.history.count(),
        DiaryEntry.objects.count(),
        DiaryEntry.history.count(),
        Visit.objects.count(),
        Visit.history.count(),
    )


CELL = st.one_of(
    st.sampled_from(
        ["", "drx", "ldn-fm-2013", "ldn-fm-2009", "A", "B", "2026-02-01", "2026-03-09",
         "2099-01-01", "FM-1", "fm-1", "ann", "ann@example.org", "patient", "physician",
         "withdrawn", "active", "yes", "0", "10", "=1+1", "America/Chicago", "2026-01-20",
         "44.5", "3.25", "151", "1e3", "-0"]
    ),
    st.text(max_size=20),
)  # fmt: skip


def import_file(columns, rows) -> Path:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    writer.writerows(rows)
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False, encoding="utf-8") as handle:
        handle.write(text.getvalue())
    return Path(handle.name)


def run_import(kind, columns, rows):
    """The import loads all of the file or nothing: on refusal no row anywhere changed."""
    before = counts()
    path = import_file(columns, rows)
    try:
        getattr(imports, f"import_{kind}")(path)
    except imports.ImportFailed as failed:
        assert failed.problems and all(p.startswith(("line ", "the ")) for p in failed.problems)
        assert counts() == before
    finally:
        path.unlink()


@pytest.fixture
def import_world(frozen_clock):
    PhysicianFactory(username="drx", email="drx@example.org")
    EnrollmentFactory(study_id="FM-1", start_date=dt.date(2026, 2, 1))


def rows_of(width):
    return st.lists(st.lists(CELL, min_size=width, max_size=width), max_size=4)


@EXAMPLES
@given(rows=rows_of(3), drop=st.booleans())
def test_import_users_never_fails_or_half_loads(import_world, rows, drop):
    columns = ["username", "email", "role"][: 2 if drop else 3]
    run_import("users", columns, [row[: len(columns)] for row in rows])


@EXAMPLES
@given(rows=rows_of(10))
def test_import_enrollments_never_fails_or_half_loads(import_world, rows):
    run_import("enrollments", imports.ENROLLMENT_COLUMNS + imports.ENROLLMENT_OPTIONAL, rows)


@EXAMPLES
@given(rows=rows_of(10))
def test_import_entries_never_fails_or_half_loads(import_world, rows):
    columns = ["study_id", "date", "pain", "fatigue", "sleep_quality", "vivid_dreams"]
    columns += ["headache", "dose_taken", "tolerability", "notes"]
    run_import("entries", columns, rows)


@EXAMPLES
@given(rows=rows_of(6))
def test_import_visits_never_fails_or_half_loads(import_world, rows):
    columns = ["study_id", "visit_date", "esr", "pressure_threshold", "heat_threshold", "notes"]
    run_import("visits", columns, rows)
