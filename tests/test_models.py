"""Schedules, blinding and the database constraints that guard the data."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from diary.models import Arm, DiaryEntry, Enrollment, Protocol
from diary.phases import Schedule
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    builtin_arm,
)

pytestmark = pytest.mark.django_db

START = dt.date(2026, 1, 1)


def test_builtin_protocols_exist_after_migrate():
    double = Protocol.objects.get(slug="ldn-fm-2013")
    assert double.blinding == "double"
    assert double.block_size == 4
    arms = {
        arm.code: [(p.kind, p.days, p.dose_mg) for p in arm.phases.all()]
        for arm in double.arms.all()
    }
    ldn = ("ldn", 84, Decimal("4.50"))
    assert arms == {
        "A": [("baseline", 14, None), ldn, ("placebo", 28, None), ("followup", 28, None)],
        "B": [("baseline", 14, None), ("placebo", 28, None), ldn, ("followup", 28, None)],
    }
    pilot = Protocol.objects.get(slug="ldn-fm-2009")
    assert pilot.blinding == "single"
    (arm,) = pilot.arms.all()
    assert arm.code == "P"
    assert [(p.kind, p.days) for p in arm.phases.all()] == [
        ("baseline", 14),
        ("placebo", 14),
        ("ldn", 56),
        ("washout", 14),
    ]


def test_schedule_lays_phases_end_to_end_from_day_one():
    schedule = Schedule(START, list(builtin_arm("ldn-fm-2013", "A").phases.all()))
    spans = list(schedule)
    assert [(s.start, s.end) for s in spans] == [
        (dt.date(2026, 1, 1), dt.date(2026, 1, 14)),
        (dt.date(2026, 1, 15), dt.date(2026, 4, 8)),
        (dt.date(2026, 4, 9), dt.date(2026, 5, 6)),
        (dt.date(2026, 5, 7), dt.date(2026, 6, 3)),
    ]
    assert schedule.total_days == 154
    assert schedule.end == dt.date(2026, 6, 3)
    assert schedule.span_on(dt.date(2026, 1, 14)).kind == "baseline"
    assert schedule.span_on(dt.date(2026, 1, 15)).kind == "ldn"
    assert schedule.span_on(dt.date(2025, 12, 31)) is None
    assert schedule.span_on(dt.date(2026, 6, 4)) is None
    assert schedule.study_day(dt.date(2026, 1, 1)) == 1
    assert schedule.study_day(dt.date(2026, 6, 3)) == 154
    assert schedule.study_day(dt.date(2026, 6, 4)) is None


def test_elapsed_days_stop_at_as_of_and_withdrawal():
    (baseline, ldn, *_) = Schedule(START, list(builtin_arm().phases.all()))
    assert baseline.elapsed_days(dt.date(2025, 12, 31)) == 0
    assert baseline.elapsed_days(dt.date(2026, 1, 1)) == 1
    assert baseline.elapsed_days(dt.date(2026, 3, 1)) == 14
    assert ldn.elapsed_days(dt.date(2026, 1, 20)) == 6
    assert ldn.elapsed_days(dt.date(2026, 3, 1), withdrawn_on=dt.date(2026, 1, 16)) == 2
    assert ldn.elapsed_days(dt.date(2026, 3, 1), withdrawn_on=dt.date(2026, 1, 10)) == 0


def test_blinded_labels_number_treatment_periods_in_arm_order():
    spans = list(Schedule(START, list(builtin_arm("ldn-fm-2013", "B").phases.all())))
    assert [s.label(blinded=True) for s in spans] == [
        "Baseline",
        "Treatment period 1",
        "Treatment period 2",
        "Follow-up",
    ]
    assert [s.label(blinded=False) for s in spans] == ["Baseline", "Placebo", "LDN", "Follow-up"]


@pytest.mark.parametrize(
    ("blinding", "patient_blinded", "physician_blinded"),
    [("open", False, False), ("single", True, False), ("double", True, True)],
)
def test_who_is_blinded(blinding, patient_blinded, physician_blinded):
    enrollment = EnrollmentFactory()
    enrollment.protocol.blinding = blinding
    assert enrollment.is_blinded_for(enrollment.patient) is patient_blinded
    assert enrollment.is_blinded_for(enrollment.physician) is physician_blinded
    assert enrollment.is_blinded_for(CoordinatorFactory()) is False


def test_unblinding_the_protocol_or_the_patient_lifts_blinding():
    enrollment = EnrollmentFactory()
    enrollment.unblinded_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert not enrollment.is_blinded_for(enrollment.physician)
    other = EnrollmentFactory()
    other.protocol.unblinded_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert not other.is_blinded_for(other.physician)
    assert not other.is_blinded_for(other.patient)


def test_one_entry_per_enrollment_and_day_is_enforced_by_the_database():
    entry = EntryFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        DiaryEntry.objects.create(
            enrollment=entry.enrollment,
            date=entry.date,
            pain=1,
            fatigue=1,
            sleep_quality=1,
            vivid_dreams=False,
            headache=False,
            source="patient",
        )
    assert DiaryEntry.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [("pain", 11), ("fatigue", 11), ("sleep_quality", 11), ("tolerability", 101)],
)
def test_score_ranges_are_enforced_by_the_database(field, value):
    entry = EntryFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        DiaryEntry.objects.filter(pk=entry.pk).update(**{field: value})


def test_void_without_reason_is_refused_by_the_database():
    entry = EntryFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        DiaryEntry.objects.filter(pk=entry.pk).update(voided=True)


def test_withdrawn_enrollment_needs_a_date():
    enrollment = EnrollmentFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.filter(pk=enrollment.pk).update(status="withdrawn")


def test_clinical_data_is_protected_from_cascading_deletes():
    entry = EntryFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        entry.enrollment.patient.delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        entry.enrollment.delete()
    assert DiaryEntry.objects.count() == 1


def test_enrollment_rejects_an_arm_of_another_protocol():
    enrollment = EnrollmentFactory.build(
        physician=PhysicianFactory(),
        arm=builtin_arm("ldn-fm-2009", "P"),
        protocol=Protocol.objects.get(slug="ldn-fm-2013"),
    )
    enrollment.patient.save()
    enrollment.patient_id = enrollment.patient.pk
    with pytest.raises(Exception, match="another protocol"):
        enrollment.full_clean()


def test_enrollment_rejects_an_unknown_time_zone():
    enrollment = EnrollmentFactory()
    enrollment.timezone = "Mars/Olympus_Mons"
    with pytest.raises(Exception, match="not a known time zone"):
        enrollment.full_clean()


def test_arm_codes_are_unique_within_a_protocol():
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    with pytest.raises(IntegrityError), transaction.atomic():
        Arm.objects.create(protocol=protocol, code="A")


def test_an_unknown_time_zone_falls_back_to_the_study_default(settings):
    enrollment = EnrollmentFactory()
    Enrollment.objects.filter(pk=enrollment.pk).update(timezone="Not/AZone")
    enrollment.refresh_from_db()
    assert str(enrollment.zoneinfo) == settings.TIME_ZONE
    assert enrollment.local_today()
