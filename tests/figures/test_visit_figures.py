"""The clinic measures' figures (docs/domain.md, "Clinic visits and measures") against a
calculation written here from the raw rows the test creates.

The built-in protocols: ldn-fm-2013 (arm A: baseline 14 days, LDN 84, placebo 28,
follow-up 28; arm B: baseline 14, placebo 28, LDN 84, follow-up 28) from 2026-01-01, and
the pilot ldn-fm-2009 (baseline 14, placebo 14, LDN 56, washout 14) from 2026-03-01. The
figures are taken as of 2026-05-11: day offset 130 of ldn-fm-2013, 71 of the pilot.
The data hold ties in baseline ESR and in pain reductions, measures left blank, voided
visits and entries, visits before the start and after the as-of date.
"""

import datetime as dt
import json
import statistics
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from diary.figures import summaries
from diary.trial.blinding import UNBLINDED_FILE
from diary.trial.models import Enrollment
from tests.factories import (
    EnrollmentFactory,
    EntryFactory,
    PhysicianFactory,
    VisitFactory,
    builtin_arm,
)

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2026, 5, 11)
MEASURES = ("esr", "pressure_threshold", "heat_threshold")
STARTS = {"ldn-fm-2013": dt.date(2026, 1, 1), "ldn-fm-2009": dt.date(2026, 3, 1)}
# Each arm's phases (kind, days), written out here rather than read from the protocols.
ARMS = {
    ("ldn-fm-2013", "A"): [("baseline", 14), ("ldn", 84), ("placebo", 28), ("followup", 28)],
    ("ldn-fm-2013", "B"): [("baseline", 14), ("placebo", 28), ("ldn", 84), ("followup", 28)],
    ("ldn-fm-2009", "P"): [("baseline", 14), ("placebo", 14), ("ldn", 56), ("washout", 14)],
}
# What a blinded reader sees of ldn-fm-2013: the two treatment phases as one.
BLINDED_2013 = [("baseline", 14), (None, 112), ("followup", 28)]

V = "voided"
# study_id: (protocol, arm, visits [(day offset, esr, pressure, heat[, V])],
#            entries [(day offset, pain[, V])])
PATIENTS = {
    "A1": (
        "ldn-fm-2013",
        "A",
        [
            (-5, 30, "3.5", "44.0"),  # before the start: counts for the baseline
            (10, None, "3.1", None),
            (50, 20, "4.2", "45.5"),
            (90, 18, None, "46.0"),
            (95, 5, "9.9", "50.0", V),
            (120, 25, "3.6", "44.5"),
            (140, 10, "5.0", "47.0"),  # after the as-of date
        ],
        [(0, 6), (1, 6), (2, 7), (3, 5), (4, 0, V), (20, 3), (21, 4), (100, 5), (135, 1)],
    ),
    "A2": (
        "ldn-fm-2013",
        "A",
        [(0, 30, "2.0", "40.0"), (60, None, "2.5", "41.0"), (110, 40, None, None)],
        [(0, 6), (5, 6), (30, 4), (31, 3), (99, 6)],
    ),
    "B1": (
        "ldn-fm-2013",
        "B",
        [(5, 12, "3.0", "43.0"), (30, 14, "3.3", "43.5"), (100, 9, "3.9", "45.0")],
        [(0, 8), (1, 8), (20, 7), (50, 4), (51, 4), (52, 5)],
    ),
    "B2": (
        "ldn-fm-2013",
        "B",
        [(3, None, "4.0", None), (70, 8, "4.4", "44.0")],
        [(0, 5), (1, 5), (20, 4), (60, 5)],
    ),
    # A3 and B3 have the same visits and entries: a blinded reader cannot tell them apart.
    "A3": (
        "ldn-fm-2013",
        "A",
        [(0, 22, "3.0", "42.0"), (50, 18, "3.4", "43.0"), (110, 19, "3.2", "42.5")],
        [(0, 5), (1, 7), (20, 4), (110, 6)],
    ),
    "B3": (
        "ldn-fm-2013",
        "B",
        [(0, 22, "3.0", "42.0"), (50, 18, "3.4", "43.0"), (110, 19, "3.2", "42.5")],
        [(0, 5), (1, 7), (20, 4), (110, 6)],
    ),
    "P1": (
        "ldn-fm-2009",
        "P",
        [(-3, 40, "2.0", "41.0"), (60, 30, "2.5", "42.0")],
        [(0, 8), (1, 8), (15, 7), (30, 4)],
    ),
    "P2": ("ldn-fm-2009", "P", [(0, 40, None, None)], [(0, 6), (1, 6), (40, 3)]),
    "P3": (
        "ldn-fm-2009",
        "P",
        [(1, 10, "3.0", "40.0"), (2, 99, "1.0", "35.0", V), (40, 12, None, "40.5")],
        [(0, 4), (1, 4), (29, 3), (30, 9, V)],
    ),
    "P4": ("ldn-fm-2009", "P", [(0, 25, "3.3", "41.5"), (20, 26, "3.1", None)], [(0, 5)]),
    "P5": ("ldn-fm-2009", "P", [(0, None, "2.2", "39.0")], [(0, 6), (35, 3)]),
    "P6": (
        "ldn-fm-2009",
        "P",
        [(0, 18, None, None), (70, 15, "2.9", "41.0"), (72, 1, "9.0", "51.0")],
        [(0, 5), (1, 7), (50, 3), (70, 3)],
    ),
}


@pytest.fixture
def patients():
    physician = PhysicianFactory()
    for study_id, (slug, code, visits, entries) in PATIENTS.items():
        start = STARTS[slug]
        enrollment = EnrollmentFactory(
            study_id=study_id, arm=builtin_arm(slug, code), physician=physician, start_date=start
        )
        for offset, esr, pressure, heat, *voided in visits:
            VisitFactory(
                enrollment=enrollment,
                visit_date=start + dt.timedelta(days=offset),
                esr=esr,
                pressure_threshold=None if pressure is None else Decimal(pressure),
                heat_threshold=None if heat is None else Decimal(heat),
                voided=bool(voided),
                void_reason="Wrong patient" if voided else "",
            )
        for offset, pain, *voided in entries:
            EntryFactory(
                enrollment=enrollment,
                date=start + dt.timedelta(days=offset),
                pain=pain,
                voided=bool(voided),
                void_reason="Entered twice" if voided else "",
            )


# The expected figures, worked out from PATIENTS alone --------------------------------


def as_of_offset(slug):
    return (AS_OF - STARTS[slug]).days


def phases_of(slug, code, blinded=False):
    """[(order, kind, first offset, last offset)]."""
    plans = BLINDED_2013 if blinded and slug == "ldn-fm-2013" else ARMS[(slug, code)]
    result, first = [], 0
    for order, (kind, days) in enumerate(plans, start=1):
        result.append((order, kind, first, first + days - 1))
        first += days
    return result


def number(text):
    return None if text is None else float(text)


def expected_patient(study_id, blinded=False):
    """{order: {figure: value}} of one patient, and each phase's kind and pain reduction."""
    slug, code, visits, entries = PATIENTS[study_id]
    limit = as_of_offset(slug)
    counting_visits = [v for v in visits if len(v) == 4 and v[0] <= limit]
    counting_entries = [e for e in entries if len(e) == 2 and e[0] <= limit]
    result = {}
    for order, kind, first, last in phases_of(slug, code, blinded):
        in_phase = [
            v for v in counting_visits if first <= v[0] <= last or (v[0] < 0 and first == 0)
        ]
        values = {}
        for index, name in enumerate(MEASURES, start=1):
            having = sorted((v for v in in_phase if v[index] is not None), key=lambda v: v[0])
            raw = having[-1][index] if having else None
            values[name] = raw if name == "esr" else number(raw)
        pains = [pain for offset, pain in counting_entries if first <= offset <= last]
        values["pain_mean"] = sum(pains) / len(pains) if pains else None
        result[order] = {"kind": kind, **values}
    baseline = result[1]
    for order, values in result.items():
        for name in MEASURES:
            change = None
            if order != 1 and values[name] is not None and baseline[name] is not None:
                change = values[name] - baseline[name]
            values[f"{name}_change"] = change
        reduction = None
        if order != 1 and values["pain_mean"] is not None and baseline["pain_mean"]:
            reduction = 100 * (baseline["pain_mean"] - values["pain_mean"]) / baseline["pain_mean"]
        values["pain_reduction_pct"] = reduction
    return result


def mean(values):
    values = [value for value in values if value is not None]
    return sum(values) / len(values) if values else None


def expected_cohort(slug):
    """{kind: {figure: value}} over the protocol's patients (unblinded)."""
    groups = {}
    for study_id, (patient_slug, *_rest) in PATIENTS.items():
        if patient_slug != slug:
            continue
        for values in expected_patient(study_id).values():
            groups.setdefault(values["kind"], []).append(values)
    cohort = {}
    for kind, rows in groups.items():
        figures = {}
        for name in MEASURES:
            figures[f"{name}_mean"] = mean(row[name] for row in rows)
            figures[f"{name}_change_mean"] = mean(row[f"{name}_change"] for row in rows)
            figures[f"{name}_patients"] = sum(1 for row in rows if row[name] is not None)
        cohort[kind] = figures
    return cohort


def by_kind(phases):
    return {values["kind"]: values for values in phases.values()}


def expected_comparison(slug):
    figures = {}
    patients = [
        by_kind(expected_patient(study_id))
        for study_id, (patient_slug, *_rest) in PATIENTS.items()
        if patient_slug == slug
    ]
    for name in ("pressure_threshold", "heat_threshold"):
        pairs = [
            (kinds["ldn"][f"{name}_change"], kinds["placebo"][f"{name}_change"])
            for kinds in patients
            if kinds["ldn"][f"{name}_change"] is not None
            and kinds["placebo"][f"{name}_change"] is not None
        ]
        figures[f"{name}_change_ldn"] = mean(ldn for ldn, _ in pairs)
        figures[f"{name}_change_placebo"] = mean(placebo for _, placebo in pairs)
        figures[f"{name}_patients"] = len(pairs)
    return figures


def average_ranks(values):
    return [
        sum(1 for other in values if other < value)
        + (sum(1 for other in values if other == value) + 1) / 2
        for value in values
    ]


def correlation(xs, ys):
    if len(xs) < 3 or len(set(xs)) == 1 or len(set(ys)) == 1:
        return None
    return statistics.correlation(xs, ys)


def expected_esr_response(slug):
    points = {}
    for study_id, (patient_slug, *_rest) in PATIENTS.items():
        if patient_slug != slug:
            continue
        kinds = by_kind(expected_patient(study_id))
        esr, reduction = kinds["baseline"]["esr"], kinds["ldn"]["pain_reduction_pct"]
        if esr is not None and reduction is not None:
            points[study_id] = (esr, reduction)
    xs = [float(esr) for esr, _ in points.values()]
    ys = [reduction for _, reduction in points.values()]
    return {
        "patients": len(points),
        "spearman_rho": correlation(average_ranks(xs), average_ranks(ys)),
        "pearson_r": correlation(xs, ys),
        "points": points,
    }


def test_the_expected_figures_have_ties_and_enough_patients():
    """The data are as the module says: the figures under test are not trivial."""
    for slug in STARTS:
        response = expected_esr_response(slug)
        assert response["patients"] >= 4
        assert response["spearman_rho"] is not None
        esrs = [esr for esr, _ in response["points"].values()]
        reductions = [reduction for _, reduction in response["points"].values()]
        assert len(set(esrs)) < len(esrs)
        assert len(set(reductions)) < len(reductions)
        assert response["spearman_rho"] != pytest.approx(response["pearson_r"])
    assert expected_comparison("ldn-fm-2013")["heat_threshold_patients"] >= 2


# Comparisons ---------------------------------------------------------------------


def close(actual, expected, tolerance=1e-9):
    if expected is None:
        return actual is None
    return actual is not None and abs(actual - expected) <= tolerance


def assert_figures(actual: dict, expected: dict, names, decimals=None, where=""):
    for name in names:
        want = expected[name]
        if decimals is not None and isinstance(want, float):
            want = round(want, decimals)
        assert close(actual[name], want), (where, name, actual[name], want)
        if want is not None and name.startswith("esr") and not name.endswith("_mean"):
            assert type(actual[name]) is int, (where, name)


PHASE_NAMES = [*MEASURES, *(f"{name}_change" for name in MEASURES)]
COHORT_NAMES = [
    f"{name}_{figure}" for name in MEASURES for figure in ("mean", "change_mean", "patients")
]
COMPARISON_NAMES = [
    f"{name}_{figure}"
    for name in ("pressure_threshold", "heat_threshold")
    for figure in ("change_ldn", "change_placebo", "patients")
]


def export(*args):
    out = StringIO()
    call_command(
        "export_summaries", "--as-of", AS_OF.isoformat(), *args, stdout=out, stderr=StringIO()
    )
    return json.loads(out.getvalue())


@pytest.mark.usefixtures("patients")
def test_export_summaries_unblinded_gives_every_measure_figure():
    data = export("--format", "json", "--unblinded", "--reason", "x")
    protocols = {protocol["slug"]: protocol for protocol in data["protocols"]}
    assert set(protocols) == set(STARTS)
    for slug, protocol in protocols.items():
        for patient in protocol["patients"]:
            expected = expected_patient(patient["study_id"])
            assert [phase["order"] for phase in patient["phases"]] == list(expected)
            for phase in patient["phases"]:
                want = expected[phase["order"]]
                assert phase["kind"] == want["kind"]
                assert_figures(phase, want, [*PHASE_NAMES, "pain_reduction_pct"], 4, patient)
        cohort = expected_cohort(slug)
        assert {row["kind"] for row in protocol["cohort"]} == set(cohort)
        for row in protocol["cohort"]:
            assert_figures(row, cohort[row["kind"]], COHORT_NAMES, 4, (slug, row["kind"]))
        assert_figures(protocol["ldn_vs_placebo"], expected_comparison(slug), COMPARISON_NAMES, 4)
        response = expected_esr_response(slug)
        assert set(protocol["esr_response"]) == {"patients", "spearman_rho", "pearson_r"}
        assert_figures(
            protocol["esr_response"], response, ["patients", "spearman_rho", "pearson_r"], 4
        )


@pytest.mark.usefixtures("patients")
def test_summarize_gives_every_measure_figure():
    results = summaries.summarize(Enrollment.objects.all(), AS_OF, UNBLINDED_FILE)
    assert {result.protocol.slug for result in results} == set(STARTS)
    for result in results:
        slug = result.protocol.slug
        for patient in result.patients:
            expected = expected_patient(patient.study_id)
            for phase in patient.phases:
                want = expected[phase.order]
                assert_figures(vars(phase), want, [*PHASE_NAMES, "pain_reduction_pct"])
                for name in ("pressure_threshold", "heat_threshold"):
                    value = getattr(phase, name)
                    assert value is None or type(value) is float
        cohort = expected_cohort(slug)
        for row in result.cohort:
            assert_figures(vars(row), cohort[row.kind], COHORT_NAMES, where=(slug, row.kind))
        assert_figures(vars(result.ldn_vs_placebo), expected_comparison(slug), COMPARISON_NAMES)
        response = expected_esr_response(slug)
        assert_figures(
            vars(result.esr_response), response, ["patients", "spearman_rho", "pearson_r"]
        )
        points = {point.study_id: point for point in result.esr_response.points}
        assert set(points) == set(response["points"])
        for study_id, (esr, reduction) in response["points"].items():
            assert points[study_id].baseline_esr == esr
            assert type(points[study_id].baseline_esr) is int
            assert close(points[study_id].pain_reduction_pct, reduction)
        assert [point.study_id for point in result.esr_response.points] == sorted(
            response["points"]
        )


@pytest.mark.usefixtures("patients")
def test_cohort_summaries_give_the_same_measure_figures():
    enrollments = Enrollment.objects.all()
    full = {r.protocol.slug: r for r in summaries.summarize(enrollments, AS_OF, UNBLINDED_FILE)}
    for result in summaries.cohort_summaries(enrollments, AS_OF, UNBLINDED_FILE):
        assert result.cohort == full[result.protocol.slug].cohort
        assert result.ldn_vs_placebo == full[result.protocol.slug].ldn_vs_placebo
        assert result.esr_response == full[result.protocol.slug].esr_response


@pytest.mark.usefixtures("patients")
def test_blinded_export_hides_the_arms_in_the_measures():
    data = export("--format", "json")
    protocols = {protocol["slug"]: protocol for protocol in data["protocols"]}
    crossover = protocols["ldn-fm-2013"]
    assert crossover["unblinded"] is False
    assert crossover["esr_response"] is None
    assert crossover["ldn_vs_placebo"] is None
    phases = {patient["study_id"]: patient["phases"] for patient in crossover["patients"]}
    assert phases["A3"] == phases["B3"]
    for study_id, patient_phases in phases.items():
        expected = expected_patient(study_id, blinded=True)
        assert [phase["kind"] for phase in patient_phases] == ["baseline", None, "followup"]
        for phase in patient_phases:
            assert_figures(phase, expected[phase["order"]], PHASE_NAMES, 4, study_id)
    # The single-blind pilot is not blinded to its physicians, nor to this file.
    pilot = protocols["ldn-fm-2009"]
    assert pilot["unblinded"] is True
    assert_figures(
        pilot["esr_response"],
        expected_esr_response("ldn-fm-2009"),
        ["patients", "spearman_rho", "pearson_r"],
        4,
    )


@pytest.mark.usefixtures("patients")
def test_csv_has_an_esr_response_row_per_unblinded_protocol():
    out = StringIO()
    call_command(
        "export_summaries",
        "--as-of",
        AS_OF.isoformat(),
        "--format",
        "csv",
        stdout=out,
        stderr=StringIO(),
    )
    lines = out.getvalue().splitlines()
    header = lines[0].split(",")
    assert {"spearman_rho", "pearson_r", "esr_patients", "heat_threshold_change_ldn"} <= set(header)
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    responses = [row for row in rows if row["section"] == "esr_response"]
    assert [row["protocol"] for row in responses] == ["ldn-fm-2009"]
    expected = expected_esr_response("ldn-fm-2009")
    assert int(responses[0]["patients"]) == expected["patients"]
    assert responses[0]["spearman_rho"] == f"{expected['spearman_rho']:.1f}"


def test_csv_leaves_the_esr_response_columns_out_when_every_protocol_is_blinded():
    physician = PhysicianFactory()
    enrollment = EnrollmentFactory(
        arm=builtin_arm("ldn-fm-2013", "A"), physician=physician, start_date=STARTS["ldn-fm-2013"]
    )
    VisitFactory(enrollment=enrollment, visit_date=STARTS["ldn-fm-2013"], esr=12)
    out = StringIO()
    call_command("export_summaries", "--as-of", AS_OF.isoformat(), "--format", "csv", stdout=out)
    header = out.getvalue().splitlines()[0].split(",")
    assert "spearman_rho" not in header and "pearson_r" not in header
    assert "esr" in header and "esr_mean" in header


def add_patients(count, offset=0):
    physician = PhysicianFactory()
    for number in range(count):
        for code in ("A", "B"):
            enrollment = EnrollmentFactory(
                study_id=f"Q{offset + number}{code}",
                arm=builtin_arm("ldn-fm-2013", code),
                physician=physician,
                start_date=STARTS["ldn-fm-2013"],
            )
            for days in (-2, 10, 50, 110):
                VisitFactory(
                    enrollment=enrollment,
                    visit_date=STARTS["ldn-fm-2013"] + dt.timedelta(days=days),
                    esr=10 + number,
                )
            EntryFactory(enrollment=enrollment, date=STARTS["ldn-fm-2013"], pain=6)
            EntryFactory(
                enrollment=enrollment, date=STARTS["ldn-fm-2013"] + dt.timedelta(days=50), pain=3
            )


def queries_of_summaries():
    with CaptureQueriesContext(connection) as queries:
        results = summaries.summarize(Enrollment.objects.all(), AS_OF, UNBLINDED_FILE)
        summaries.cohort_summaries(Enrollment.objects.all(), AS_OF, UNBLINDED_FILE)
    return len(queries), results


def test_query_count_does_not_grow_with_patients_and_visits():
    add_patients(1)
    few, results = queries_of_summaries()
    assert results[0].esr_response.patients == 2
    add_patients(9, offset=1)
    many, results = queries_of_summaries()
    assert results[0].esr_response.patients == 20
    assert many == few
