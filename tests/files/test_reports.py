"""The clinic report (PDF) and the codebook."""

import csv
import datetime as dt
import io
import os
import shutil
import subprocess
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from diary.audit.models import DataAccess
from diary.figures import alerts
from diary.files.codebook import COLUMNS, codebook
from diary.files.exports import ENTRY_COLUMNS, SUMMARY_COLUMNS
from diary.files.query_exports import QUERY_COLUMNS
from diary.files.signature_exports import SIGNATURE_COLUMNS
from diary.files.visit_exports import VISIT_COLUMNS
from diary.trial.models import Enrollment
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    VisitFactory,
    builtin_arm,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

LA = ZoneInfo("America/Los_Angeles")
NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=LA)
TODAY = NOW.date()
START = TODAY - dt.timedelta(days=40)  # study day 41: treatment day 27


def pdf_text(pdf: bytes) -> str:
    """The PDF's text, as pdftotext (poppler-utils) reads it."""
    if shutil.which("pdftotext") is None:
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail("REQUIRE_TOOLS=1 but pdftotext is missing (apt-get install poppler-utils)")
        pytest.skip("pdftotext is missing (apt-get install poppler-utils)")
    result = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    )
    return result.stdout.decode()


@pytest.fixture
def physician():
    return PhysicianFactory(username="dr-blind", first_name="Ada", last_name="Byron")


def enroll(physician, code, study_id):
    patient = PatientFactory(
        first_name="Rosalind", last_name="Quist", email=f"{study_id.lower()}@example.org"
    )
    enrollment = EnrollmentFactory(
        study_id=study_id,
        patient=patient,
        physician=physician,
        arm=builtin_arm("ldn-fm-2013", code),
        start_date=START,
    )
    for offset in range(40):
        if offset % 7 == 6:
            continue
        treatment = offset >= 14
        EntryFactory(
            enrollment=enrollment,
            date=START + dt.timedelta(days=offset),
            pain=(offset * 7) % 11,
            headache=offset % 5 == 0,
            dose_taken=True if treatment else None,
            tolerability=(40 if offset == 39 else 90) if treatment else None,
        )
    return enrollment


def report(client, user, study_id):
    client.force_login(user)
    return client.get(f"/physician/patients/{study_id}/report.pdf")


def test_the_report_is_a_pdf_with_her_summary_chart_and_alerts(client, physician):
    enrollment = enroll(physician, "A", "FM-101")
    alerts.run()
    response = report(client, physician, "FM-101")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        'attachment; filename="report-FM-101-2026-03-10.pdf"'
    )
    assert response.content.startswith(b"%PDF")
    text = pdf_text(response.content)
    assert "Clinic report: FM-101" in text
    for expected in ("Baseline", "Treatment", "Follow-up", "As of", "2026-03-10"):
        assert expected in text
    assert "Ada Byron" in text  # the physician
    # Figures as the patient page shows them: baseline entries 12 of 14 days.
    assert "Entries" in text and "85.7%" in text
    assert "low_tolerability" in text  # her last entry's tolerability was 40
    assert "generated 2026-03-10 12:00 PDT by Ada Byron" in text
    assert "Page 1 of" in text
    for private in ("Rosalind", "Quist", "fm-101@example.org", enrollment.patient.username):
        assert private not in text
    assert DataAccess.objects.filter(what="PDF report", study_id="FM-101").count() == 1


def test_a_blinded_reader_cannot_tell_the_arms_apart_in_the_report(client, physician):
    enroll(physician, "A", "FM-A")
    enroll(physician, "B", "FM-B")
    text_a = pdf_text(report(client, physician, "FM-A").content)
    text_b = pdf_text(report(client, physician, "FM-B").content)
    for word in ("LDN", "Placebo", "placebo"):
        assert word not in text_a
    assert "Blinded" in text_a
    assert text_a.replace("FM-A", "FM-?") == text_b.replace("FM-B", "FM-?")
    coordinator = CoordinatorFactory()
    assert "LDN" not in pdf_text(report(client, coordinator, "FM-A").content)


def test_an_unblinded_reader_sees_the_treatment_names(client, physician):
    enrollment = enroll(physician, "A", "FM-A")
    Enrollment.objects.filter(pk=enrollment.pk).update(care_team_unblinded_at=NOW)
    text = pdf_text(report(client, physician, "FM-A").content)
    assert "LDN" in text


def test_only_her_physician_and_coordinators_get_the_report(client, physician):
    enrollment = enroll(physician, "A", "FM-101")
    assert report(client, PhysicianFactory(), "FM-101").status_code == 404
    assert report(client, enrollment.patient, "FM-101").status_code == 404
    assert report(client, physician, "FM-999").status_code == 404
    assert report(client, CoordinatorFactory(), "FM-101").status_code == 200
    client.logout()
    response = client.get("/physician/patients/FM-101/report.pdf")
    assert response.status_code == 302
    client.force_login(physician)
    assert client.post("/physician/patients/FM-101/report.pdf").status_code == 405


def test_the_patient_page_links_the_report(client, physician):
    enroll(physician, "A", "FM-101")
    client.force_login(physician)
    page = client.get("/physician/patients/FM-101/").content.decode()
    assert 'href="/physician/patients/FM-101/report.pdf"' in page


def test_a_patient_without_entries_gets_a_report_too(client, physician):
    EnrollmentFactory(study_id="FM-NEW", physician=physician, start_date=TODAY)
    text = pdf_text(report(client, physician, "FM-NEW").content)
    assert "No pain recorded yet." in text and "No alerts." in text


def add_visits(enrollment):
    """A screening visit, one in treatment, and a voided one."""
    VisitFactory(enrollment=enrollment, visit_date=START - dt.timedelta(days=3), esr=31)
    VisitFactory(
        enrollment=enrollment,
        visit_date=START + dt.timedelta(days=30),
        esr=18,
        pressure_threshold=None,
        heat_threshold="45.5",
        notes="fasting",
    )
    VisitFactory(
        enrollment=enrollment,
        visit_date=START + dt.timedelta(days=35),
        esr=99,
        voided=True,
        void_reason="wrong tube",
    )


def test_the_report_has_her_visits_and_measures_by_phase(client, physician):
    enrollment = enroll(physician, "A", "FM-101")
    add_visits(enrollment)
    text = pdf_text(report(client, physician, "FM-101").content)
    assert "Clinic visits" in text and "Clinic measures by phase" in text
    assert "ESR (mm/h)" in text and "(kg/cm2)" in text and "(°C)" in text
    assert "2026-01-26" in text and "-2" in text  # 3 days before day 1: study day -2
    assert "45.5" in text and "fasting" in text
    assert "Voided: wrong" in text and "tube (not" in text  # the notes column wraps
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "Treatment" in lines["2026-02-28"]  # study day 31, as the blinded reader sees it
    assert "Baseline" in lines["2026-01-26"]  # before day 1: the first phase


def test_a_patient_without_visits_says_so(client, physician):
    enroll(physician, "A", "FM-101")
    assert "No clinic visits recorded." in pdf_text(report(client, physician, "FM-101").content)


def test_the_visits_of_both_arms_read_the_same_to_a_blinded_reader(client, physician):
    for code in ("A", "B"):
        add_visits(enroll(physician, code, f"FM-{code}"))
    text_a = pdf_text(report(client, physician, "FM-A").content)
    text_b = pdf_text(report(client, physician, "FM-B").content)
    assert "LDN" not in text_a and "Placebo" not in text_a
    assert text_a.replace("FM-A", "FM-?") == text_b.replace("FM-B", "FM-?")


# The codebook ---------------------------------------------------------------------


def header_of(command, *args) -> list[str]:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return next(csv.reader(io.StringIO(out.getvalue())))


def test_the_codebook_describes_every_column_of_every_csv_export(physician):
    enroll(physician, "A", "FM-101")
    described = {(row.file, row.name) for row in codebook()}
    headers = {
        "entries": header_of("export_entries")
        + header_of("export_entries", "--unblinded", "--reason", "codebook check"),
        "visits": header_of("export_visits")
        + header_of("export_visits", "--unblinded", "--reason", "codebook check"),
        "signatures": header_of("export_signatures"),
        "queries": header_of("export_queries"),
        "summaries": header_of("export_summaries", "--format", "csv")
        + header_of("export_summaries", "--format", "csv", "--unblinded", "--reason", "check"),
    }
    for file, columns in headers.items():
        missing = {name for name in columns if (file, name) not in described}
        assert missing == set(), f"{file} columns without a codebook row: {missing}"
    assert len(codebook()) == (
        len(ENTRY_COLUMNS)
        + len(VISIT_COLUMNS)
        + len(SUMMARY_COLUMNS)
        + len(SIGNATURE_COLUMNS)
        + len(QUERY_COLUMNS)
    )


def test_every_codebook_row_is_filled_in():
    for row in codebook():
        assert row.label and row.type and row.when, row
        if row.type in ("integer", "decimal", "yes/no", "code", "date"):
            assert row.values, row


def test_the_codebook_command_and_download(client, tmp_path):
    out = StringIO()
    call_command("export_codebook", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == COLUMNS
    pain = next(row for row in rows if row["file"] == "entries" and row["name"] == "pain")
    assert pain["type"] == "integer" and pain["values"] == "0 to 10"
    assert pain["label"] == "Your average pain over the last 24 hours"
    tolerability = next(r for r in rows if r["file"] == "entries" and r["name"] == "tolerability")
    assert "only in LDN and placebo phases" in tolerability["when"]
    call_command("export_codebook", "--out", str(tmp_path / "codebook.csv"), stderr=StringIO())
    assert (tmp_path / "codebook.csv").read_text() == out.getvalue()
    client.force_login(CoordinatorFactory())
    response = client.get("/exports/codebook.csv")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).decode() == out.getvalue()
    assert response["Content-Disposition"] == 'attachment; filename="codebook.csv"'
    client.force_login(PhysicianFactory())
    assert client.get("/exports/codebook.csv").status_code == 404


def test_a_server_without_pango_says_so_instead_of_failing(client, physician, monkeypatch):
    enroll(physician, "A", "FM-101")
    import builtins

    real_import = builtins.__import__

    def no_weasyprint(name, *args, **kwargs):
        if name == "weasyprint":
            raise OSError("cannot load library 'libpango-1.0-0'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_weasyprint)
    response = report(client, physician, "FM-101")
    assert response.status_code == 302
    assert response["Location"] == "/physician/patients/FM-101/"
    page = client.get(response["Location"]).content.decode()
    assert "WeasyPrint needs the Pango library" in page
