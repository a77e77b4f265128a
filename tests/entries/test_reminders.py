"""Daily reminder e-mails: once per diary day, at her time, in her time zone, never for
a day already recorded or an enrollment that has ended; paused or stopped from the link
in the e-mail without signing in."""

import datetime as dt
import threading
from io import StringIO
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection

from diary.entries import reminders
from diary.entries.models import Reminder
from diary.trial.models import Enrollment
from tests.concurrent import run_at_once
from tests.factories import EnrollmentFactory, EntryFactory, make_arm

pytestmark = pytest.mark.django_db

LA = ZoneInfo("America/Los_Angeles")
AUCKLAND = ZoneInfo("Pacific/Auckland")
UTC = dt.UTC


def at(zone, *args):
    return dt.datetime(*args, tzinfo=zone)


@pytest.fixture
def arm():
    return make_arm([("baseline", 14), ("ldn", 84)])


def enroll(arm, *, tz="America/Los_Angeles", start=dt.date(2026, 1, 1), time=dt.time(20, 0), **kw):
    return EnrollmentFactory(
        arm=arm, protocol=arm.protocol, timezone=tz, start_date=start, reminder_time=time, **kw
    )


def run(now):
    with time_machine.travel(now, tick=False):
        return reminders.send_due_reminders()


def test_reminder_goes_out_once_at_her_time_with_a_link_to_today(arm, settings):
    settings.SITE_ROOT = "https://diary.example.org"
    enrollment = enroll(arm)
    assert run(at(LA, 2026, 1, 10, 19, 59)).sent == 0
    assert run(at(LA, 2026, 1, 10, 20, 0)).sent == 1
    assert run(at(LA, 2026, 1, 10, 20, 5)).sent == 0
    assert run(at(LA, 2026, 1, 10, 23, 55)).sent == 0
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [enrollment.patient.email]
    assert "Saturday 10 January 2026" in message.body
    assert "https://diary.example.org/diary/\n" in message.body
    token = reminders.reminder_link_token(enrollment)
    assert f"https://diary.example.org/reminders/{token}/" in message.body
    assert message.extra_headers["List-Unsubscribe"] == (
        f"<https://diary.example.org/reminders/{token}/>"
    )
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    mark = Reminder.objects.get()
    assert (mark.enrollment, mark.date) == (enrollment, dt.date(2026, 1, 10))
    assert mark.sent_at is not None
    # The next day is a new diary day.
    assert run(at(LA, 2026, 1, 11, 20, 1)).sent == 1


def test_time_zones_on_both_sides_of_midnight_each_get_their_own_day(arm):
    # 07:30 UTC on 15 January: 23:30 on the 14th in Los Angeles, 20:30 on the 15th in
    # Auckland, 16:30 on the 15th in Tokyo.
    now = at(UTC, 2026, 1, 15, 7, 30)
    los_angeles = enroll(arm, time=dt.time(23, 0))
    auckland = enroll(arm, tz="Pacific/Auckland", time=dt.time(20, 0))
    enroll(arm, tz="Asia/Tokyo", time=dt.time(23, 0))  # not yet
    recorded_in_la = enroll(arm, time=dt.time(22, 0))
    EntryFactory(enrollment=recorded_in_la, date=dt.date(2026, 1, 14))  # her today
    recorded_in_auckland = enroll(arm, tz="Pacific/Auckland", time=dt.time(8, 0))
    EntryFactory(enrollment=recorded_in_auckland, date=dt.date(2026, 1, 14))  # yesterday

    assert run(now).sent == 3
    sent = set(Reminder.objects.values_list("enrollment__study_id", "date"))
    assert sent == {
        (los_angeles.study_id, dt.date(2026, 1, 14)),
        (auckland.study_id, dt.date(2026, 1, 15)),
        (recorded_in_auckland.study_id, dt.date(2026, 1, 15)),
    }


def test_a_day_that_is_over_is_never_reminded_late(arm):
    enroll(arm, time=dt.time(23, 50))
    # The cron job was down from 23:40 until 00:10: the 10th is over, and the 11th's
    # reminder is not due until 23:50.
    assert run(at(LA, 2026, 1, 11, 0, 10)).sent == 0
    assert not Reminder.objects.exists()


def test_no_reminder_when_the_day_is_already_recorded(arm):
    enrollment = enroll(arm)
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 1, 10))
    assert run(at(LA, 2026, 1, 10, 21, 0)).sent == 0
    # A voided entry does not count as recorded.
    voided = enroll(arm)
    EntryFactory(enrollment=voided, date=dt.date(2026, 1, 10), voided=True, void_reason="dup")
    assert run(at(LA, 2026, 1, 10, 21, 0)).sent == 1
    assert mail.outbox[0].to == [voided.patient.email]


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "withdrawn", "withdrawn_on": dt.date(2026, 1, 5)},
        {"status": "completed"},
        {"status": "screening"},
        {"start_date": dt.date(2026, 1, 11)},  # starts tomorrow
        {"start_date": dt.date(2025, 9, 1)},  # schedule (98 days) ended on 7 December
    ],
    ids=["withdrawn", "completed", "screening", "not-started", "schedule-ended"],
)
def test_no_reminder_outside_an_active_schedule(arm, changes):
    enrollment = enroll(arm)
    Enrollment.objects.filter(pk=enrollment.pk).update(**changes)
    assert run(at(LA, 2026, 1, 10, 21, 0)).sent == 0
    assert mail.outbox == []


def test_no_reminder_when_she_opted_out_or_paused(arm):
    enroll(arm, time=None)
    enroll(arm, reminders_paused_until=dt.date(2026, 1, 10))
    resumed = enroll(arm, reminders_paused_until=dt.date(2026, 1, 9))
    assert run(at(LA, 2026, 1, 10, 21, 0)).sent == 1
    assert mail.outbox[0].to == [resumed.patient.email]


def test_no_reminder_for_an_inactive_account_or_one_without_email(arm):
    enrollment = enroll(arm)
    enrollment.patient.is_active = False
    enrollment.patient.save()
    no_email = enroll(arm)
    no_email.patient.email = ""
    no_email.patient.save()
    assert run(at(LA, 2026, 1, 10, 21, 0)).sent == 0


def test_a_second_run_that_saw_the_same_due_list_sends_nothing(arm):
    enroll(arm)
    now = at(LA, 2026, 1, 10, 21, 0)
    with time_machine.travel(now, tick=False):
        first_view = reminders.due_reminders(now)
        second_view = reminders.due_reminders(now)
        assert reminders.claim(*first_view[0]) is not None
        assert reminders.claim(*second_view[0]) is None
        with mock.patch.object(reminders, "due_reminders", return_value=second_view):
            result = reminders.send_due_reminders()
    assert (result.sent, result.already_claimed) == (0, 1)


def test_a_failed_send_is_retried_by_the_next_run(arm):
    enroll(arm)
    with mock.patch("django.core.mail.EmailMessage.send", side_effect=OSError("SMTP down")):
        assert run(at(LA, 2026, 1, 10, 20, 0)).failed == 1
    assert not Reminder.objects.exists()
    assert run(at(LA, 2026, 1, 10, 20, 5)).sent == 1


def test_the_command_reports_what_it_did_and_fails_when_sending_fails(arm):
    enroll(arm)
    out = StringIO()
    failing = mock.patch("django.core.mail.EmailMessage.send", side_effect=OSError("down"))
    with time_machine.travel(at(LA, 2026, 1, 10, 20, 0), tick=False):
        with failing, pytest.raises(CommandError, match="1 reminder"):
            call_command("send_reminders", stdout=out)
        call_command("send_reminders", stdout=out)
    assert "Sent 1 reminder;" in out.getvalue()


def test_the_reminder_is_in_her_language(arm):
    enrollment = enroll(arm)
    enrollment.patient.language = "es"
    enrollment.patient.save()
    run(at(LA, 2026, 1, 10, 20, 0))
    message = mail.outbox[0]
    assert message.subject == "Su Diario del dolor de hoy"
    assert "sábado 10 de enero de 2026" in message.body


def test_finding_due_reminders_takes_the_same_queries_for_any_number(
    arm, django_assert_num_queries
):
    for _ in range(3):
        enroll(arm)
    now = at(LA, 2026, 1, 10, 21, 0)
    # enrollments, their protocols' arms and phases, the recorded days, the reminded days
    with django_assert_num_queries(5):
        assert len(reminders.due_reminders(now)) == 3
    for _ in range(10):
        enroll(arm)
    with django_assert_num_queries(5):
        assert len(reminders.due_reminders(now)) == 13


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs concurrent PostgreSQL sessions (CI runs it)"
)
def test_two_runs_at_once_send_each_reminder_once():
    arm = make_arm([("baseline", 14), ("ldn", 84)])
    for _ in range(5):
        enroll(arm)
    now = at(LA, 2026, 1, 10, 21, 0)
    barrier = threading.Barrier(2)
    real_due = reminders.due_reminders

    def both_see_everything_due(when):
        due = real_due(when)
        barrier.wait()  # both runs hold the same list before either claims
        return due

    with mock.patch.object(reminders, "due_reminders", both_see_everything_due):
        results = run_at_once(lambda: reminders.send_due_reminders(now))
    assert sum(r.sent for r in results) == 5
    assert sum(r.already_claimed for r in results) == 5
    assert len(mail.outbox) == 5
    assert len({m.to[0] for m in mail.outbox}) == 5
    assert Reminder.objects.count() == 5


# The link in the e-mail ------------------------------------------------------------


def link(enrollment):
    return f"/reminders/{reminders.reminder_link_token(enrollment)}/"


def test_the_link_shows_her_choices_without_signing_in_and_changes_nothing(client, arm):
    enrollment = enroll(arm)
    response = client.get(link(enrollment))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Pause reminders for 7 days" in page
    assert "Stop all reminders" in page
    assert enrollment.patient.email not in page
    enrollment.refresh_from_db()
    assert enrollment.reminder_time == dt.time(20, 0)


def test_pausing_from_the_link_skips_the_next_seven_days(client, arm):
    enrollment = enroll(arm)
    with time_machine.travel(at(LA, 2026, 1, 10, 9, 0), tick=False):
        response = client.post(link(enrollment), {"action": "pause"}, follow=True)
    assert "Reminders are paused until Friday 16 January 2026." in response.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.reminders_paused_until == dt.date(2026, 1, 16)
    assert run(at(LA, 2026, 1, 16, 21, 0)).sent == 0
    assert run(at(LA, 2026, 1, 17, 21, 0)).sent == 1
    change = enrollment.history.order_by("-history_id").first()
    assert change.history_change_reason == (
        "Reminders paused by the patient (link in a reminder e-mail)"
    )


def test_stopping_from_the_link_and_one_click_unsubscribe(client, arm):
    enrollment = enroll(arm)
    client.post(link(enrollment), {"action": "stop"})
    enrollment.refresh_from_db()
    assert enrollment.reminder_time is None
    other = enroll(arm)
    # RFC 8058: the mail program posts this body, with no cookies.
    response = client.post(link(other), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.reminder_time is None
    assert run(at(LA, 2026, 1, 10, 21, 0)).sent == 0
    # And back on.
    client.post(link(other), {"action": "resume"})
    other.refresh_from_db()
    assert other.reminder_time == dt.time(20, 0)


def test_a_made_up_or_unknown_link_is_not_found(client, arm):
    enrollment = enroll(arm)
    token = reminders.reminder_link_token(enrollment)
    assert client.get(f"/reminders/{token}x/").status_code == 404
    assert client.post("/reminders/nonsense/", {"action": "stop"}).status_code == 404
    response = client.post(link(enrollment), {"action": "explode"})
    assert response.status_code == 400
    assert "Choose one of the buttons below." in response.content.decode()


# Her settings page -----------------------------------------------------------------


@pytest.fixture
def patient_client(client, arm):
    enrollment = enroll(arm, start=dt.date.today() - dt.timedelta(days=3))
    client.force_login(enrollment.patient)
    client.enrollment = enrollment
    return client


def test_she_chooses_her_reminder_time_or_none(patient_client):
    enrollment = patient_client.enrollment
    page = patient_client.get("/diary/settings/").content.decode()
    assert "America/Los_Angeles" in page
    response = patient_client.post(
        "/diary/settings/", {"reminder_time": "21:30", "language": "en"}, follow=True
    )
    assert "Your settings are saved." in response.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.reminder_time == dt.time(21, 30)
    patient_client.post("/diary/settings/", {"reminder_time": "", "language": "en"})
    enrollment.refresh_from_db()
    assert enrollment.reminder_time is None


def test_a_time_not_offered_is_refused_with_a_message(patient_client):
    response = patient_client.post("/diary/settings/", {"reminder_time": "25:00", "language": "en"})
    assert response.status_code == 400
    assert "Choose a time from the list, or no reminders." in response.content.decode()
    patient_client.enrollment.refresh_from_db()
    assert patient_client.enrollment.reminder_time == dt.time(20, 0)


def test_choosing_spanish_switches_her_pages_and_emails(patient_client):
    response = patient_client.post(
        "/diary/settings/", {"reminder_time": "20:00", "language": "es"}, follow=True
    )
    assert "Su configuración se guardó." in response.content.decode()
    assert response.client.cookies["django_language"].value == "es"
    patient_client.enrollment.patient.refresh_from_db()
    assert patient_client.enrollment.patient.language == "es"


@pytest.mark.parametrize("who", ["anonymous", "physician", "coordinator"])
def test_the_settings_page_is_only_for_patients(client, arm, who):
    enrollment = enroll(arm)
    if who == "physician":
        client.force_login(enrollment.physician)
    elif who == "coordinator":
        from tests.factories import CoordinatorFactory

        client.force_login(CoordinatorFactory())
    response = client.get("/diary/settings/")
    assert response.status_code == (302 if who == "anonymous" else 404)
