"""Alerts for physicians: the four rules at their edges, in the patients' time zones,
episodes, the daily digest (once, also with two runs at once on PostgreSQL), the alert
page and acknowledging with a note."""

import datetime as dt
import threading
from io import StringIO
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection

from diary.audit.models import AuditAction, AuditEvent
from diary.figures import alerts
from diary.figures.activity import recent_activity
from diary.figures.models import Alert, AlertDigest
from diary.trial.models import Enrollment
from tests.concurrent import run_at_once
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    builtin_arm,
    make_arm,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
AUCKLAND = ZoneInfo("Pacific/Auckland")
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
TODAY = dt.date(2026, 3, 10)


@pytest.fixture
def arm():
    return make_arm([("baseline", 14), ("ldn", 84), ("followup", 14)])


def enroll(arm, started_days_ago=40, tz="America/Los_Angeles", **kwargs):
    """An enrollment whose day 1 was `started_days_ago` days before her today at NOW."""
    today = NOW.astimezone(ZoneInfo(tz)).date()
    return EnrollmentFactory(
        arm=arm,
        protocol=arm.protocol,
        timezone=tz,
        start_date=today - dt.timedelta(days=started_days_ago),
        **kwargs,
    )


def write(enrollment, days_ago, today=TODAY, **values):
    """Entries on each of `days_ago` (days before `today`)."""
    for back in days_ago:
        EntryFactory(enrollment=enrollment, date=today - dt.timedelta(days=back), **values)


def holds(enrollment, now=NOW) -> set[str]:
    (activity,) = recent_activity(Enrollment.objects.filter(pk=enrollment.pk), now=now)
    return activity.alert_conditions()


# missed_days ------------------------------------------------------------------------


def test_missed_days_holds_after_exactly_three_diary_days_without_an_entry(arm):
    enrollment = enroll(arm)
    write(enrollment, range(4, 41))
    assert "missed_days" in holds(enrollment)


def test_missed_days_needs_all_three_two_missed_days_are_not_an_alert(arm):
    enrollment = enroll(arm)
    write(enrollment, range(3, 41))
    assert "missed_days" not in holds(enrollment)


def test_missed_days_ignores_today_which_is_not_over(arm):
    enrollment = enroll(arm)
    write(enrollment, range(4, 41))
    write(enrollment, [0])  # today written: the 3 days before it are still missing
    assert "missed_days" in holds(enrollment)


def test_a_voided_entry_is_a_missed_day(arm):
    enrollment = enroll(arm)
    write(enrollment, range(4, 41))
    write(enrollment, [2], voided=True, void_reason="Entered for the wrong patient")
    assert "missed_days" in holds(enrollment)


def test_missed_days_needs_three_diary_days_before_today(arm):
    enrollment = enroll(arm, started_days_ago=2)  # day 3 today: days 1 and 2 before it
    assert holds(enrollment) == set()
    enrollment = enroll(arm, started_days_ago=3)
    assert holds(enrollment) == {"missed_days"}


def test_days_after_the_schedule_are_not_missed(arm):
    enrollment = enroll(arm, started_days_ago=112)  # the 112-day schedule ended yesterday
    write(enrollment, range(4, 113))
    assert "missed_days" in holds(enrollment)  # its last 3 days are missing
    enrollment = enroll(arm, started_days_ago=114)  # ended 3 days ago
    write(enrollment, range(6, 115))
    assert "missed_days" not in holds(enrollment)  # only 1 of the last 3 days is a diary day


@pytest.mark.parametrize(
    "now, expected",
    [
        # 23:59 in Auckland on 11 March: the 3 days before are 8, 9, 10 March; 8 March
        # has an entry.
        (dt.datetime(2026, 3, 11, 23, 59, tzinfo=AUCKLAND), set()),
        # 00:01 on 12 March there: 9, 10 and 11 March are all missing (and 11 of her last
        # 14 days recorded is under 80%).
        (dt.datetime(2026, 3, 12, 0, 1, tzinfo=AUCKLAND), {"missed_days", "low_compliance"}),
    ],
)
def test_missed_days_follows_her_own_midnight(arm, now, expected):
    enrollment = EnrollmentFactory(
        arm=arm, protocol=arm.protocol, timezone="Pacific/Auckland", start_date=dt.date(2026, 2, 1)
    )
    last_written = dt.date(2026, 3, 8)
    write(enrollment, range(0, 36), today=last_written)
    # At both moments it is still 10 or 11 March in Los Angeles: the study's clock
    # would give other days.
    assert holds(enrollment, now=now) == expected


def test_an_enrollment_behind_the_study_clock_is_judged_on_her_own_day(arm):
    # 01:00 on 11 March in Los Angeles is 23:00 on 10 March in Honolulu.
    now = dt.datetime(2026, 3, 11, 1, 0, tzinfo=LA)
    enrollment = EnrollmentFactory(
        arm=arm, protocol=arm.protocol, timezone="Pacific/Honolulu", start_date=dt.date(2026, 2, 1)
    )
    write(enrollment, range(3, 38), today=dt.date(2026, 3, 10))  # 1 February to 7 March
    # Her 3 days before today are 7, 8 and 9 March: 7 March is written. (On the study's
    # clock they would be 8, 9 and 10 March, all missing.)
    assert holds(enrollment, now=now) == set()
    later = dt.datetime(2026, 3, 11, 0, 1, tzinfo=ZoneInfo("Pacific/Honolulu"))
    assert holds(enrollment, now=later) == {"missed_days", "low_compliance"}


# low_compliance -------------------------------------------------------------------


def test_low_compliance_under_80_percent_of_the_last_14_diary_days(arm):
    enrollment = enroll(arm)
    write(enrollment, range(1, 12))  # 11 of 14: 78.6%
    write(enrollment, range(15, 41))
    assert holds(enrollment) == {"low_compliance"}


def test_low_compliance_at_exactly_80_percent_is_not_an_alert(arm):
    enrollment = enroll(arm, started_days_ago=10)  # 10 diary days before today
    write(enrollment, range(1, 9))  # 8 of 10: 80%
    assert holds(enrollment) == set()


def test_low_compliance_at_79_percent_is_an_alert(arm):
    # 19 diary days before today, 15 recorded: 78.9% ("79%")... of a 14-day window:
    # 11 of 14 is 78.6%. With 10 diary days, 7 recorded is 70%, 8 is 80%: the edge is
    # a figure under 80, however close.
    enrollment = enroll(arm)
    write(enrollment, range(1, 12))
    write(enrollment, range(15, 41))
    (activity,) = recent_activity(Enrollment.objects.filter(pk=enrollment.pk), now=NOW)
    assert activity.compliance_14 == pytest.approx(100 * 11 / 14)  # 78.6%
    assert "low_compliance" in activity.alert_conditions()
    enrollment = enroll(arm)
    write(enrollment, range(1, 13))  # 12 of 14: 85.7%
    write(enrollment, range(15, 41))
    assert holds(enrollment) == set()


def test_low_compliance_needs_7_diary_days_in_the_window(arm):
    enrollment = enroll(arm, started_days_ago=6)  # 6 diary days before today
    write(enrollment, [1, 2, 3])  # 50%
    assert holds(enrollment) == set()
    enrollment = enroll(arm, started_days_ago=7)
    write(enrollment, [1, 2, 3, 4, 5])  # 5 of 7: 71%
    assert holds(enrollment) == {"low_compliance"}


# low_tolerability and side_effects ------------------------------------------------


@pytest.mark.parametrize("tolerability, raised", [(50, True), (51, False), (0, True)])
def test_low_tolerability_at_50_or_less_in_the_last_3_entries(arm, tolerability, raised):
    enrollment = enroll(arm, started_days_ago=20)
    write(enrollment, range(3, 21), tolerability=90)
    write(enrollment, [2], tolerability=tolerability)  # the oldest of her last 3 entries
    write(enrollment, [0, 1], tolerability=95)
    assert ("low_tolerability" in holds(enrollment)) is raised


def test_low_tolerability_older_than_the_last_3_entries_is_not_an_alert(arm):
    enrollment = enroll(arm, started_days_ago=20)
    write(enrollment, range(1, 21), tolerability=90)
    enrollment.entries.filter(date=TODAY - dt.timedelta(days=4)).update(tolerability=20)
    assert holds(enrollment) == set()


def test_entries_without_tolerability_raise_nothing(arm):
    enrollment = enroll(arm, started_days_ago=20)
    write(enrollment, range(1, 21), tolerability=None)
    assert holds(enrollment) == set()


def test_side_effects_on_3_consecutive_recorded_days(arm):
    enrollment = enroll(arm, started_days_ago=20)
    write(enrollment, range(4, 21))
    write(enrollment, [1, 2, 3], headache=True)
    assert holds(enrollment) == {"side_effects"}


def test_three_headache_days_with_a_gap_are_not_consecutive(arm):
    enrollment = enroll(arm, started_days_ago=20)
    write(enrollment, range(5, 21))
    write(enrollment, [1, 2, 4], headache=True)  # 3 days ago is not recorded
    assert holds(enrollment) == set()


def test_a_day_without_headache_ends_the_run(arm):
    enrollment = enroll(arm, started_days_ago=20)
    write(enrollment, range(4, 21))
    write(enrollment, [1, 2, 3], headache=True)
    write(enrollment, [0], headache=False)
    assert holds(enrollment) == set()


def test_a_voided_headache_entry_does_not_count(arm):
    enrollment = enroll(arm, started_days_ago=20)
    write(enrollment, range(5, 21))
    write(enrollment, [1, 2, 3, 4], headache=True)
    enrollment.entries.filter(date=TODAY - dt.timedelta(days=2)).update(
        voided=True, void_reason="Duplicate"
    )
    # Her last 3 counting entries: 1, 3 and 4 days ago, not 3 days in a row.
    assert "side_effects" not in holds(enrollment)


# Episodes -------------------------------------------------------------------------


def test_an_alert_is_raised_once_per_episode(arm):
    enrollment = enroll(arm)
    write(enrollment, range(4, 41))
    assert alerts.run(NOW).raised == 2  # missed_days and low_compliance
    assert alerts.run(NOW + dt.timedelta(minutes=15)).raised == 0
    assert Alert.objects.filter(enrollment=enrollment).count() == 2


def test_an_alert_closes_when_its_rule_clears_and_a_new_episode_is_a_new_alert(arm):
    enrollment = enroll(arm, started_days_ago=5)
    alerts.run(NOW)
    write(enrollment, [1])  # she writes again
    assert alerts.run(NOW + dt.timedelta(minutes=15)).closed == 1
    missed = Alert.objects.get(enrollment=enrollment, kind="missed_days")
    assert missed.closed_at is not None
    # Four days later she has missed 3 more days: a new episode.
    alerts.run(NOW + dt.timedelta(days=4))
    episodes = Alert.objects.filter(enrollment=enrollment, kind="missed_days")
    assert episodes.count() == 2
    assert episodes.get(closed_at=None).raised_on == TODAY + dt.timedelta(days=4)


def test_only_active_enrollments_get_alerts_and_ending_one_closes_its_alerts(arm):
    enrollment = enroll(arm)
    alerts.run(NOW)
    assert Alert.objects.open().filter(enrollment=enrollment).exists()
    enrollment.status = "withdrawn"
    enrollment.withdrawn_on = TODAY
    enrollment.save()
    alerts.run(NOW + dt.timedelta(minutes=15))
    assert not Alert.objects.open().filter(enrollment=enrollment).exists()
    screening = enroll(arm, status="screening")
    alerts.run(NOW + dt.timedelta(minutes=30))
    assert not Alert.objects.filter(enrollment=screening).exists()


def test_an_acknowledged_alert_stays_acknowledged_while_its_episode_lasts(arm):
    enrollment = enroll(arm, started_days_ago=5)
    alerts.run(NOW)
    alert = Alert.objects.get(enrollment=enrollment)
    alerts.acknowledge(alert, enrollment.physician, "Phoned her; she is travelling.")
    alerts.run(NOW + dt.timedelta(minutes=15))
    assert Alert.objects.filter(enrollment=enrollment).count() == 1
    assert not Alert.objects.open().exists()


# The digest ------------------------------------------------------------------------


def test_one_digest_per_physician_listing_her_patients_by_study_id_only(arm):
    physician = PhysicianFactory(email="dr.alice@example.org")
    patient = PatientFactory(first_name="Rosalind", last_name="Quist", email="rq@example.org")
    enroll(arm, study_id="FM-101", physician=physician, patient=patient)
    two = enroll(arm, study_id="FM-102", physician=physician, started_days_ago=20)
    write(two, range(2, 21))
    write(two, [1], tolerability=40)
    other = enroll(arm, study_id="FM-201")
    assert alerts.run(NOW).sent == 2
    (mine,) = [m for m in mail.outbox if m.to == ["dr.alice@example.org"]]
    assert "FM-101: missed_days" in mine.body
    assert "FM-101: low_compliance" in mine.body
    assert "FM-102: low_tolerability" in mine.body
    assert "FM-201" not in mine.body
    for private in ("Rosalind", "Quist", "rq@example.org", patient.username):
        assert private not in mine.body and private not in mine.subject
    assert mine.subject == "Pain Diary: 3 new alerts for your patients"
    assert "/physician/alerts/" in mine.body
    assert [other.physician.email] in [m.to for m in mail.outbox]


def test_no_digest_when_nothing_is_new_and_at_most_one_a_day(arm):
    physician = PhysicianFactory()
    enroll(arm, physician=physician)
    alerts.run(NOW)
    assert len(mail.outbox) == 1
    assert alerts.run(NOW + dt.timedelta(minutes=15)).sent == 0  # nothing new
    # A new alert later the same day waits for tomorrow's digest.
    later = enroll(arm, physician=physician, started_days_ago=20)
    write(later, range(0, 21), headache=True)
    assert alerts.run(NOW + dt.timedelta(hours=2)).sent == 0
    assert len(mail.outbox) == 1
    assert alerts.run(NOW + dt.timedelta(days=1)).sent == 1
    assert len(mail.outbox) == 2
    assert f"{later.study_id}: side_effects" in mail.outbox[1].body
    assert "missed_days" not in mail.outbox[1].body  # reported yesterday
    assert AlertDigest.objects.filter(physician=physician).count() == 2


def test_no_digest_when_there_are_no_alerts(arm):
    enrollment = enroll(arm, started_days_ago=20)
    write(enrollment, range(0, 21))
    result = alerts.run(NOW)
    assert (result.raised, result.sent) == (0, 0)
    assert mail.outbox == []


def test_a_digest_that_cannot_be_sent_is_retried_on_the_next_run(arm):
    enroll(arm)
    with mock.patch("django.core.mail.EmailMessage.send", side_effect=OSError("SMTP down")):
        assert alerts.run(NOW).failed == 1
    assert not AlertDigest.objects.exists()
    assert alerts.run(NOW + dt.timedelta(minutes=15)).sent == 1
    assert len(mail.outbox) == 1


def test_the_command_reports_and_fails_when_a_digest_fails(arm):
    enroll(arm)
    failing = mock.patch("django.core.mail.EmailMessage.send", side_effect=OSError("SMTP down"))
    with failing, pytest.raises(CommandError, match="could not be sent"):
        call_command("send_alerts", stdout=StringIO())
    out = StringIO()
    call_command("send_alerts", stdout=out)
    assert "sent 1 digest;" in out.getvalue()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs concurrent PostgreSQL sessions (CI runs it)"
)
def test_two_runs_at_once_raise_each_alert_once_and_send_each_digest_once():
    arm = make_arm([("baseline", 14), ("ldn", 84)])
    physicians = [PhysicianFactory() for _ in range(3)]
    for physician in physicians:
        for _ in range(2):
            enroll(arm, physician=physician)
    barrier = threading.Barrier(2)
    real_refresh = alerts.refresh

    def refresh_together(now, result):
        barrier.wait()  # both runs test the rules at the same moment
        real_refresh(now, result)
        barrier.wait()  # and both hold the same unreported alerts before either sends

    with mock.patch.object(alerts, "refresh", refresh_together):
        results = run_at_once(lambda: alerts.run(NOW))
    # missed_days and low_compliance for each of the 6 patients, once
    assert Alert.objects.count() == 12
    assert sum(r.sent for r in results) == 3
    assert sum(r.already_claimed for r in results) == 3
    assert len(mail.outbox) == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(p.email for p in physicians)
    assert AlertDigest.objects.count() == 3


# The alert page ---------------------------------------------------------------------


@pytest.fixture
def alice():
    return PhysicianFactory(username="alice")


def test_the_alert_page_lists_open_alerts_of_her_own_patients(client, arm, alice):
    mine = enroll(arm, physician=alice, study_id="FM-001")
    enroll(arm, study_id="FM-900")
    alerts.run(NOW)
    client.force_login(alice)
    page = client.get("/physician/alerts/").content.decode()
    assert "FM-001" in page and "missed_days" in page and "2026-03-10" in page
    assert "FM-900" not in page
    assert mine.patient.username not in page
    client.force_login(CoordinatorFactory())
    coordinator_page = client.get("/physician/alerts/").content.decode()
    assert "FM-001" in coordinator_page and "FM-900" in coordinator_page
    searched = client.get("/physician/alerts/", {"q": "fm-9"}).content.decode()
    assert "FM-900" in searched and "FM-001" not in searched
    searched = client.get("/physician/alerts/", {"q": "900"}).content.decode()
    assert "FM-900" in searched and "FM-001" not in searched


def test_acknowledging_needs_a_note(client, arm, alice):
    enroll(arm, physician=alice, study_id="FM-001", started_days_ago=5)
    alerts.run(NOW)
    alert = Alert.objects.get()
    client.force_login(alice)
    response = client.post(f"/physician/alerts/{alert.pk}/acknowledge/", {"note": "   "})
    assert response.status_code == 400
    assert "Write a note to acknowledge the alert" in response.content.decode()
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    assert not AuditEvent.objects.filter(action=AuditAction.ALERT_ACKNOWLEDGED).exists()


def test_acknowledging_with_a_note_records_it_and_clears_the_list_and_badge(client, arm, alice):
    enroll(arm, physician=alice, study_id="FM-001", started_days_ago=5)
    alerts.run(NOW)
    alert = Alert.objects.get()
    client.force_login(alice)
    home = client.get("/physician/").content.decode()
    assert "1 open alert<" in home and "badge text-bg-danger" in home
    response = client.post(
        f"/physician/alerts/{alert.pk}/acknowledge/", {"note": "Phoned her: back on track."}
    )
    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == alice
    assert alert.acknowledgement == "Phoned her: back on track."
    event = AuditEvent.objects.get(action=AuditAction.ALERT_ACKNOWLEDGED)
    assert (event.actor, event.reason, event.enrollment) == (
        alice,
        alert.acknowledgement,
        alert.enrollment,
    )
    home = client.get("/physician/").content.decode()
    assert "0 open alerts<" in home and "badge text-bg-danger" not in home
    assert "FM-001" not in client.get("/physician/alerts/").content.decode()
    done = client.get("/physician/alerts/?show=acknowledged").content.decode()
    assert "Phoned her: back on track." in done and "alice" in done


def test_nobody_acknowledges_an_alert_of_a_patient_they_cannot_see(client, arm, alice):
    enroll(arm, study_id="FM-900")
    alerts.run(NOW)
    alert = Alert.objects.first()
    url = f"/physician/alerts/{alert.pk}/acknowledge/"
    client.force_login(alice)
    assert client.post(url, {"note": "x"}).status_code == 404
    client.force_login(alert.enrollment.patient)
    assert client.get("/physician/alerts/").status_code == 404
    assert client.post(url, {"note": "x"}).status_code == 404
    client.force_login(alice)
    huge = "/physician/alerts/99999999999999999999999/acknowledge/"
    assert client.post(huge, {"note": "x"}).status_code == 404
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_blinded_readers_see_alerts_with_blinded_labels(client, alice):
    for study_id, code in (("FM-A", "A"), ("FM-B", "B")):
        enroll(builtin_arm(code=code), started_days_ago=30, physician=alice, study_id=study_id)
    alerts.run(NOW)
    client.force_login(alice)
    page = client.get("/physician/alerts/").content.decode()
    assert page.count("<td>Treatment</td>") == 4  # 2 rules x 2 patients, same label
    for word in ("LDN", "Placebo", "placebo"):
        assert word not in page
    (digest,) = mail.outbox
    for word in ("LDN", "ldn", "lacebo", "Treatment", " arm"):
        assert word not in digest.body


def test_paging_the_acknowledged_alerts_keeps_the_search(client, alice):
    client.force_login(alice)
    response = client.get("/physician/alerts/?show=acknowledged&q=FM-0")
    assert response.context["query"] == "show=acknowledged&q=FM-0"
    response = client.get("/physician/alerts/?q=FM-0")
    assert response.context["query"] == "q=FM-0"
