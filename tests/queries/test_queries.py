"""Data queries through their pages: raising on a day, a missing day or a visit, the
patient's answer and correction outside her window, closing and reopening, refusals,
the list, the counts, the alert, the e-mail and the file."""

import datetime as dt
import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from diary.audit.models import AuditAction, AuditEvent
from diary.entries.models import DiaryEntry
from diary.figures import alerts
from diary.figures.models import Alert
from diary.queries.models import DataQuery
from diary.signoff import locking
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    VisitFactory,
)

pytestmark = pytest.mark.django_db

VALUES = {"pain": 2, "fatigue": 3, "sleep_quality": 4, "vivid_dreams": "no", "headache": "no"}


@pytest.fixture
def physician():
    return PhysicianFactory(username="dr-reyes")


@pytest.fixture
def enrollment(physician):
    patient = PatientFactory(email="maria@example.org", first_name="Maria")
    enrollment = EnrollmentFactory(patient=patient, physician=physician, study_id="FM-Q01")
    EntryFactory(enrollment=enrollment, pain=9)
    return enrollment


def raise_on(client, enrollment, text="Was the pain of this day really 9?", **where):
    where = where or {"date": enrollment.start_date.isoformat()}
    query = "&".join(f"{k}={v}" for k, v in where.items())
    return client.post(
        f"/physician/patients/{enrollment.study_id}/queries/new/?{query}", {"text": text, **where}
    )


def test_the_whole_loop_on_a_day(
    client, physician, enrollment, settings, django_capture_on_commit_callbacks
):
    settings.SITE_ROOT = "https://diary.example.org"
    client.force_login(physician)
    with django_capture_on_commit_callbacks(execute=True):
        response = raise_on(client, enrollment)
    assert response.status_code == 302
    query = DataQuery.objects.get()
    assert query.status == "open" and query.raised_by == physician
    # The patient's e-mail: a link, no clinical content.
    (message,) = mail.outbox
    assert message.to == ["maria@example.org"]
    assert "https://diary.example.org/diary/questions/" in message.body
    # Neither the question nor the day: only that there is one, and where.
    assert "really 9" not in message.body and "9" not in message.subject
    assert enrollment.start_date.isoformat() not in message.body
    query.refresh_from_db()
    assert query.emailed_at is not None

    client.force_login(enrollment.patient)
    today = client.get("/diary/").content.decode()
    assert "1 question from your study team" in today
    page = client.get(f"/diary/questions/{query.pk}/")
    assert "Was the pain of this day really 9?" in page.content.decode()
    # Her day is long past its window: she corrects it anyway, to answer the query.
    response = client.post(f"/diary/questions/{query.pk}/", {"action": "correct", **VALUES})
    assert response.status_code == 302
    entry = DiaryEntry.objects.get(enrollment=enrollment, date=enrollment.start_date)
    assert entry.pain == 2 and entry.corrected_after_query and entry.source == "patient"
    last = entry.history.first()
    assert last.history_change_reason == f"answer to query #{query.pk}"
    assert last.history_user == enrollment.patient
    response = client.post(
        f"/diary/questions/{query.pk}/", {"action": "answer", "answer": "I typed 9 by mistake."}
    )
    assert response.status_code == 302
    query.refresh_from_db()
    assert query.status == "answered" and query.answered_by == enrollment.patient

    client.force_login(physician)
    assert client.post(f"/physician/queries/{query.pk}/", {"action": "close"}).status_code == 400
    response = client.post(
        f"/physician/queries/{query.pk}/", {"action": "close", "note": "Corrected by her."}
    )
    assert response.status_code == 302
    query.refresh_from_db()
    assert query.status == "closed" and query.close_note == "Corrected by her."
    # Closed: she can no longer answer it.
    client.force_login(enrollment.patient)
    response = client.post(f"/diary/questions/{query.pk}/", {"action": "answer", "answer": "x"})
    assert response.status_code == 400
    client.force_login(physician)
    assert client.post(f"/physician/queries/{query.pk}/", {"action": "reopen"}).status_code == 400
    response = client.post(
        f"/physician/queries/{query.pk}/", {"action": "reopen", "reason": "Check again"}
    )
    assert response.status_code == 302
    actions = list(
        AuditEvent.objects.filter(enrollment=enrollment)
        .order_by("at", "pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        AuditAction.QUERY_RAISED,
        AuditAction.QUERY_ANSWERED,
        AuditAction.QUERY_CLOSED,
        AuditAction.QUERY_REOPENED,
    ]


def test_a_query_on_a_missing_day_lets_her_fill_it_in(client, physician, enrollment):
    client.force_login(physician)
    day = enrollment.start_date + dt.timedelta(days=2)
    raise_on(client, enrollment, date=day.isoformat())
    query = DataQuery.objects.get()
    client.force_login(enrollment.patient)
    response = client.post(f"/diary/questions/{query.pk}/", {"action": "correct", **VALUES})
    assert response.status_code == 302, response.content.decode()[-3000:]
    entry = DiaryEntry.objects.get(enrollment=enrollment, date=day)
    assert entry.corrected_after_query and entry.late


def test_without_a_query_the_window_still_holds(client, enrollment):
    client.force_login(enrollment.patient)
    response = client.post(f"/diary/{enrollment.start_date.isoformat()}/", VALUES)
    assert response.status_code == 403
    assert DiaryEntry.objects.get(enrollment=enrollment).pain == 9


def test_a_visit_query_is_answered_by_staff(client, physician, enrollment):
    visit = VisitFactory(enrollment=enrollment)
    client.force_login(physician)
    raise_on(client, enrollment, visit=visit.pk)
    query = DataQuery.objects.get()
    assert query.target == "visit" and query.visit == visit
    assert not mail.outbox
    response = client.post(
        f"/physician/queries/{query.pk}/", {"action": "answer", "answer": "Lab confirmed."}
    )
    assert response.status_code == 302
    query.refresh_from_db()
    assert query.status == "answered"


def test_staff_never_answer_a_day_query(client, physician, enrollment):
    client.force_login(physician)
    raise_on(client, enrollment)
    query = DataQuery.objects.get()
    response = client.post(
        f"/physician/queries/{query.pk}/", {"action": "answer", "answer": "She meant 2."}
    )
    assert response.status_code == 400
    query.refresh_from_db()
    assert query.status == "open"


def test_a_question_over_1000_characters_is_refused(client, physician, enrollment):
    client.force_login(physician)
    response = raise_on(client, enrollment, text="x" * 1001)
    assert response.status_code == 400
    assert "keep it to 1000 characters" in response.content.decode()
    assert not DataQuery.objects.exists()


def test_another_physicians_patient_is_404(client, enrollment):
    client.force_login(PhysicianFactory())
    assert raise_on(client, enrollment).status_code == 404
    query = DataQuery.objects.create(
        enrollment=enrollment,
        target="entry",
        date=enrollment.start_date,
        text="?",
        raised_by=enrollment.physician,
        raised_at=timezone.now(),
    )
    assert client.get(f"/physician/queries/{query.pk}/").status_code == 404
    assert "FM-Q01" not in client.get("/physician/queries/?status=all").content.decode()
    other = PatientFactory()
    EnrollmentFactory(patient=other)
    client.force_login(other)
    assert client.get(f"/diary/questions/{query.pk}/").status_code == 404


def test_locked_data_take_no_query(client, enrollment):
    coordinator = CoordinatorFactory(first_name="Casey", last_name="Morgan")
    enrollment.status = "completed"
    enrollment.save()
    locking.lock_enrollment(enrollment, coordinator, override_reason="Analysis")
    client.force_login(coordinator)
    response = raise_on(client, enrollment)
    assert response.status_code == 400 and "is locked by Casey Morgan" in response.content.decode()


def test_the_list_filters_and_pages(client, physician, enrollment, django_assert_max_num_queries):
    coordinator = CoordinatorFactory()
    now = timezone.now()
    DataQuery.objects.bulk_create(
        DataQuery(
            enrollment=enrollment,
            target="entry",
            date=enrollment.start_date,
            text=f"question {n}",
            raised_by=physician,
            raised_at=now - dt.timedelta(days=n),
        )
        for n in range(60)
    )
    client.force_login(coordinator)
    with django_assert_max_num_queries(12):
        page = client.get("/physician/queries/?q=FM-Q01").content.decode()
    assert "60 queries" in page and "Page 1 of 2" in page
    assert "question 59" in page  # oldest first
    page = client.get("/physician/queries/?q=FM-Q01&page=2").content.decode()
    assert "question 0<" in page or "question 0\n" in page or "question 0</td>" in page
    assert "0 queries" in client.get("/physician/queries/?status=closed").content.decode()
    assert client.get("/physician/queries/?page=0").status_code == 400
    home = client.get("/physician/").content.decode()
    assert "60 not closed" in home


def test_a_query_waiting_more_than_7_days_raises_an_alert(physician, enrollment):
    DataQuery.objects.create(
        enrollment=enrollment,
        target="entry",
        date=enrollment.start_date,
        text="?",
        raised_by=physician,
        raised_at=timezone.now() - dt.timedelta(days=8),
    )
    alerts.refresh(timezone.now(), alerts.RunResult())
    assert Alert.objects.filter(enrollment=enrollment, kind="query_waiting").exists()


def test_the_email_is_in_her_language(
    client, physician, enrollment, django_capture_on_commit_callbacks
):
    enrollment.patient.language = "es"
    enrollment.patient.save()
    client.force_login(physician)
    with django_capture_on_commit_callbacks(execute=True):
        raise_on(client, enrollment)
    (message,) = mail.outbox
    assert "Hola" in message.body or "pregunta" in (message.subject + message.body).lower()


def test_export_queries(client, physician, enrollment):
    client.force_login(physician)
    raise_on(client, enrollment, text="Really, 9?")
    out = io.StringIO()
    call_command("export_queries", stdout=out, stderr=io.StringIO())
    header, row = out.getvalue().splitlines()[:2]
    assert header == (
        "id,study_id,date,target,raised_by,raised_at,text,status,answered_by,answered_at,"
        "answer,closed_by,closed_at,close_note"
    )
    assert ",FM-Q01," in row and "Really, 9?" in row and ",open," in row


def test_a_query_names_one_day_or_one_visit_of_hers(client, physician, enrollment):
    client.force_login(physician)
    today = enrollment.local_today()
    future = raise_on(client, enrollment, date=(today + dt.timedelta(days=2)).isoformat())
    assert future.status_code == 400
    before = raise_on(client, enrollment, date="2000-01-01")
    assert before.status_code == 400
    visit = VisitFactory(enrollment=enrollment)
    both = raise_on(client, enrollment, date=enrollment.start_date.isoformat(), visit=visit.pk)
    assert both.status_code == 400
    assert "one diary day or one visit" in both.content.decode()
    neither = client.post(
        f"/physician/patients/{enrollment.study_id}/queries/new/", {"text": "Which day?"}
    )
    assert neither.status_code == 404  # an address without its day: "check the address"
    other_visit = VisitFactory(enrollment=EnrollmentFactory(physician=physician))
    not_hers = raise_on(client, enrollment, visit=other_visit.pk)
    assert not_hers.status_code in (400, 404)
    assert not DataQuery.objects.exists()


def test_only_a_closed_query_is_reopened_and_closing_needs_a_note(client, physician, enrollment):
    client.force_login(physician)
    raise_on(client, enrollment)
    query = DataQuery.objects.get()
    url = f"/physician/queries/{query.pk}/"
    assert client.post(url, {"action": "reopen", "reason": "Again"}).status_code == 400
    assert client.post(url, {"action": "close", "note": ""}).status_code == 400
    query.refresh_from_db()
    assert query.status == "open"
    assert client.post(url, {"action": "close", "note": "Checked with paper"}).status_code == 302
    assert client.post(url, {"action": "reopen", "reason": ""}).status_code == 400
    assert client.post(url, {"action": "reopen", "reason": "Not resolved"}).status_code == 302
    query.refresh_from_db()
    assert query.status == "open"
    assert AuditEvent.objects.filter(action=AuditAction.QUERY_REOPENED, reason="Not resolved")
