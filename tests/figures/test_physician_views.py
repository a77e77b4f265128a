"""The physician's patient list and patient page: access, content, query counts."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

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
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
TODAY = dt.date(2026, 3, 10)


@pytest.fixture
def alice():
    """A physician with one patient on the open-label schedule."""
    return PhysicianFactory(username="alice")


@pytest.fixture
def enrollment(alice):
    arm = make_arm([("baseline", 14), ("ldn", 28), ("followup", 14)])
    return EnrollmentFactory(
        study_id="FM-001",
        physician=alice,
        arm=arm,
        protocol=arm.protocol,
        start_date=dt.date(2026, 2, 20),
    )


def detail_url(study_id):
    return f"/physician/patients/{study_id}/"


# Access ----------------------------------------------------------------------------


def test_anonymous_is_sent_to_sign_in(client, enrollment):
    for url in ("/physician/", detail_url("FM-001")):
        assert client.get(url)["Location"].startswith("/accounts/login/")


def test_patients_get_404_on_physician_pages(client, enrollment):
    for patient in (enrollment.patient, PatientFactory()):
        client.force_login(patient)
        assert client.get("/physician/").status_code == 404
        assert client.get(detail_url("FM-001")).status_code == 404


def test_physician_sees_her_own_patient(client, enrollment, alice):
    client.force_login(alice)
    assert "FM-001" in client.get("/physician/").content.decode()
    assert client.get(detail_url("FM-001")).status_code == 200


def test_other_physician_never_sees_another_physicians_patient(client, enrollment):
    bob = PhysicianFactory(username="bob")
    EnrollmentFactory(study_id="FM-002", physician=bob)
    client.force_login(bob)
    page = client.get("/physician/").content.decode()
    assert "FM-002" in page and "FM-001" not in page
    assert client.get(detail_url("FM-001")).status_code == 404


def test_unknown_and_foreign_study_ids_answer_the_same_404(client, enrollment):
    client.force_login(PhysicianFactory())
    assert client.get(detail_url("FM-001")).status_code == 404
    assert client.get(detail_url("NO-SUCH-ID")).status_code == 404


def test_coordinator_sees_every_patient(client, enrollment):
    EnrollmentFactory(study_id="FM-002")
    client.force_login(CoordinatorFactory())
    page = client.get("/physician/").content.decode()
    assert "FM-001" in page and "FM-002" in page
    assert client.get(detail_url("FM-001")).status_code == 200


# Patient list ----------------------------------------------------------------------


def test_list_shows_phase_study_day_last_entry_and_missed_days(client, enrollment, alice):
    # The last 7 completed days are 2026-03-03 .. 2026-03-09; entries on 3 of them.
    for day in (3, 5, 9):
        EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, day))
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 2, 25))
    client.force_login(alice)
    response = client.get("/physician/")
    (row,) = response.context["rows"]
    assert row.phase_label == "LDN"
    assert row.study_day == 19
    assert row.phase_day == 5
    assert row.last_entry == dt.date(2026, 3, 9)
    assert row.missed_last_7 == 4
    page = response.content.decode()
    assert "LDN, day 5" in page and "2026-03-09" in page


def test_missed_days_only_count_days_inside_the_enrollment(client, alice):
    arm = make_arm([("baseline", 14)])
    EnrollmentFactory(
        physician=alice, arm=arm, protocol=arm.protocol, start_date=dt.date(2026, 3, 7)
    )
    client.force_login(alice)
    (row,) = client.get("/physician/").context["rows"]
    assert row.missed_last_7 == 3  # 7, 8 and 9 March


def test_voided_entries_count_as_missing(client, enrollment, alice):
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 9), voided=True, void_reason="dup")
    client.force_login(alice)
    (row,) = client.get("/physician/").context["rows"]
    assert row.missed_last_7 == 7
    assert row.last_entry is None


def test_blinded_physician_sees_neutral_labels_and_no_arm(client, alice):
    enrollment = EnrollmentFactory(
        physician=alice, arm=builtin_arm("ldn-fm-2013", "B"), start_date=dt.date(2026, 2, 20)
    )
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 9))
    client.force_login(alice)
    for url in ("/physician/", detail_url(enrollment.study_id)):
        page = client.get(url).content.decode()
        assert "Treatment, day 5" in page
        assert "Placebo" not in page
        assert "LDN" not in page
        assert "Blinded" in page


def test_single_blind_protocol_shows_the_physician_real_labels(client, alice):
    enrollment = EnrollmentFactory(
        physician=alice, arm=builtin_arm("ldn-fm-2009", "P"), start_date=dt.date(2026, 2, 20)
    )
    client.force_login(alice)
    page = client.get(detail_url(enrollment.study_id)).content.decode()
    assert "Placebo" in page and "Treatment period" not in page


def test_only_allocation_access_sees_real_labels_on_a_double_blind_protocol(client):
    EnrollmentFactory(arm=builtin_arm("ldn-fm-2013", "B"), start_date=dt.date(2026, 2, 20))
    client.force_login(CoordinatorFactory())
    page = client.get("/physician/").content.decode()
    assert "Treatment, day 5" in page and "Placebo" not in page
    client.force_login(CoordinatorFactory(allocation_access=True))
    page = client.get("/physician/").content.decode()
    assert "Placebo, day 5" in page


def test_unblinded_enrollment_shows_real_labels_to_its_physician(client, alice):
    enrollment = EnrollmentFactory(
        physician=alice, arm=builtin_arm("ldn-fm-2013", "B"), start_date=dt.date(2026, 2, 20)
    )
    enrollment.care_team_unblinded_at = NOW
    enrollment.care_team_unblinding_reason = "Emergency"
    enrollment.save()
    client.force_login(alice)
    assert "Placebo, day 5" in client.get("/physician/").content.decode()


# Patient page ----------------------------------------------------------------------


def test_patient_page_lists_entries_by_phase_with_missed_days(client, enrollment, alice):
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 2, 20), pain=7)
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 3, 6), pain=2, notes="felt better")
    client.force_login(alice)
    response = client.get(detail_url("FM-001"))
    baseline, ldn, followup = response.context["phases"]
    assert (baseline.label, baseline.elapsed_days, baseline.entries) == ("Baseline", 14, 1)
    assert (ldn.label, ldn.elapsed_days, ldn.entries) == ("LDN", 5, 1)
    assert (followup.elapsed_days, followup.entries) == (0, 0)
    assert baseline.missed == 13
    page = response.content.decode()
    assert "felt better" in page
    assert "Not begun" in page


def test_patient_page_stops_elapsed_days_at_withdrawal(client, enrollment, alice):
    enrollment.status = "withdrawn"
    enrollment.withdrawn_on = dt.date(2026, 3, 8)  # LDN began 2026-03-06
    enrollment.save()
    client.force_login(alice)
    baseline, ldn, _ = client.get(detail_url("FM-001")).context["phases"]
    assert baseline.elapsed_days == 14
    assert ldn.elapsed_days == 3


# Query counts ----------------------------------------------------------------------


def add_patients(physician, count):
    arm = builtin_arm()
    for _ in range(count):
        enrollment = EnrollmentFactory(physician=physician, arm=arm)
        for offset in range(1, 6):
            EntryFactory(enrollment=enrollment, date=TODAY - dt.timedelta(days=offset))


def test_patient_list_query_count_does_not_grow_with_patients(
    client, alice, django_assert_num_queries
):
    client.force_login(alice)
    add_patients(alice, 2)
    # session, user, count, time zones, protocols, activity, the page's enrollments, their
    # protocols, open alerts, the protocol filter's choices, their queries not closed;
    # the session's new idle expiry (savepoint, update, release)
    with django_assert_num_queries(14):
        client.get("/physician/")
    add_patients(alice, 10)
    with django_assert_num_queries(14):
        response = client.get("/physician/")
    assert len(response.context["rows"]) == 12


def test_patient_page_query_count_does_not_grow_with_entries(
    client, enrollment, alice, django_assert_num_queries
):
    client.force_login(alice)
    # session, user, enrollment, the access log, arms, phases, activity (time zones,
    # protocols, the query), entries, summary aggregate, her visits, her phase
    # signatures, her data queries; the session's new idle expiry (savepoint, update,
    # release)
    with django_assert_num_queries(17):
        client.get(detail_url("FM-001"))
    for offset in range(1, 18):
        EntryFactory(enrollment=enrollment, date=TODAY - dt.timedelta(days=offset))
    with django_assert_num_queries(17):
        client.get(detail_url("FM-001"))
