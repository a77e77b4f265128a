"""Locks: when an enrollment or a protocol may be locked, and every door refusing a
change to locked data with who locked it and since when."""

import csv
import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from diary.audit.models import AuditAction, AuditEvent
from diary.entries.models import DiaryEntry
from diary.queries.models import DataQuery
from diary.signoff import locking
from diary.trial.locks import Locked
from diary.visits.models import Visit
from tests.factories import (
    PASSWORD,
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    VisitFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def coordinator():
    return CoordinatorFactory(first_name="Casey", last_name="Morgan", username="casey")


@pytest.fixture
def completed():
    enrollment = EnrollmentFactory(status="completed")
    EntryFactory(enrollment=enrollment)
    return enrollment


def test_missing_signatures_refuse_the_lock_unless_overridden(completed, coordinator):
    with pytest.raises(locking.LockRefused, match="has no valid signature"):
        locking.lock_enrollment(completed, coordinator)
    locking.lock_enrollment(completed, coordinator, override_reason="Sponsor's decision")
    completed.refresh_from_db()
    assert completed.locked_by == coordinator and completed.lock_reason == "Sponsor's decision"
    event = AuditEvent.objects.get(action=AuditAction.ENROLLMENT_LOCKED)
    assert event.reason == "Sponsor's decision" and event.details["override"] == "yes"


def test_an_active_enrollment_is_never_locked(coordinator):
    enrollment = EnrollmentFactory()
    with pytest.raises(locking.LockRefused, match="only a completed or withdrawn"):
        locking.lock_enrollment(enrollment, coordinator, override_reason="anyway")


def test_open_queries_are_listed(completed, coordinator):
    DataQuery.objects.create(
        enrollment=completed,
        target="entry",
        date=completed.start_date,
        text="Was this day's pain right?",
        raised_by=coordinator,
        raised_at=dt.datetime.now(dt.UTC),
    )
    assert any("1 data query is not closed" in p for p in locking.lock_problems(completed))


def test_unlock_needs_a_reason(completed, coordinator):
    locking.lock_enrollment(completed, coordinator, override_reason="x")
    with pytest.raises(locking.LockRefused, match="reason"):
        locking.unlock_enrollment(completed, coordinator, reason=" ")
    locking.unlock_enrollment(completed, coordinator, reason="Late lab value")
    completed.refresh_from_db()
    assert completed.locked_at is None
    assert AuditEvent.objects.filter(action=AuditAction.ENROLLMENT_UNLOCKED).count() == 1


def test_the_database_lock_needs_every_enrollment_ended(completed, coordinator):
    EnrollmentFactory(study_id="FM-ACTIVE")
    with pytest.raises(locking.LockRefused, match="FM-ACTIVE"):
        locking.lock_protocol(completed.protocol, coordinator)


def test_only_a_coordinator_locks(completed):
    with pytest.raises(locking.LockRefused, match="Only a coordinator"):
        locking.lock_enrollment(completed, completed.physician, override_reason="x")


@pytest.fixture
def locked(completed, coordinator):
    VisitFactory(enrollment=completed)
    locking.lock_enrollment(completed, coordinator, override_reason="Analysis")
    completed.refresh_from_db()
    return completed


def test_the_backstop_refuses_any_save(locked):
    entry = locked.entries.get()
    entry.pain = 1
    with pytest.raises(Locked, match="is locked by Casey Morgan"):
        entry.save()
    with pytest.raises(Locked):
        DiaryEntry.objects.create(
            enrollment=locked,
            date=locked.start_date + dt.timedelta(days=1),
            pain=1,
            fatigue=1,
            sleep_quality=1,
            vivid_dreams=False,
            headache=False,
            source="staff",
        )
    with pytest.raises(Locked), transaction.atomic():
        Visit.objects.get(enrollment=locked).delete()
    locked.timezone = "Europe/Madrid"
    with pytest.raises(Locked):
        locked.save()


def test_the_staff_doors_refuse_with_who_and_since(client, locked, coordinator):
    client.force_login(coordinator)
    visit = Visit.objects.get(enrollment=locked)
    response = client.post(
        f"/physician/patients/{locked.study_id}/visits/{visit.pk}/void/", {"reason": "dup"}
    )
    assert response.status_code == 400
    assert "is locked by Casey Morgan (casey) since" in response.content.decode()
    response = client.post(
        f"/physician/patients/{locked.study_id}/visits/new/",
        {"visit_date": locked.start_date.isoformat(), "esr": 12},
    )
    assert "is locked by Casey Morgan" in response.content.decode()
    page = client.get(f"/admin/diary/diaryentry/{locked.entries.get().pk}/change/")
    assert page.status_code == 200 and "Read-only:" in page.content.decode()
    assert 'name="_save"' not in page.content.decode()
    detail = client.get(f"/physician/patients/{locked.study_id}/").content.decode()
    assert "is locked by Casey Morgan" in detail


def test_an_import_refuses_rows_of_locked_data(tmp_path, locked):
    path = tmp_path / "entries.csv"
    day = (locked.start_date + dt.timedelta(days=2)).isoformat()
    path.write_text(
        "study_id,date,pain,fatigue,sleep_quality,vivid_dreams,headache\n"
        f"{locked.study_id},{day},3,3,3,no,no\n"
    )
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_entries", str(path), stdout=io.StringIO(), stderr=err)
    assert "is locked by Casey Morgan" in err.getvalue()
    assert not DiaryEntry.objects.filter(date=day).exists()


def test_the_patient_is_told_her_diary_is_locked(client, coordinator):
    patient = PatientFactory()
    enrollment = EnrollmentFactory(patient=patient, status="completed")
    locking.lock_enrollment(enrollment, coordinator, override_reason="Analysis")
    client.force_login(patient)
    day = enrollment.start_date.isoformat()
    response = client.post(
        f"/diary/{day}/",
        {"pain": 3, "fatigue": 3, "sleep_quality": 3, "vivid_dreams": "no", "headache": "no"},
    )
    assert "locked for analysis" in response.content.decode()
    assert not DiaryEntry.objects.filter(enrollment=enrollment).exists()


def test_admin_lock_pages(client, completed, coordinator):
    client.force_login(coordinator)
    page = client.get(f"/admin/diary/enrollment/{completed.pk}/lock/")
    assert page.status_code == 200 and "has no valid signature" in page.content.decode()
    refused = client.post(f"/admin/diary/enrollment/{completed.pk}/lock/", {"reason": ""})
    assert refused.status_code == 400
    done = client.post(f"/admin/diary/enrollment/{completed.pk}/lock/", {"reason": "Override"})
    assert done.status_code == 302
    completed.refresh_from_db()
    assert completed.locked_at is not None
    trail = client.get(f"/admin/diary/enrollment/{completed.pk}/audit/").content.decode()
    assert "enrollment locked" in trail.lower()
    physician = PhysicianFactory()
    client.force_login(physician)
    assert client.get(f"/admin/diary/enrollment/{completed.pk}/unlock/").status_code in (302, 404)
    assert PASSWORD


def test_exports_carry_locked_at_per_enrollment(locked, coordinator):
    other = EnrollmentFactory(protocol=locked.protocol, status="withdrawn",
                              withdrawn_on=locked.start_date)  # fmt: skip
    out = io.StringIO()
    call_command("export_entries", stdout=out, stderr=io.StringIO())
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    expected = locked.locked_at.astimezone(locked.zoneinfo).isoformat(timespec="seconds")
    assert [row["locked_at"] for row in rows] == [expected]
    out = io.StringIO()
    call_command("export_visits", stdout=out, stderr=io.StringIO())
    assert [row["locked_at"] for row in csv.DictReader(io.StringIO(out.getvalue()))] == [expected]
    out = io.StringIO()
    call_command("export_summaries", "--format", "json", stdout=out, stderr=io.StringIO())
    patients = {
        p["study_id"]: p["locked_at"]
        for p in json.loads(out.getvalue())["protocols"][0]["patients"]
    }
    assert patients == {locked.study_id: expected, other.study_id: None}
    # The database lock holds the other one too: its export shows the protocol's lock.
    locking.lock_protocol(locked.protocol, coordinator)
    out = io.StringIO()
    call_command("export_summaries", "--format", "csv", stdout=out, stderr=io.StringIO())
    rows = [r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["section"] == "patient"]
    other.protocol.refresh_from_db()
    protocol_lock = other.protocol.locked_at.astimezone(other.zoneinfo).isoformat(
        timespec="seconds"
    )
    assert {r["study_id"]: r["locked_at"] for r in rows} == {
        locked.study_id: expected,
        other.study_id: protocol_lock,
    }


def test_a_locked_protocol_takes_no_new_enrollment(client, completed, coordinator, tmp_path):
    locking.lock_protocol(completed.protocol, coordinator)
    protocol = completed.protocol
    with pytest.raises(Locked, match="takes no new enrollment"):
        EnrollmentFactory(protocol=protocol)
    path = tmp_path / "enrollments.csv"
    path.write_text(
        "study_id,username,email,physician,protocol,arm,start_date\n"
        f"FM-NEW,new,new@example.org,{completed.physician.username},{protocol.slug},,"
        f"{completed.start_date.isoformat()}\n"
    )
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_enrollments", str(path), stdout=io.StringIO(), stderr=err)
    assert f"{protocol.slug} is locked (database lock)" in err.getvalue()
    client.force_login(coordinator)
    page = client.post(
        "/admin/diary/enrollment/add/",
        {
            "study_id": "FM-NEW",
            "email": "new@example.org",
            "physician": completed.physician.pk,
            "protocol": protocol.pk,
            "start_date": completed.start_date.isoformat(),
            "timezone": "America/Los_Angeles",
            "status": "screening",
        },
    )
    assert page.status_code == 200
    assert "takes no new enrollment" in page.content.decode()
    assert not protocol.enrollments.filter(study_id="FM-NEW").exists()


def test_her_pages_show_the_lock_and_take_no_answer(client, coordinator):
    patient = PatientFactory()
    enrollment = EnrollmentFactory(patient=patient, status="completed")
    query = DataQuery.objects.create(
        enrollment=enrollment,
        target="entry",
        date=enrollment.start_date,
        text="Was this right?",
        raised_by=enrollment.physician,
        raised_at=dt.datetime.now(dt.UTC),
    )
    locking.lock_enrollment(enrollment, coordinator, override_reason="Analysis")
    client.force_login(patient)
    for url in ("/diary/", "/diary/questions/", f"/diary/questions/{query.pk}/"):
        page = client.get(url).content.decode()
        assert "Your diary is locked for analysis" in page, url
        assert "answer-form" not in page
    response = client.post(f"/diary/questions/{query.pk}/", {"action": "answer", "answer": "Yes"})
    assert response.status_code == 400
    query.refresh_from_db()
    assert query.status == "open" and query.answer == ""
