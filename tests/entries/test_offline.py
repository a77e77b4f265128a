"""Answers kept on her phone while it had no network, sent later to /diary/sync/: each
client id is accepted once, the entry window follows the moment she answered, every
rule of an online save holds, and a refusal tells her why."""

import datetime as dt
import io
import json
import uuid
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from diary.entries.models import DiaryEntry, OfflineAnswer
from diary.signoff import locking
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    PatientFactory,
    PhysicianFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 11, 14, 0, tzinfo=LA)  # the next afternoon
ANSWERS = {"pain": "4", "fatigue": "5", "sleep_quality": "6", "vivid_dreams": "yes",
           "headache": "no"}  # fmt: skip


@pytest.fixture
def enrollment():
    return EnrollmentFactory(
        patient=PatientFactory(username="maria"),
        start_date=dt.date(2026, 3, 1),
        timezone="America/Los_Angeles",
    )


def send(client, day, answered_at, answers=ANSWERS, client_id=None):
    payload = {
        "client_id": str(client_id or uuid.uuid4()),
        "answered_at": answered_at.isoformat(),
        "day": day.isoformat(),
        "answers": answers,
    }
    response = client.post("/diary/sync/", json.dumps(payload), content_type="application/json")
    return response, payload


def test_two_days_answered_offline_are_stored_once_with_both_moments(client, enrollment):
    client.force_login(enrollment.patient)
    late_evening = dt.datetime(2026, 3, 10, 23, 50, tzinfo=LA)
    first, payload = send(client, dt.date(2026, 3, 10), late_evening)
    assert first.status_code == 200 and first.json()["result"] == "saved"
    second, _ = send(client, dt.date(2026, 3, 11), NOW - dt.timedelta(hours=1))
    assert second.json()["result"] == "saved"
    # A resend of the same answer gets the stored outcome and changes nothing.
    again = client.post("/diary/sync/", json.dumps(payload), content_type="application/json")
    assert again.json()["result"] == "saved"
    assert DiaryEntry.objects.count() == 2 and OfflineAnswer.objects.count() == 2
    entry = DiaryEntry.objects.get(date=dt.date(2026, 3, 10))
    # Answered at 23:50, sent the next afternoon: stored for the day it was answered,
    # not late (answered on its day), not synced late (inside the grace day).
    assert entry.answered_at == late_evening and entry.received_at == NOW
    assert (entry.late, entry.synced_late, entry.source) == (False, False, "patient")
    history = entry.history.order_by("history_id").last()
    assert "answered offline at 2026-03-11 06:50 UTC" in history.history_change_reason
    out = io.StringIO()
    call_command("export_entries", stdout=out, stderr=io.StringIO())
    header, row = out.getvalue().splitlines()[:2]
    cells = dict(zip(header.split(","), row.split(","), strict=True))
    assert cells["answered_at"] == "2026-03-10T23:50:00-07:00"
    assert cells["received_at"] == "2026-03-11T14:00:00-07:00"


def test_an_answer_past_the_offline_days_is_refused_and_the_refusal_is_kept(
    client, enrollment, settings
):
    settings.DIARY_OFFLINE_DAYS = 7
    client.force_login(enrollment.patient)
    old = NOW - dt.timedelta(days=8)
    response, payload = send(client, old.date(), old)
    body = response.json()
    assert body["result"] == "refused" and "more than 7 days" in body["message"]
    assert not DiaryEntry.objects.exists()
    again = client.post("/diary/sync/", json.dumps(payload), content_type="application/json")
    assert again.json() == body


def test_a_clock_ahead_is_refused_with_what_to_do(client, enrollment):
    client.force_login(enrollment.patient)
    response, _ = send(client, NOW.date(), NOW + dt.timedelta(minutes=6))
    assert response.json()["result"] == "refused"
    assert "Set your phone's date and time right" in response.json()["message"]
    within, _ = send(client, NOW.date(), NOW + dt.timedelta(minutes=4))
    assert within.json()["result"] == "saved"


def test_the_window_follows_the_answered_moment(client, enrollment):
    client.force_login(enrollment.patient)
    # Day 8 answered on day 10: the window (the day and the next) had closed already.
    response, _ = send(client, dt.date(2026, 3, 8), dt.datetime(2026, 3, 10, 9, tzinfo=LA))
    assert response.json()["result"] == "refused"
    assert "This day is locked" in response.json()["message"]
    # A day answered before it began cannot be.
    early, _ = send(client, dt.date(2026, 3, 11), dt.datetime(2026, 3, 10, 9, tzinfo=LA))
    assert early.json()["result"] == "refused"
    assert not DiaryEntry.objects.exists()


def test_every_rule_of_an_online_save_holds(client, enrollment):
    client.force_login(enrollment.patient)
    bad, _ = send(client, NOW.date(), NOW, answers={**ANSWERS, "pain": "11"})
    assert bad.json()["result"] == "refused" and "Nothing was saved" in bad.json()["message"]
    treatment_only, _ = send(client, NOW.date(), NOW, answers={**ANSWERS, "tolerability": "50"})
    entry = DiaryEntry.objects.get()
    assert treatment_only.json()["result"] == "saved" and entry.tolerability is None
    enrollment.status = "completed"
    enrollment.save()
    ended, _ = send(client, NOW.date(), NOW - dt.timedelta(minutes=1))
    assert ended.json()["result"] == "refused"
    locking.lock_enrollment(enrollment, CoordinatorFactory(), override_reason="Analysis")
    locked, _ = send(client, NOW.date(), NOW - dt.timedelta(minutes=2))
    assert "locked for analysis" in locked.json()["message"]


def test_the_later_answer_of_a_day_wins_and_the_other_stays_in_its_history(client, enrollment):
    client.force_login(enrollment.patient)
    online = client.post(f"/diary/{NOW.date()}/", {**ANSWERS, "pain": "2"})
    assert online.status_code == 302
    earlier = NOW - dt.timedelta(hours=3)
    response, _ = send(client, NOW.date(), earlier, answers={**ANSWERS, "pain": "8"})
    assert response.json()["result"] == "kept_later"
    entry = DiaryEntry.objects.get()
    assert entry.pain == 2 and entry.answered_at == NOW
    assert 8 in set(entry.history.values_list("pain", flat=True))


def test_only_the_signed_in_patient_sends_and_a_replayed_id_changes_nothing(client, enrollment):
    response, payload = send(client, NOW.date(), NOW)
    assert response.status_code == 401 and response.json()["result"] == "signin"
    client.force_login(PhysicianFactory())
    assert send(client, NOW.date(), NOW)[0].status_code == 404
    client.force_login(enrollment.patient)
    mine, payload = send(client, NOW.date(), NOW)
    other = EnrollmentFactory(start_date=dt.date(2026, 3, 1), timezone="America/Los_Angeles")
    client.force_login(other.patient)
    replay = client.post(
        "/diary/sync/",
        json.dumps({**payload, "answers": {**ANSWERS, "pain": "9"}}),
        content_type="application/json",
    )
    assert replay.status_code == 409 and "pain" not in replay.content.decode()
    assert not DiaryEntry.objects.filter(enrollment=other).exists()
    assert DiaryEntry.objects.get(enrollment=enrollment).pain == 4


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"client_id": "x"}',
        b'{"client_id": "6f1c5c0e-3d8b-4c1e-9a55-0d1f4a9b2c7e", "answered_at": "2026-03-11T10:00"}',
    ],
)
def test_an_unreadable_answer_is_a_clear_400(client, enrollment, body):
    client.force_login(enrollment.patient)
    response = client.post("/diary/sync/", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["message"]


def test_the_service_worker_is_served_for_the_diary_scope(client):
    response = client.get("/diary/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/diary/"
    script = response.content.decode()
    assert "importScripts(" in script and "offline-store" in script
