"""Nothing lost, nothing forged: each reproduction of a data-integrity problem, as a test."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction

from diary.models import DiaryEntry, Enrollment
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    builtin_arm,
    make_arm,
)

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
TODAY = NOW.date()
ANSWERS = {
    "pain": "2",
    "fatigue": "3",
    "sleep_quality": "8",
    "vivid_dreams": "no",
    "headache": "no",
    "dose_taken": "yes",
    "tolerability": "95",
    "notes": "",
}


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def enrollment():
    arm = make_arm([("baseline", 14), ("ldn", 28), ("followup", 14)])
    return EnrollmentFactory(
        arm=arm, protocol=arm.protocol, start_date=TODAY - dt.timedelta(days=18)
    )


def void(entry, reason="Entered for the wrong patient"):
    entry.voided, entry.void_reason = True, reason
    entry._change_reason = "Voided"
    entry.save()


# Voided days ------------------------------------------------------------------------


def test_a_voided_day_is_missing_for_the_patient_and_counts_again_once_she_saves_it(
    client, enrollment
):
    entry = EntryFactory(enrollment=enrollment, date=TODAY, pain=9, notes="wrong patient")
    void(entry)
    client.force_login(enrollment.patient)
    page = client.get("/diary/").content.decode()
    assert "You already saved this day" not in page
    assert 'value="9" checked' not in page and "wrong patient" not in page
    assert "state-open today" in page  # her strip: not recorded yet
    history = client.get("/diary/history/").content.decode()
    assert "wrong patient" not in history

    response = client.post("/diary/", ANSWERS, follow=True)
    assert "Your entry for today is saved." in response.content.decode()
    entry.refresh_from_db()
    assert (entry.voided, entry.void_reason, entry.pain, entry.source) == (False, "", 2, "patient")
    # The history keeps the voided values and the reason.
    versions = list(entry.history.order_by("history_date"))
    assert [(v.voided, v.pain, v.void_reason) for v in versions] == [
        (False, 9, ""),
        (True, 9, "Entered for the wrong patient"),
        (False, 2, ""),
    ]
    assert versions[-1].history_change_reason == (
        "Recorded again by the patient after it was voided"
    )
    assert DiaryEntry.objects.counting().filter(enrollment=enrollment).count() == 1


def test_unvoiding_in_the_admin_clears_the_reason_and_asks_its_own(client, enrollment):
    entry = EntryFactory(enrollment=enrollment, date=TODAY - dt.timedelta(days=3))
    void(entry)
    client.force_login(CoordinatorFactory())
    data = {
        "pain": entry.pain,
        "fatigue": entry.fatigue,
        "sleep_quality": entry.sleep_quality,
        "vivid_dreams": "false",
        "headache": "false",
        "dose_taken": "true",
        "tolerability": "90",
        "notes": "",
        "void_reason": entry.void_reason,
        "change_reason": "",
    }
    url = f"/admin/diary/diaryentry/{entry.pk}/change/"
    assert "Say why you make this change" in client.post(url, data).content.decode()
    response = client.post(url, {**data, "change_reason": "It was the right patient after all"})
    assert response.status_code == 302, response.content.decode()
    entry.refresh_from_db()
    assert (entry.voided, entry.void_reason) == (False, "")
    assert entry.history.first().history_change_reason == "It was the right patient after all"
    with pytest.raises(IntegrityError), transaction.atomic():
        DiaryEntry.objects.filter(pk=entry.pk).update(void_reason="stale")


# One open enrollment per patient and protocol -----------------------------------------


def test_a_patient_cannot_be_enrolled_twice_in_one_protocol(client):
    first = EnrollmentFactory(study_id="FM-001")
    with pytest.raises(IntegrityError), transaction.atomic():
        EnrollmentFactory(patient=first.patient, protocol=first.protocol, study_id="FM-002")
    client.force_login(CoordinatorFactory())
    response = client.post(
        "/admin/diary/enrollment/add/",
        {
            "study_id": "FM-003",
            "email": first.patient.email,
            "physician": PhysicianFactory().pk,
            "protocol": first.protocol.pk,
            "arm": "",
            "start_date": "2026-03-01",
            "timezone": "America/Chicago",
            "status": "active",
        },
    )
    assert (
        "This patient already takes part in ldn-fm-2013 as FM-001 (active); complete or "
        "withdraw that enrollment before enrolling her again."
    ) in response.content.decode()
    # Once that enrollment has ended, she may take part again.
    Enrollment.objects.filter(pk=first.pk).update(status="completed")
    EnrollmentFactory(patient=first.patient, protocol=first.protocol, study_id="FM-004")
    # Another protocol is no problem either.
    EnrollmentFactory(patient=first.patient, arm=builtin_arm("ldn-fm-2009", "P"))
