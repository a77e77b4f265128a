"""Every summary figure of docs/domain.md against numbers worked out by hand.

The schedule is short so the arithmetic can be done on paper. A counterbalanced
protocol: arm A = baseline 4 days, LDN 5, placebo 4; arm B = baseline 4, placebo 4,
LDN 5. Everyone starts on 2026-01-01; the figures are taken as of 2026-01-12.

    arm A: baseline Jan 1-4, LDN Jan 5-9,     placebo Jan 10-13 (in progress)
    arm B: baseline Jan 1-4, placebo Jan 5-8, LDN Jan 9-13 (in progress)
"""

import datetime as dt

import pytest
from pytest import approx

from diary.figures import summaries
from diary.trial.blinding import UNBLINDED_FILE as UNBLINDED
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    ProtocolFactory,
    make_arm,
)

pytestmark = pytest.mark.django_db

START = dt.date(2026, 1, 1)
AS_OF = dt.date(2026, 1, 12)


def day(n):
    """Day n of January 2026."""
    return dt.date(2026, 1, n)


def add(enrollment, n, pain, **values):
    defaults = {"fatigue": 5, "sleep_quality": 5, "vivid_dreams": False, "headache": False}
    return EntryFactory(enrollment=enrollment, date=day(n), pain=pain, **{**defaults, **values})


@pytest.fixture
def protocol():
    protocol = ProtocolFactory(slug="crossover", blinding="double")
    make_arm([("baseline", 4), ("ldn", 5), ("placebo", 4)], code="A", protocol=protocol)
    make_arm([("baseline", 4), ("placebo", 4), ("ldn", 5)], code="B", protocol=protocol)
    return protocol


@pytest.fixture
def physician():
    return PhysicianFactory()


def enroll(protocol, code, physician, **kwargs):
    arm = protocol.arms.get(code=code)
    return EnrollmentFactory(
        protocol=protocol, arm=arm, physician=physician, start_date=START, **kwargs
    )


@pytest.fixture
def p1(protocol, physician):
    """Arm A, a missed baseline day, a voided placebo day, one entry after as-of."""
    p1 = enroll(protocol, "A", physician, study_id="P1")
    add(p1, 1, 6, fatigue=5, sleep_quality=4, vivid_dreams=True)
    add(p1, 2, 8, fatigue=5, sleep_quality=6)
    add(p1, 4, 7, fatigue=8, sleep_quality=5, late=True)  # day 3 missed
    add(p1, 5, 4, tolerability=80, vivid_dreams=True)
    add(p1, 6, 3, tolerability=90, vivid_dreams=True)
    add(p1, 7, 5, tolerability=100)
    add(p1, 8, 4)
    add(p1, 9, 4, headache=True)
    add(p1, 10, 6)
    add(p1, 11, 7, voided=True, void_reason="Entered twice")
    add(p1, 12, 8)
    add(p1, 13, 1)  # after the as-of date
    return p1


@pytest.fixture
def cohort(protocol, physician, p1):
    p2 = enroll(protocol, "B", physician, study_id="P2")
    for n in (1, 2, 3, 4):
        add(p2, n, 5)
    for n, pain in ((5, 5), (6, 4), (7, 4), (8, 3)):
        add(p2, n, pain)
    add(p2, 9, 2)
    add(p2, 10, 2, vivid_dreams=True)
    add(p2, 11, 3)
    # P3: arm A, no baseline entries, one LDN day.
    p3 = enroll(protocol, "A", physician, study_id="P3")
    add(p3, 5, 6)
    # P4: arm B, withdrawn on Jan 6 (second placebo day).
    p4 = enroll(protocol, "B", physician, study_id="P4", status="withdrawn", withdrawn_on=day(6))
    for n in (1, 2, 3, 4):
        add(p4, n, 4)
    add(p4, 5, 2)
    return protocol


def only(results):
    (result,) = results
    return result


def phases_of(result, study_id):
    (patient,) = [p for p in result.patients if p.study_id == study_id]
    return patient.phases


# Per patient -----------------------------------------------------------------------


def test_per_phase_figures_of_one_patient(p1, protocol):
    result = only(summaries.summarize(protocol.enrollments.all(), AS_OF, UNBLINDED))
    baseline, ldn, placebo = phases_of(result, "P1")

    assert (baseline.order, baseline.kind, baseline.label) == (1, "baseline", "Baseline")
    assert (baseline.start, baseline.end) == (day(1), day(4))
    assert baseline.elapsed_days == 4
    assert baseline.entries == 3
    assert baseline.compliance_pct == approx(75.0)
    assert baseline.low_compliance is True
    assert baseline.pain_mean == approx(7.0)
    assert baseline.pain_sd == approx(1.0)  # 6, 8, 7
    assert baseline.pain_reduction_pct is None
    assert baseline.pain_endpoint == approx(7.5)  # days 2-4: 8 and 7
    assert baseline.pain_endpoint_reduction_pct is None
    assert baseline.fatigue_mean == approx(6.0)
    assert baseline.sleep_quality_mean == approx(5.0)
    assert baseline.tolerability_mean is None
    assert (baseline.vivid_dreams_days, baseline.vivid_dreams_pct) == (1, approx(100 / 3))
    assert (baseline.headache_days, baseline.headache_pct) == (0, approx(0.0))
    assert baseline.late_entries == 1

    assert (ldn.kind, ldn.start, ldn.end) == ("ldn", day(5), day(9))
    assert (ldn.elapsed_days, ldn.entries) == (5, 5)
    assert ldn.compliance_pct == approx(100.0)
    assert ldn.low_compliance is False
    assert ldn.pain_mean == approx(4.0)
    assert ldn.pain_sd == approx(0.5**0.5)  # 4, 3, 5, 4, 4
    assert ldn.pain_reduction_pct == approx(100 * 3 / 7)
    assert ldn.pain_endpoint == approx(13 / 3)  # days 7-9: 5, 4, 4
    assert ldn.pain_endpoint_reduction_pct == approx(100 * (7 - 13 / 3) / 7)
    assert ldn.tolerability_mean == approx(90.0)  # 80, 90, 100; two blanks
    assert (ldn.vivid_dreams_days, ldn.vivid_dreams_pct) == (2, approx(40.0))
    assert (ldn.headache_days, ldn.headache_pct) == (1, approx(20.0))
    assert ldn.late_entries == 0


def test_phase_in_progress_on_the_as_of_date(p1, protocol):
    result = only(summaries.summarize(protocol.enrollments.all(), AS_OF, UNBLINDED))
    placebo = phases_of(result, "P1")[2]
    # Jan 10-12 elapsed; Jan 11 voided; Jan 13 is after the as-of date.
    assert (placebo.elapsed_days, placebo.entries) == (3, 2)
    assert placebo.compliance_pct == approx(200 / 3)
    assert placebo.low_compliance is True
    assert placebo.pain_mean == approx(7.0)
    assert placebo.pain_sd == approx(2**0.5)
    assert placebo.pain_reduction_pct == approx(0.0)
    assert placebo.pain_endpoint is None  # not ended on the as-of date
    assert placebo.pain_endpoint_reduction_pct is None


def test_phase_not_begun_has_zero_elapsed_days_and_no_figures(p1, protocol):
    result = only(summaries.summarize(protocol.enrollments.all(), day(3), UNBLINDED))
    baseline, ldn, placebo = phases_of(result, "P1")
    assert (baseline.elapsed_days, baseline.entries) == (3, 2)
    assert baseline.pain_endpoint is None
    assert (ldn.elapsed_days, ldn.entries, ldn.compliance_pct) == (0, 0, None)
    assert ldn.low_compliance is False
    assert ldn.pain_mean is ldn.pain_sd is ldn.pain_reduction_pct is None
    assert ldn.vivid_dreams_pct is ldn.headache_pct is None


def test_patient_without_baseline_entries_has_no_reduction(cohort):
    result = only(summaries.summarize(cohort.enrollments.all(), AS_OF, UNBLINDED))
    baseline, ldn, placebo = phases_of(result, "P3")
    assert (baseline.entries, baseline.pain_mean, baseline.compliance_pct) == (0, None, 0.0)
    assert (ldn.entries, ldn.pain_mean) == (1, approx(6.0))
    assert ldn.pain_sd is None  # one entry
    assert ldn.pain_reduction_pct is None
    assert ldn.pain_endpoint is None  # no entry on Jan 7-9


def test_withdrawn_patient_stops_elapsing_at_withdrawal(cohort):
    result = only(summaries.summarize(cohort.enrollments.all(), AS_OF, UNBLINDED))
    baseline, placebo, ldn = phases_of(result, "P4")
    assert (baseline.elapsed_days, baseline.entries) == (4, 4)
    assert (placebo.elapsed_days, placebo.entries) == (2, 1)
    assert placebo.compliance_pct == approx(50.0)
    assert placebo.pain_reduction_pct == approx(50.0)
    assert (ldn.elapsed_days, ldn.entries, ldn.compliance_pct) == (0, 0, None)


def test_baseline_mean_of_zero_gives_no_reduction(protocol, physician):
    patient = enroll(protocol, "A", physician)
    add(patient, 1, 0)
    add(patient, 5, 3)
    result = only(summaries.summarize(protocol.enrollments.all(), AS_OF, UNBLINDED))
    assert phases_of(result, patient.study_id)[1].pain_reduction_pct is None


# Cohort ----------------------------------------------------------------------------


def test_cohort_figures_per_phase_kind_pool_both_arms(cohort):
    result = only(summaries.summarize(cohort.enrollments.all(), AS_OF, UNBLINDED))
    baseline, ldn, placebo = result.cohort
    assert [c.kind for c in result.cohort] == ["baseline", "ldn", "placebo"]
    assert [c.label for c in result.cohort] == ["Baseline", "LDN", "Placebo"]

    assert baseline.patients == 3  # P3 has no baseline entry
    assert baseline.compliance_pct == approx(100 * 11 / 16)
    assert baseline.pain_mean == approx(16 / 3)  # patients' means 7, 5, 4
    assert baseline.pain_sd == approx((7 / 3) ** 0.5)
    assert baseline.pain_reduction_pct_mean is None
    assert baseline.pain_endpoint_reduction_pct_mean is None
    assert baseline.responders_30 is baseline.responders_30_pct is None
    assert baseline.responders_50 is baseline.responders_50_pct is None
    assert baseline.vivid_dreams_incidence_pct == approx(100 / 3)
    assert baseline.headache_incidence_pct == approx(0.0)

    assert ldn.patients == 3
    assert ldn.compliance_pct == approx(100 * 9 / 14)  # P1 5/5, P2 3/4, P3 1/5, P4 0/0
    assert ldn.pain_mean == approx((4 + 7 / 3 + 6) / 3)
    assert ldn.pain_sd == approx(1.8358568, rel=1e-6)
    assert ldn.pain_reduction_pct_mean == approx((100 * 3 / 7 + 100 * (8 / 3) / 5) / 2)
    assert ldn.pain_endpoint_reduction_pct_mean == approx(100 * (7 - 13 / 3) / 7)
    assert (ldn.responders_30, ldn.responders_30_pct) == (2, approx(100.0))
    assert (ldn.responders_50, ldn.responders_50_pct) == (1, approx(50.0))
    assert ldn.vivid_dreams_incidence_pct == approx(200 / 3)
    assert ldn.headache_incidence_pct == approx(100 / 3)
    assert ldn.tolerability_mean == approx(90.0)  # only P1 answered it

    assert placebo.patients == 3
    assert placebo.compliance_pct == approx(100 * 7 / 12)
    assert placebo.pain_mean == approx(13 / 3)  # 7, 4, 2
    assert placebo.pain_reduction_pct_mean == approx((0 + 20 + 50) / 3)
    # Ended placebo phases: P2 (days 6-8: 4, 4, 3); P4 has no entry on its last 3 days.
    assert placebo.pain_endpoint_reduction_pct_mean == approx(100 * (5 - 11 / 3) / 5)
    assert (placebo.responders_30, placebo.responders_30_pct) == (1, approx(100 / 3))
    assert (placebo.responders_50, placebo.responders_50_pct) == (1, approx(100 / 3))


def test_cohort_columns_follow_the_schedule_not_the_kinds(physician):
    """The pilot's order (baseline, placebo, LDN, washout) is the order of its cohort
    rows, for a reader who sees kinds and for one who does not."""
    protocol = ProtocolFactory(slug="pilot-like", blinding="double")
    arm = make_arm(
        [("baseline", 2), ("placebo", 2), ("ldn", 3), ("washout", 2)], code="P", protocol=protocol
    )
    patient = EnrollmentFactory(protocol=protocol, arm=arm, physician=physician, start_date=START)
    for n in range(1, 10):
        add(patient, n, 5)
    unblinded = only(summaries.summarize(protocol.enrollments.all(), AS_OF, UNBLINDED))
    assert [c.label for c in unblinded.cohort] == ["Baseline", "Placebo", "LDN", "Washout"]
    blinded = only(summaries.cohort_summaries(protocol.enrollments.all(), AS_OF, physician))
    assert [c.label for c in blinded.cohort] == ["Baseline", "Treatment", "Washout"]


def test_ldn_versus_placebo_uses_patients_with_both(cohort):
    result = only(summaries.summarize(cohort.enrollments.all(), AS_OF, UNBLINDED))
    comparison = result.ldn_vs_placebo
    assert comparison.patients == 2  # P1 and P2
    assert comparison.pain_mean_ldn == approx((4 + 7 / 3) / 2)
    assert comparison.pain_mean_placebo == approx(5.5)
    assert comparison.relative_reduction_pct == approx(100 * (5.5 - 19 / 6) / 5.5)


def test_blinded_reader_gets_one_merged_treatment_phase(cohort, physician):
    """The arms' treatment phases differ in length (5 + 4 days against 4 + 5), so a
    blinded reader sees one "Treatment" phase, Jan 5-13, in both arms; every figure is
    taken over it."""
    result = only(summaries.summarize(cohort.enrollments.all(), AS_OF, physician))
    assert result.blinded is True
    assert result.ldn_vs_placebo is None
    assert [(c.kind, c.label) for c in result.cohort] == [
        ("baseline", "Baseline"),
        (None, "Treatment"),
    ]
    baseline, treatment = result.cohort
    assert baseline.patients == 3
    assert baseline.pain_mean == approx(16 / 3)
    # P1 7 entries in 8 elapsed days (Jan 11 voided), P2 7 in 8, P3 1 in 8, P4 1 in 2
    # (withdrawn on Jan 6).
    assert treatment.patients == 4
    assert treatment.compliance_pct == approx(100 * 16 / 26)
    assert treatment.pain_mean == approx((34 / 7 + 23 / 7 + 6 + 2) / 4)
    assert treatment.pain_reduction_pct_mean == approx(
        (100 * (7 - 34 / 7) / 7 + 100 * (5 - 23 / 7) / 5 + 100 * (4 - 2) / 4) / 3
    )
    p1_baseline, p1_treatment = phases_of(result, "P1")
    assert (p1_treatment.order, p1_treatment.kind, p1_treatment.label) == (2, None, "Treatment")
    assert (p1_treatment.start, p1_treatment.end) == (day(5), day(13))
    assert (p1_treatment.elapsed_days, p1_treatment.entries) == (8, 7)
    assert p1_treatment.tolerability_mean == approx(90.0)
    assert p1_treatment.pain_endpoint is None  # the merged phase ends on Jan 13
    for patient in result.patients:
        assert patient.arm is None
        assert [(p.kind, p.label, p.start, p.end) for p in patient.phases] == [
            ("baseline", "Baseline", day(1), day(4)),
            (None, "Treatment", day(5), day(13)),
        ]


def test_blinded_end_point_is_the_last_3_days_of_the_merged_phase(cohort, physician):
    result = only(summaries.summarize(cohort.enrollments.all(), day(14), physician))
    p1_treatment = phases_of(result, "P1")[1]
    assert p1_treatment.pain_endpoint == approx((8 + 1) / 2)  # Jan 11 voided, 12 and 13
    assert p1_treatment.pain_endpoint_reduction_pct == approx(100 * (7 - 4.5) / 7)


@pytest.fixture
def numbered(physician):
    """Arms with treatment periods on the same days: a blinded reader sees them numbered."""
    protocol = ProtocolFactory(slug="same-days", blinding="double")
    make_arm([("baseline", 4), ("ldn", 4), ("placebo", 4)], code="A", protocol=protocol)
    make_arm([("baseline", 4), ("placebo", 4), ("ldn", 4)], code="B", protocol=protocol)
    first = enroll(protocol, "A", physician, study_id="N1")
    second = enroll(protocol, "B", physician, study_id="N2")
    for n, pain in ((1, 6), (5, 2), (6, 4), (9, 5)):
        add(first, n, pain)
        add(second, n, pain + 1)
    return protocol


def test_treatment_periods_on_the_same_days_are_numbered_for_a_blinded_reader(numbered, physician):
    result = only(summaries.summarize(numbered.enrollments.all(), AS_OF, physician))
    assert [(c.kind, c.label, c.patients) for c in result.cohort] == [
        ("baseline", "Baseline", 2),
        (None, "Treatment period 1", 2),
        (None, "Treatment period 2", 2),
    ]
    # Period 1 pools arm A's LDN with arm B's placebo: means 3 and 4.
    assert result.cohort[1].pain_mean == approx(3.5)
    assert result.cohort[2].pain_mean == approx(5.5)  # one entry each: 5 and 6
    unblinded = only(summaries.summarize(numbered.enrollments.all(), AS_OF, UNBLINDED))
    assert [c.label for c in unblinded.cohort] == ["Baseline", "LDN", "Placebo"]
    assert unblinded.cohort[1].pain_mean == approx((3 + 6) / 2)  # A's LDN 3, B's LDN 6


def test_allocation_access_and_an_unblinded_protocol_see_kinds(cohort, physician):
    statistician = CoordinatorFactory(allocation_access=True)
    assert not only(summaries.summarize(cohort.enrollments.all(), AS_OF, statistician)).blinded
    assert only(summaries.summarize(cohort.enrollments.all(), AS_OF, CoordinatorFactory())).blinded
    cohort.unblinded_at = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    cohort.save()
    result = only(summaries.summarize(cohort.enrollments.all(), AS_OF, physician))
    assert not result.blinded
    assert result.ldn_vs_placebo.patients == 2


def test_screening_enrollments_are_left_out(protocol, physician):
    enroll(protocol, "A", physician, status="screening")
    assert summaries.summarize(protocol.enrollments.all(), AS_OF, UNBLINDED) == []


def test_summary_takes_three_queries_for_any_number_of_patients(
    cohort, protocol, physician, django_assert_num_queries
):
    # enrollments, protocols with their arms' phases, the patients' figures (the cohort
    # is worked out from them)
    with django_assert_num_queries(3):
        summaries.summarize(protocol.enrollments.all(), AS_OF, UNBLINDED)
    for _ in range(10):
        patient = enroll(protocol, "B", physician)
        add(patient, 1, 5)
    with django_assert_num_queries(3):
        results = summaries.summarize(protocol.enrollments.all(), AS_OF, UNBLINDED)
    assert len(results[0].patients) == 14


@pytest.mark.parametrize("reader", ["unblinded", "physician"])
def test_cohort_alone_gives_the_same_figures_in_two_queries(
    cohort, physician, reader, django_assert_num_queries
):
    """The cohort page asks only for the cohort: the same rows, without the patients."""
    reader = UNBLINDED if reader == "unblinded" else physician
    full = only(summaries.summarize(cohort.enrollments.all(), AS_OF, reader))
    with django_assert_num_queries(2):  # protocols with their phases, the cohort aggregate
        alone = only(summaries.cohort_summaries(cohort.enrollments.all(), AS_OF, reader))
    assert alone.patients == []
    assert alone.enrollments == full.enrollments == 4
    assert alone.cohort == full.cohort
    assert alone.ldn_vs_placebo == full.ldn_vs_placebo
    assert alone.blinded == full.blinded


def test_no_enrollment_gives_no_summary(cohort):
    none = cohort.enrollments.none()
    assert summaries.cohort_summaries(none, AS_OF, UNBLINDED) == []
    assert summaries.summarize(none, AS_OF, UNBLINDED) == []


def test_figures_are_plain_numbers_on_every_database(cohort):
    """PostgreSQL sums bigints as numeric; figures must stay int/float (JSON, charts)."""
    result = only(summaries.summarize(cohort.enrollments.all(), AS_OF, UNBLINDED))
    rows = [*result.cohort, result.ldn_vs_placebo]
    rows += [phase for patient in result.patients for phase in patient.phases]
    for row in rows:
        for name, value in vars(row).items():
            assert value is None or isinstance(value, str | int | float | dt.date), name
