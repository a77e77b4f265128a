"""A patient who travels changes her time zone (docs/domain.md, "Time zone changes"):
from her next diary day on her day follows the new zone, earlier days keep theirs, no
day is skipped or doubled, and the change is recorded."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
import time_machine

from diary.entries import reminders
from diary.trial import travel
from diary.trial.dates import ZoneRule, diary_day, next_rule
from diary.trial.models import Enrollment, EnrollmentStatus
from tests.factories import CoordinatorFactory, EntryFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = "America/Los_Angeles"
TOKYO = "Asia/Tokyo"
NEW_YORK = "America/New_York"
KIRITIMATI = "Pacific/Kiritimati"  # UTC+14
GMT_PLUS_12 = "Etc/GMT+12"  # UTC-12 (POSIX signs)

# 20:00 in Los Angeles on 2026-03-10 (the enrollment's study day 19).
NOW = dt.datetime(2026, 3, 10, 20, 0, tzinfo=ZoneInfo(LA))
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)


def at(zone, *args):
    return dt.datetime(*args, tzinfo=ZoneInfo(zone))


def change(rules, zone, now):
    return [
        *[r for r in rules if r.starts_at is None or r.starts_at <= now],
        next_rule(rules, zone, now),
    ]


def walk(rules, start, hours=5 * 24):
    return [diary_day(rules, start + HOUR * i) for i in range(hours + 1)]


def assert_no_day_skipped_or_doubled(days):
    for before, after in zip(days, days[1:], strict=False):
        assert after - before in (dt.timedelta(0), DAY), (before, after)
    covered = {days[0] + DAY * i for i in range((days[-1] - days[0]).days + 1)}
    assert set(days) == covered


def first_instant(rules, day, start, step=dt.timedelta(minutes=1)):
    t = start
    while diary_day(rules, t) < day:
        t += step
    return t


# The rule ------------------------------------------------------------------------


def test_los_angeles_to_tokyo_day_d_ends_in_la_then_follows_tokyo():
    made = at(LA, 2026, 3, 2, 20, 0)
    rules = change([ZoneRule(LA)], TOKYO, made)
    rule = rules[-1]
    assert (rule.starts_day, rule.splits) == (dt.date(2026, 3, 3), ())
    # Day D (March 2) lasts until midnight in Los Angeles = 17:00 in Tokyo.
    assert rule.starts_at == at(LA, 2026, 3, 3, 0, 0)
    assert diary_day(rules, at(LA, 2026, 3, 2, 23, 59)) == dt.date(2026, 3, 2)
    # Day F (March 3) is short: it ends at midnight in Tokyo.
    assert diary_day(rules, at(TOKYO, 2026, 3, 3, 23, 59)) == dt.date(2026, 3, 3)
    assert diary_day(rules, at(TOKYO, 2026, 3, 4, 0, 0)) == dt.date(2026, 3, 4)
    assert_no_day_skipped_or_doubled(walk(rules, made - DAY))


def test_tokyo_to_los_angeles_day_f_lasts_until_its_end_in_la():
    made = at(TOKYO, 2026, 3, 2, 20, 0)
    rules = change([ZoneRule(TOKYO)], LA, made)
    assert rules[-1].starts_at == at(TOKYO, 2026, 3, 3, 0, 0)
    # In LA it is still March 2 then: March 3 is held until LA's March 3 ends.
    assert diary_day(rules, at(LA, 2026, 3, 2, 8, 0)) == dt.date(2026, 3, 3)
    assert diary_day(rules, at(LA, 2026, 3, 3, 23, 59)) == dt.date(2026, 3, 3)
    assert diary_day(rules, at(LA, 2026, 3, 4, 0, 0)) == dt.date(2026, 3, 4)
    assert_no_day_skipped_or_doubled(walk(rules, made - DAY))


def test_extreme_east_jump_shares_the_new_date_between_two_days():
    made = at(GMT_PLUS_12, 2026, 3, 2, 20, 0)
    rules = change([ZoneRule(GMT_PLUS_12)], KIRITIMATI, made)
    rule = rules[-1]
    # Day D ends at midnight UTC-12 = 02:00 on March 4 in Kiritimati: March 3 would be
    # skipped, so March 3 and 4 share the rest of Kiritimati's March 4 (11 h each).
    assert rule.starts_at == at(KIRITIMATI, 2026, 3, 4, 2, 0)
    assert rule.splits == (at(KIRITIMATI, 2026, 3, 4, 13, 0),)
    assert diary_day(rules, at(KIRITIMATI, 2026, 3, 4, 12, 59)) == dt.date(2026, 3, 3)
    assert diary_day(rules, at(KIRITIMATI, 2026, 3, 4, 13, 0)) == dt.date(2026, 3, 4)
    # Then her day is Kiritimati's date again.
    assert diary_day(rules, at(KIRITIMATI, 2026, 3, 5, 0, 0)) == dt.date(2026, 3, 5)
    assert_no_day_skipped_or_doubled(walk(rules, made - DAY))


def test_extreme_west_jump_holds_day_f_for_two_days():
    made = at(KIRITIMATI, 2026, 3, 2, 20, 0)
    rules = change([ZoneRule(KIRITIMATI)], GMT_PLUS_12, made)
    assert rules[-1].starts_at == at(KIRITIMATI, 2026, 3, 3, 0, 0)
    # UTC-12 is then at 22:00 on March 1: March 3 lasts until its end there (50 h).
    end = first_instant(rules, dt.date(2026, 3, 4), rules[-1].starts_at)
    assert end == at(GMT_PLUS_12, 2026, 3, 4, 0, 0)
    assert end - rules[-1].starts_at == dt.timedelta(hours=50)
    assert_no_day_skipped_or_doubled(walk(rules, made - DAY))


def test_extreme_pair_there_and_back_composes():
    rules = change([ZoneRule(GMT_PLUS_12)], KIRITIMATI, at(GMT_PLUS_12, 2026, 3, 2, 20, 0))
    made = at(KIRITIMATI, 2026, 3, 5, 20, 0)
    assert diary_day(rules, made) == dt.date(2026, 3, 5)
    rules = change(rules, GMT_PLUS_12, made)
    assert rules[-1].starts_day == dt.date(2026, 3, 6)
    assert_no_day_skipped_or_doubled(walk(rules, at(GMT_PLUS_12, 2026, 3, 1, 0, 0), 10 * 24))


def test_across_the_us_dst_end():
    # New York to Los Angeles on the evening of October 31; clocks go back on Nov 1.
    made = at(NEW_YORK, 2026, 10, 31, 20, 0)
    rules = change([ZoneRule(NEW_YORK)], LA, made)
    assert rules[-1].starts_at == at(NEW_YORK, 2026, 11, 1, 0, 0)
    assert diary_day(rules, at(LA, 2026, 10, 31, 22, 0)) == dt.date(2026, 11, 1)
    # November 1 has 25 hours in Los Angeles; it ends at its midnight there.
    assert first_instant(rules, dt.date(2026, 11, 2), made) == at(LA, 2026, 11, 2, 0, 0)
    assert_no_day_skipped_or_doubled(walk(rules, made - DAY))
    # And the other way, on the day the clocks go back.
    rules = change([ZoneRule(LA)], NEW_YORK, at(LA, 2026, 10, 31, 20, 0))
    assert first_instant(rules, dt.date(2026, 11, 2), made) == at(NEW_YORK, 2026, 11, 2, 0, 0)
    assert_no_day_skipped_or_doubled(walk(rules, made - DAY))


def test_a_sequence_of_two_changes_composes():
    rules = change([ZoneRule(LA)], TOKYO, at(LA, 2026, 3, 2, 20, 0))
    rules = change(rules, LA, at(TOKYO, 2026, 3, 5, 9, 0))
    assert rules[-1].starts_day == dt.date(2026, 3, 6)
    assert rules[-1].starts_at == at(TOKYO, 2026, 3, 6, 0, 0)
    days = walk(rules, at(LA, 2026, 3, 1, 0, 0), 8 * 24)
    assert_no_day_skipped_or_doubled(days)
    assert days[-1] == at(LA, 2026, 3, 9, 0, 0).date()


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (LA, TOKYO),
        (TOKYO, LA),
        (GMT_PLUS_12, KIRITIMATI),
        (KIRITIMATI, GMT_PLUS_12),
        (NEW_YORK, LA),
        ("Australia/Lord_Howe", "Pacific/Chatham"),
    ],
)
@pytest.mark.parametrize("hour", [0, 7, 13, 23])
def test_no_day_skipped_or_doubled_over_five_days_hourly(old, new, hour):
    made = at(old, 2026, 10, 30, hour, 30)
    rules = change([ZoneRule(old)], new, made)
    assert_no_day_skipped_or_doubled(walk(rules, made - DAY))


# Her enrollment, her settings, the admin -------------------------------------------


def test_the_change_counts_from_tomorrow_and_earlier_entries_keep_their_days(enrollment):
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 10))
    assert enrollment.local_today() == dt.date(2026, 3, 10)
    rule = travel.change_zone(enrollment, TOKYO, by=enrollment.patient, reason="test")
    # Today (March 10 in LA; already March 11 in Tokyo) stays March 10.
    assert enrollment.local_today() == dt.date(2026, 3, 10)
    assert enrollment.zone_at() == LA and enrollment.timezone == TOKYO
    assert rule.starts_day == dt.date(2026, 3, 11)
    assert enrollment.local_today(at(TOKYO, 2026, 3, 11, 20, 0)) == dt.date(2026, 3, 11)
    assert enrollment.local_today(at(TOKYO, 2026, 3, 12, 0, 1)) == dt.date(2026, 3, 12)
    assert list(enrollment.entries.values_list("date", flat=True)) == [dt.date(2026, 3, 10)]
    fresh = Enrollment.objects.get(pk=enrollment.pk)
    assert fresh.local_today(at(TOKYO, 2026, 3, 11, 20, 0)) == dt.date(2026, 3, 11)


def test_a_second_change_the_same_day_replaces_the_first(enrollment):
    travel.change_zone(enrollment, TOKYO, by=enrollment.patient, reason="test")
    travel.change_zone(enrollment, "Europe/Madrid", by=enrollment.patient, reason="test")
    assert [c["zone"] for c in enrollment.zone_changes] == ["Europe/Madrid"]
    travel.change_zone(enrollment, LA, by=enrollment.patient, reason="test")
    assert enrollment.zone_changes == [] and enrollment.timezone == LA


def test_the_settings_form_records_the_change(patient_client, enrollment):
    response = patient_client.post(
        "/diary/settings/", {"timezone": TOKYO, "reminder_time": "20:00", "language": "en"}
    )
    assert response.status_code == 302
    enrollment.refresh_from_db()
    assert enrollment.timezone == TOKYO
    *_, previous, last = enrollment.history.order_by("history_id")
    assert (previous.timezone, last.timezone) == (LA, TOKYO)
    assert last.history_user == enrollment.patient
    assert last.history_change_reason == "Time zone changed by the patient (diary settings)"
    assert last.zone_changes[-1]["starts_day"] == "2026-03-11"
    page = patient_client.get("/diary/settings/").content.decode()
    assert "Your diary follows Asia/Tokyo from" in page
    assert 'list="timezone-names"' in page and '<option value="Asia/Tokyo">' in page


def test_a_bad_zone_gets_a_clear_message(patient_client, enrollment):
    response = patient_client.post(
        "/diary/settings/", {"timezone": "Mars/Olympus", "reminder_time": "20:00", "language": "en"}
    )
    assert response.status_code == 400
    assert "is not a time zone name we know" in response.content.decode()
    enrollment.refresh_from_db()
    assert enrollment.timezone == LA and enrollment.zone_changes == []


@pytest.mark.parametrize("status", [EnrollmentStatus.COMPLETED, EnrollmentStatus.WITHDRAWN])
def test_a_read_only_patient_cannot_change_it(patient_client, enrollment, status):
    enrollment.status = status
    enrollment.withdrawn_on = dt.date(2026, 3, 1) if status == EnrollmentStatus.WITHDRAWN else None
    enrollment.save()
    page = patient_client.get("/diary/settings/").content.decode()
    assert 'name="timezone"' not in page
    patient_client.post("/diary/settings/", {"timezone": TOKYO, "language": "en"})
    enrollment.refresh_from_db()
    assert enrollment.timezone == LA
    with pytest.raises(Exception, match="diary is closed"):
        travel.change_zone(enrollment, TOKYO, by=enrollment.patient, reason="test")


def test_staff_change_it_in_the_admin_by_the_same_rule(client, enrollment):
    coordinator = CoordinatorFactory(is_staff=True, is_superuser=True)
    client.force_login(coordinator)
    url = f"/admin/diary/enrollment/{enrollment.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update(timezone=TOKYO, change_reason="She moved to Japan")
    data["physician"] = enrollment.physician_id
    data["reminder_time"] = "20:00"
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    enrollment.refresh_from_db()
    assert enrollment.timezone == TOKYO
    assert enrollment.zone_changes[0]["starts_day"] == "2026-03-11"
    last = enrollment.history.order_by("history_id").last()
    assert last.history_user == coordinator
    assert last.history_change_reason == "She moved to Japan"


def test_the_reminder_follows_the_zone_in_force(enrollment):
    enrollment.reminder_time = dt.time(20, 0)
    enrollment.save()
    travel.change_zone(enrollment, TOKYO, by=enrollment.patient, reason="test")
    # March 11, 19:00 in Tokyo: her day is March 11 (in Tokyo), not yet 20:00 there.
    with time_machine.travel(at(TOKYO, 2026, 3, 11, 19, 0), tick=False):
        assert reminders.due_reminders(at(TOKYO, 2026, 3, 11, 19, 0)) == []
    due = reminders.due_reminders(at(TOKYO, 2026, 3, 11, 20, 30))
    assert due == [(enrollment, dt.date(2026, 3, 11))]
