"""Schedules, blinding and the database constraints that guard the data."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, transaction

from diary.entries.models import DiaryEntry
from diary.trial.models import Arm, Enrollment, Protocol
from diary.trial.phases import ProtocolLayout, Schedule, plans
from tests.factories import (
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
    schedule = Schedule(START, plans(builtin_arm("ldn-fm-2013", "A").phases.all()))
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
    (baseline, ldn, *_) = Schedule(START, plans(builtin_arm().phases.all()))
    assert baseline.elapsed_days(dt.date(2025, 12, 31)) == 0
    assert baseline.elapsed_days(dt.date(2026, 1, 1)) == 1
    assert baseline.elapsed_days(dt.date(2026, 3, 1)) == 14
    assert ldn.elapsed_days(dt.date(2026, 1, 20)) == 6
    assert ldn.elapsed_days(dt.date(2026, 3, 1), withdrawn_on=dt.date(2026, 1, 16)) == 2
    assert ldn.elapsed_days(dt.date(2026, 3, 1), withdrawn_on=dt.date(2026, 1, 10)) == 0


def layout(**arms):
    """A ProtocolLayout of arms given as code=[(kind, days), ...]."""
    phases = {
        code: [SimpleNamespace(order=n, kind=k, days=d) for n, (k, d) in enumerate(spec, 1)]
        for code, spec in arms.items()
    }
    return ProtocolLayout(phases)


def shape(arm_plans):
    return [(p.label, p.days) for p in arm_plans]


def test_builtin_double_blind_arms_merge_into_one_treatment_phase_of_112_days():
    protocol = Protocol.objects.get(slug="ldn-fm-2013")
    arms = {arm.code: arm.pk for arm in protocol.arms.all()}
    blinded = [("Baseline", 14), ("Treatment", 112), ("Follow-up", 28)]
    assert shape(protocol.layout.plans(arms["A"], True)) == blinded
    assert shape(protocol.layout.plans(arms["B"], True)) == blinded
    assert shape(protocol.layout.plans(arms["B"], False)) == [
        ("Baseline", 14),
        ("Placebo", 28),
        ("LDN", 84),
        ("Follow-up", 28),
    ]
    assert protocol.blinding_problem() is None


def test_the_single_arm_pilot_merges_its_treatment_days_15_to_84():
    protocol = Protocol.objects.get(slug="ldn-fm-2009")
    (arm,) = protocol.arms.all()
    schedule = Schedule(START, protocol.layout.plans(arm.pk, True))
    treatment = schedule.span_on(dt.date(2026, 1, 15))
    assert (treatment.kind, treatment.label, treatment.days) == (None, "Treatment", 70)
    assert (treatment.first_study_day, treatment.end) == (15, dt.date(2026, 3, 25))
    assert shape(schedule) == [("Baseline", 14), ("Treatment", 70), ("Washout", 14)]


def test_treatment_periods_on_the_same_days_are_numbered_not_merged():
    same_days = layout(
        A=[("baseline", 14), ("ldn", 56), ("placebo", 56)],
        B=[("baseline", 14), ("placebo", 56), ("ldn", 56)],
    )
    for code in "AB":
        assert [(p.kind, p.label) for p in same_days.plans(code, True)] == [
            ("baseline", "Baseline"),
            (None, "Treatment period 1"),
            (None, "Treatment period 2"),
        ]


def test_a_period_with_the_same_treatment_in_every_arm_is_not_numbered():
    # A placebo run-in in both arms: "Treatment period 1" would name it.
    run_in = layout(
        A=[("placebo", 14), ("ldn", 28)],
        B=[("placebo", 14), ("placebo", 28)],
    )
    assert shape(run_in.plans("A", True)) == [("Treatment", 42)]


def test_separate_treatment_runs_are_numbered_after_merging():
    runs = layout(
        A=[("ldn", 20), ("placebo", 36), ("washout", 7), ("placebo", 28)],
        B=[("placebo", 36), ("ldn", 20), ("washout", 7), ("ldn", 28)],
    )
    assert shape(runs.plans("B", True)) == [
        ("Treatment period 1", 56),
        ("Washout", 7),
        ("Treatment period 2", 28),
    ]
    assert runs.blinding_problem() is None


@pytest.mark.parametrize(
    "arm_b",
    [
        [("baseline", 14), ("placebo", 28), ("ldn", 70), ("followup", 28)],  # shorter
        [("baseline", 7), ("placebo", 28), ("ldn", 84), ("followup", 35)],  # starts earlier
        [("baseline", 14), ("placebo", 28), ("ldn", 84), ("followup", 14)],  # ends earlier
    ],
)
def test_arms_a_blinded_reader_could_tell_apart_are_a_problem(arm_b):
    different = layout(
        A=[("baseline", 14), ("ldn", 84), ("placebo", 28), ("followup", 28)], B=arm_b
    )
    problem = different.blinding_problem()
    assert "tell the arms apart" in problem
    assert "arm A: Baseline 14 d → Treatment 112 d → Follow-up 28 d" in problem


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
