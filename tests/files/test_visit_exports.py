"""export_visits: one row per clinic visit, with the study day and the phase as the
file's reader may see them, on the command line and the coordinators' export page."""

import csv
import datetime as dt
import io
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from diary.audit.models import AuditEvent
from diary.files.visit_exports import VISIT_COLUMNS, study_day, visit_rows
from diary.trial.blinding import BLINDED_FILE
from diary.trial.models import Enrollment
from tests.factories import CoordinatorFactory, EnrollmentFactory, VisitFactory, builtin_arm

pytestmark = pytest.mark.django_db

START = dt.date(2026, 1, 1)  # ldn-fm-2013: baseline Jan 1-14, treatment Jan 15 - May 6


def enroll(code="A", slug="ldn-fm-2013", **kwargs):
    return EnrollmentFactory(arm=builtin_arm(slug, code), start_date=START, **kwargs)


def add_visits(enrollment):
    """A pre-start visit, a baseline one with a blank measure, a voided one and one in
    treatment (day 40: LDN in arm A, placebo in arm B)."""
    VisitFactory(enrollment=enrollment, visit_date=dt.date(2025, 12, 20), esr=31)
    VisitFactory(
        enrollment=enrollment, visit_date=START, pressure_threshold=None, notes="=HYPERLINK(1)"
    )
    VisitFactory(
        enrollment=enrollment,
        visit_date=dt.date(2026, 1, 10),
        esr=99,
        voided=True,
        void_reason="wrong patient",
    )
    VisitFactory(
        enrollment=enrollment,
        visit_date=dt.date(2026, 2, 9),
        esr=12,
        pressure_threshold=Decimal("4.2"),
        heat_threshold=Decimal("45.5"),
    )


@pytest.fixture
def enrollment():
    enrollment = enroll(study_id="FM-001", timezone="America/New_York")
    add_visits(enrollment)
    return enrollment


def run(*args):
    out = StringIO()
    call_command("export_visits", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_export_visits_has_the_columns_of_domain_and_one_row_per_visit(enrollment):
    rows = read_csv(run())
    assert list(rows[0]) == VISIT_COLUMNS
    assert VISIT_COLUMNS == [
        "study_id", "visit_date", "study_day", "phase_order", "phase", "esr",
        "pressure_threshold", "heat_threshold", "notes", "source", "voided", "created_at",
        "updated_at", "locked_at",
    ]  # fmt: skip
    assert [(r["visit_date"], r["study_day"], r["esr"]) for r in rows] == [
        ("2025-12-20", "-11", "31"),
        ("2026-01-01", "1", "20"),
        ("2026-01-10", "10", "99"),
        ("2026-02-09", "40", "12"),
    ]
    pre, first, voided, treatment = rows
    assert (first["pressure_threshold"], first["heat_threshold"]) == ("", "44.0")
    assert (treatment["pressure_threshold"], treatment["heat_threshold"]) == ("4.2", "45.5")
    assert [r["voided"] for r in rows] == ["no", "no", "yes", "no"]
    assert {r["source"] for r in rows} == {"staff"}
    assert {r["study_id"] for r in rows} == {"FM-001"}


def test_a_visit_before_the_start_counts_for_the_first_phase_with_a_day_of_zero_or_less(
    enrollment,
):
    VisitFactory(enrollment=enrollment, visit_date=START - dt.timedelta(days=1))
    rows = read_csv(run())
    before = [r for r in rows if r["visit_date"] < START.isoformat()]
    assert [(r["study_day"], r["phase_order"], r["phase"]) for r in before] == [
        ("-11", "1", "Baseline"),
        ("0", "1", "Baseline"),
    ]
    assert study_day(START, START) == 1
    assert study_day(START, START - dt.timedelta(days=28)) == -27


def test_a_blinded_file_labels_treatment_neutrally_and_unblinded_names_the_kind(enrollment):
    blinded = read_csv(run())
    assert [(r["phase_order"], r["phase"]) for r in blinded] == [
        ("1", "Baseline"),
        ("1", "Baseline"),
        ("1", "Baseline"),
        ("2", "Treatment"),
    ]
    unblinded = read_csv(run("--unblinded", "--reason", "Final analysis"))
    assert (unblinded[-1]["phase_order"], unblinded[-1]["phase"]) == ("2", "LDN")


def test_twins_in_arms_a_and_b_look_the_same_in_a_blinded_file():
    twins = [enroll("A", study_id="FM-101"), enroll("B", study_id="FM-102")]
    for twin in twins:
        add_visits(twin)
    rows = list(visit_rows(Enrollment.objects.all(), BLINDED_FILE))[1:]
    by_twin = [[r for r in rows if r[0] == twin.study_id] for twin in twins]
    # the same visits made at different moments: compare all but the study ID and stamps
    assert [r[1:-2] for r in by_twin[0]] == [r[1:-2] for r in by_twin[1]]
    assert len(by_twin[0]) == 4
    unblinded = read_csv(run("--unblinded", "--reason", "DSMB"))
    assert {r["phase"] for r in unblinded if r["study_day"] == "40"} == {"LDN", "Placebo"}


def test_unblinded_needs_a_reason_and_is_audited_and_named_so(enrollment, tmp_path):
    for args in (("--unblinded",), ("--unblinded", "--reason", "  ")):
        with pytest.raises(CommandError, match="An unblinded file needs a reason") as error:
            run(*args)
        assert error.value.returncode == 1
    assert not AuditEvent.objects.exists()
    err = StringIO()
    call_command(
        "export_visits",
        "--unblinded",
        "--reason",
        "DSMB",
        "--out",
        str(tmp_path / "visits.csv"),
        stderr=err,
    )
    assert [p.name for p in tmp_path.iterdir()] == ["visits-UNBLINDED.csv"]
    assert "visits-UNBLINDED.csv" in err.getvalue()
    event = AuditEvent.objects.get()
    assert (event.action, event.reason) == ("unblinded_export", "DSMB")
    assert event.details["export"] == "visits"
    assert event.actor_name.startswith("shell:")
    rows = read_csv((tmp_path / "visits-UNBLINDED.csv").read_text())
    assert rows[-1]["phase"] == "LDN"


def test_export_visits_filters_by_protocol_and_refuses_an_unknown_one(enrollment):
    pilot = enroll("P", slug="ldn-fm-2009", study_id="PI-001")
    VisitFactory(enrollment=pilot, visit_date=dt.date(2026, 1, 20))
    rows = read_csv(run("--protocol", "ldn-fm-2009"))
    # single blind: only the patient is blinded, the file names the kind
    assert [(r["study_id"], r["phase"]) for r in rows] == [("PI-001", "Placebo")]
    assert len(read_csv(run("--protocol", "ldn-fm-2013"))) == 4
    with pytest.raises(CommandError, match='No protocol "nope"'):
        run("--protocol", "nope")


def test_formula_cells_in_notes_are_neutralised(enrollment):
    VisitFactory(enrollment=enrollment, visit_date=dt.date(2026, 1, 5), notes="@SUM(A1)")
    notes = [r["notes"] for r in read_csv(run())]
    assert "'=HYPERLINK(1)" in notes
    assert "'@SUM(A1)" in notes
    assert "=HYPERLINK(1)" not in notes


def test_timestamps_are_iso_with_the_utc_offset_of_the_patients_zone(enrollment):
    for row in read_csv(run()):
        for column in ("created_at", "updated_at"):
            moment = dt.datetime.fromisoformat(row[column])
            assert moment.utcoffset() in (dt.timedelta(hours=-5), dt.timedelta(hours=-4))


def test_coordinator_downloads_visits_csv_from_the_export_page(client, enrollment):
    client.force_login(CoordinatorFactory())
    response = client.get("/exports/", {"what": "visits.csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert 'filename="visits-all-' in disposition
    assert disposition.endswith('.csv"')
    assert "UNBLINDED" not in disposition
    rows = read_csv(b"".join(response.streaming_content).decode())
    assert len(rows) == 4
    assert rows[-1]["phase"] == "Treatment"


def test_export_visits_uses_the_same_queries_for_2_and_20_patients(django_assert_num_queries):
    def add_patients(count):
        for n in range(count):
            patient = enroll("AB"[n % 2])
            VisitFactory(enrollment=patient, visit_date=START)
            VisitFactory(enrollment=patient, visit_date=dt.date(2026, 2, 1))

    add_patients(2)
    # enrollments, protocols with their phases, the visits; the access log (the count
    # of enrollments, the row)
    with django_assert_num_queries(5):
        assert len(read_csv(run())) == 4
    add_patients(18)
    with django_assert_num_queries(5):
        assert len(read_csv(run())) == 40


def test_visit_rows_is_a_generator_and_reads_in_three_queries(
    enrollment, django_assert_num_queries
):
    rows = visit_rows(Enrollment.objects.all(), BLINDED_FILE)
    assert next(rows) == VISIT_COLUMNS  # nothing is read up front
    with django_assert_num_queries(3):
        assert len(list(visit_rows(Enrollment.objects.all(), BLINDED_FILE))) == 1 + 4


def test_no_enrollments_give_the_header_only():
    assert read_csv(run()) == []
    assert run().strip() == ",".join(VISIT_COLUMNS)
