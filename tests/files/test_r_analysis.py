"""analysis/phase_summary.R and analysis/visit_summary.R: their per-phase figures from
the entries and visits exports match the summaries export, patient by patient and phase
by phase, and so does baseline ESR against pain reduction on LDN."""

import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

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

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "analysis/phase_summary.R"
# ldn-fm-2013: baseline Jan 1-14; arm A then LDN from Jan 15, arm B placebo Jan 15 -
# Feb 11 and LDN from Feb 12.
START = dt.date(2026, 1, 1)
AS_OF = "2026-06-30"
NOW = dt.datetime(2026, 6, 30, 20, 0, tzinfo=dt.UTC)
NOTE = 'Woke at 3, "bad" night\nthen slept till 9'
FIGURES = ["pain_mean", "pain_sd", "fatigue_mean", "sleep_quality_mean"]
COUNTS = ["entries", "headache_days", "vivid_dreams_days"]


@pytest.fixture
def rscript():
    path = shutil.which("Rscript")
    if path is None:
        message = "Rscript is not on PATH (install r-base-core)"
        if os.environ.get("REQUIRE_TOOLS") == "1":
            pytest.fail(f"{message}; REQUIRE_TOOLS=1 asks for it")
        pytest.skip(message)
    return path


def day(offset):
    return START + dt.timedelta(days=offset)


def add(enrollment, offset, pain, fatigue, sleep_quality, **values):
    return EntryFactory(
        enrollment=enrollment,
        date=day(offset),
        pain=pain,
        fatigue=fatigue,
        sleep_quality=sleep_quality,
        **values,
    )


@pytest.fixture
def study():
    """Three patients in each arm of ldn-fm-2013, with varied diaries."""
    physician = PhysicianFactory()
    patients = {}
    for number, code in enumerate("ABABAB", start=1):
        patients[number] = EnrollmentFactory(
            study_id=f"FM-{number:03d}",
            arm=builtin_arm("ldn-fm-2013", code),
            physician=physician,
            start_date=START,
        )
    for number, enrollment in patients.items():
        # Baseline: days 0-13, a few missed.
        for offset in range(0, 14):
            if (offset + number) % 5 == 0:
                continue
            add(
                enrollment,
                offset,
                pain=(offset * 3 + number) % 11,
                fatigue=(offset + 2 * number) % 11,
                sleep_quality=(offset * 7 + number) % 11,
                vivid_dreams=(offset + number) % 4 == 0,
                headache=(offset * number) % 3 == 0,
            )
        # Second phase (LDN for A, placebo for B): days 14-41, patient 5 skips it.
        if number != 5:
            for offset in range(14, 14 + 4 * number, 2):
                add(
                    enrollment,
                    offset,
                    pain=(offset + number) % 9,
                    fatigue=(offset * number) % 10,
                    sleep_quality=(offset + 5) % 11,
                    vivid_dreams=offset % 3 == 0,
                    headache=offset % 4 == 0,
                    dose_taken=True,
                    tolerability=(offset * 13) % 101,
                )
    # A single entry in a phase: no SD.
    add(patients[2], 50, pain=7, fatigue=3, sleep_quality=6, dose_taken=True, tolerability=60)
    # A voided entry, not counted; with pain 10 it would change the figures.
    add(
        patients[1],
        15,
        pain=10,
        fatigue=10,
        sleep_quality=0,
        headache=True,
        vivid_dreams=True,
        voided=True,
        void_reason="Entered twice",
    )
    # Notes the CSV must quote, and one a spreadsheet would run as a formula.
    add(patients[3], 17, pain=2, fatigue=1, sleep_quality=9, notes=NOTE)
    add(patients[4], 17, pain=6, fatigue=2, sleep_quality=8, notes="=SUM(A1:A2), ça va")
    return patients


def entries_file(tmp_path) -> Path:
    out = tmp_path / "entries.csv"
    call_command(
        "export_entries",
        "--unblinded",
        "--reason",
        "analysis",
        "--out",
        str(out),
        stdout=StringIO(),
        stderr=StringIO(),
    )
    written = tmp_path / "entries-UNBLINDED.csv"
    assert written.exists() and not out.exists()
    return written


def run_script(rscript, *args):
    return subprocess.run(
        [rscript, SCRIPT, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def summary_phases():
    """{(study_id, order): phase} of the unblinded summaries export (JSON, 4 decimals)."""
    out = StringIO()
    call_command(
        "export_summaries",
        "--format",
        "json",
        "--unblinded",
        "--reason",
        "analysis",
        "--as-of",
        AS_OF,
        stdout=out,
        stderr=StringIO(),
    )
    (protocol,) = json.loads(out.getvalue())["protocols"]
    assert protocol["slug"] == "ldn-fm-2013" and protocol["unblinded"]
    return {
        (patient["study_id"], phase["order"]): phase
        for patient in protocol["patients"]
        for phase in patient["phases"]
    }


def test_phase_summary_matches_the_summaries_export(rscript, study, tmp_path):
    path = entries_file(tmp_path)
    exported = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert any(row["notes"] == NOTE for row in exported)
    assert any(row["notes"] == "'=SUM(A1:A2), ça va" for row in exported)
    assert sum(row["voided"] == "yes" for row in exported) == 1

    result = run_script(rscript, str(path))
    assert result.returncode == 0, result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == [
        "study_id", "phase_order", "phase", "entries", "pain_mean", "pain_sd",
        "fatigue_mean", "sleep_quality_mean", "headache_days", "vivid_dreams_days",
    ]  # fmt: skip
    rows = list(reader)

    keys = [(row["study_id"], int(row["phase_order"])) for row in rows]
    assert keys == sorted(keys), "rows are ordered by study_id, then phase_order"
    assert len(set(keys)) == len(keys)

    summaries = summary_phases()
    counted = {key for key, phase in summaries.items() if phase["entries"] > 0}
    assert set(keys) == counted
    assert len(counted) < len(summaries), "some phases have no entries, hence no R row"

    for row, key in zip(rows, keys, strict=True):
        phase = summaries[key]
        assert row["phase"] == phase["label"], key
        for name in COUNTS:
            assert int(row[name]) == phase[name], (key, name)
        for name in FIGURES:
            if phase[name] is None:
                assert row[name] == "", (key, name)
            else:
                assert float(row[name]) == pytest.approx(phase[name], abs=5e-5), (key, name)

    by_key = dict(zip(keys, rows, strict=True))
    single = by_key[("FM-002", 3)]
    assert (single["entries"], single["pain_sd"], single["pain_mean"]) == ("1", "", "7")
    # FM-001's LDN days 14 and 16, not the voided day 15.
    assert (by_key[("FM-001", 2)]["phase"], by_key[("FM-001", 2)]["entries"]) == ("LDN", "2")
    assert by_key[("FM-002", 2)]["phase"] == "Placebo"
    assert ("FM-005", 2) not in by_key and summaries[("FM-005", 2)]["entries"] == 0


def test_header_only_file_gives_header_only(rscript, tmp_path):
    path = entries_file(tmp_path)
    result = run_script(rscript, str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "study_id,phase_order,phase,entries,pain_mean,pain_sd,fatigue_mean,"
        "sleep_quality_mean,headache_days,vivid_dreams_days"
    ]


def test_missing_file_fails_with_a_message(rscript, tmp_path):
    missing = tmp_path / "nowhere.csv"
    result = run_script(rscript, str(missing))
    assert result.returncode != 0
    assert "no such file" in result.stderr and str(missing) in result.stderr
    assert result.stdout == ""


def test_missing_argument_fails_with_usage(rscript):
    result = run_script(rscript)
    assert result.returncode != 0
    assert "Usage: Rscript analysis/phase_summary.R" in result.stderr


def test_file_without_the_columns_fails_with_a_message(rscript, tmp_path):
    path = tmp_path / "other.csv"
    path.write_text("study_id,date,pain\nFM-001,2026-01-01,5\n", encoding="utf-8")
    result = run_script(rscript, str(path))
    assert result.returncode != 0
    assert "lacks the column(s) phase_order, phase, fatigue" in result.stderr


# analysis/visit_summary.R -------------------------------------------------------------

VISIT_SCRIPT = "analysis/visit_summary.R"
MEASURE_FIGURES = [
    "esr",
    "esr_change",
    "pressure_threshold",
    "pressure_threshold_change",
    "heat_threshold",
    "heat_threshold_change",
]
RESPONSE_FIGURES = ["spearman_rho", "pearson_r"]


def visit(enrollment, offset, esr=None, pressure=None, heat=None, **values):
    return VisitFactory(
        enrollment=enrollment,
        visit_date=day(offset),
        esr=esr,
        pressure_threshold=None if pressure is None else Decimal(pressure),
        heat_threshold=None if heat is None else Decimal(heat),
        **values,
    )


@pytest.fixture
def clinic(study):
    """Visits for the study's patients: pre-start visits, measures not done, a voided
    visit, tied baseline ESRs (FM-001 and FM-003 both 30; FM-002's LDN day 50 gives a
    second LDN reduction) and a patient without any visit."""
    p = study
    visit(p[1], -10, esr=30, pressure="3.0", heat="42.5")  # pre-start: the baseline's
    visit(p[1], 5, pressure="3.4")  # the baseline's last pressure threshold, no ESR
    visit(p[1], 15, esr=99, pressure="9.9", heat="51.0", voided=True, void_reason="Wrong")
    visit(p[1], 30, esr=22, pressure="4.1", heat="44.0")
    visit(p[2], -1, esr=45, heat="40.0")
    visit(p[2], 13, esr=41)  # the baseline's last ESR
    visit(p[2], 20, esr=38, pressure="2.5", heat="41.2")  # placebo
    visit(p[2], 60, esr=30, pressure="2.9")  # LDN
    visit(p[3], 0, esr=30, pressure="5.0", heat="46.0")
    visit(p[3], 40, pressure="5.5")
    visit(p[4], 2, esr=12, pressure="6.0", heat="47.3")
    visit(p[4], 30, esr=10, heat="48.0")
    visit(p[4], 55, esr=15, pressure="6.2", heat="48.5")
    visit(p[5], -27, esr=60, pressure="1.5", heat="38.0")
    # LDN days for FM-004 (after its placebo) and FM-005 (it skipped the diary so far).
    for patient, offsets in ((p[4], (45, 47, 52)), (p[5], (20, 21))):
        for offset in offsets:
            add(
                patient, offset, pain=offset % 7, fatigue=4, sleep_quality=5, dose_taken=True,
                tolerability=70,
            )  # fmt: skip
    # FM-006 has no visit: no row, and not in the ESR figure.
    return p


def visits_file(tmp_path) -> Path:
    call_command(
        "export_visits",
        "--unblinded",
        "--reason",
        "analysis",
        "--out",
        str(tmp_path / "visits.csv"),
        stdout=StringIO(),
        stderr=StringIO(),
    )
    written = tmp_path / "visits-UNBLINDED.csv"
    assert written.exists()
    return written


def run_visit_script(rscript, *args):
    return subprocess.run(
        [rscript, VISIT_SCRIPT, *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def approx_or_blank(cell, value, where):
    if value is None:
        assert cell == "", where
    else:
        assert float(cell) == pytest.approx(value, abs=5e-5), where


def test_visit_summary_matches_the_summaries_export(rscript, clinic, tmp_path):
    entries, visits = entries_file(tmp_path), visits_file(tmp_path)
    exported = list(csv.DictReader(io.StringIO(visits.read_text(encoding="utf-8"))))
    assert sum(row["voided"] == "yes" for row in exported) == 1
    assert any(int(row["study_day"]) <= 0 for row in exported)

    result = run_visit_script(rscript, str(entries), str(visits))
    assert result.returncode == 0, result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout))
    assert reader.fieldnames == ["study_id", "phase_order", "phase", *MEASURE_FIGURES]
    rows = list(reader)
    keys = [(row["study_id"], int(row["phase_order"])) for row in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)

    summaries = summary_phases()
    # Every phase with a counting visit has a row; the others have no measure at all.
    for key, phase in summaries.items():
        if key not in keys:
            assert all(phase[name] is None for name in MEASURE_FIGURES), key
    for row, key in zip(rows, keys, strict=True):
        phase = summaries[key]
        assert row["phase"] == phase["label"], key
        for name in MEASURE_FIGURES:
            approx_or_blank(row[name], phase[name], (key, name))

    by_key = dict(zip(keys, rows, strict=True))
    baseline = by_key[("FM-001", 1)]
    # The pre-start visit's ESR and heat, the day-5 pressure; the voided visit not.
    assert (baseline["esr"], baseline["pressure_threshold"], baseline["heat_threshold"]) == (
        "30",
        "3.4",
        "42.5",
    )
    assert baseline["esr_change"] == ""
    ldn = by_key[("FM-001", 2)]
    assert (ldn["phase"], ldn["esr"], ldn["esr_change"]) == ("LDN", "22", "-8")
    assert float(ldn["pressure_threshold_change"]) == pytest.approx(0.7)
    assert by_key[("FM-002", 1)]["esr"] == "41"
    assert by_key[("FM-003", 2)]["esr"] == ""  # not measured in the phase
    assert ("FM-006", 1) not in by_key
    assert ("FM-005", 1) in by_key


def test_esr_response_matches_the_summaries(rscript, clinic, tmp_path):
    entries, visits = entries_file(tmp_path), visits_file(tmp_path)
    result = run_visit_script(rscript, "--esr-response", str(entries), str(visits))
    assert result.returncode == 0, result.stderr
    (row,) = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(row) == ["patients", *RESPONSE_FIGURES]

    (summary,) = summaries.summarize(
        Enrollment.objects.all(), dt.date.fromisoformat(AS_OF), UNBLINDED_FILE
    )
    expected = summary.esr_response
    assert int(row["patients"]) == expected.patients == 5
    for name in RESPONSE_FIGURES:
        assert getattr(expected, name) is not None
        approx_or_blank(row[name], getattr(expected, name), name)
    # The JSON export carries the same figure (4 decimals).
    out = StringIO()
    call_command(
        "export_summaries", "--format", "json", "--unblinded", "--reason", "analysis",
        "--as-of", AS_OF, stdout=out, stderr=StringIO(),
    )  # fmt: skip
    (protocol,) = json.loads(out.getvalue())["protocols"]
    assert protocol["esr_response"]["patients"] == int(row["patients"])
    for name in RESPONSE_FIGURES:
        approx_or_blank(row[name], protocol["esr_response"][name], name)


def test_esr_response_needs_three_patients_and_values_that_differ(rscript, tmp_path):
    physician = PhysicianFactory()
    patients = [
        EnrollmentFactory(
            study_id=f"FM-{n:03d}",
            arm=builtin_arm("ldn-fm-2013", "A"),
            physician=physician,
            start_date=START,
        )
        for n in (1, 2)
    ]
    for n, patient in enumerate(patients):
        add(patient, 1, pain=6, fatigue=3, sleep_quality=5)
        add(patient, 20, pain=3 + n, fatigue=3, sleep_quality=5, dose_taken=True, tolerability=80)
        visit(patient, 0, esr=20 + n)
    entries, visits = entries_file(tmp_path), visits_file(tmp_path)
    result = run_visit_script(rscript, "--esr-response", str(entries), str(visits))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["patients,spearman_rho,pearson_r", "2,,"]


def test_visit_summary_of_header_only_files_gives_the_header(rscript, tmp_path):
    entries, visits = entries_file(tmp_path), visits_file(tmp_path)
    result = run_visit_script(rscript, str(entries), str(visits))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["study_id,phase_order,phase," + ",".join(MEASURE_FIGURES)]
    result = run_visit_script(rscript, "--esr-response", str(entries), str(visits))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["patients,spearman_rho,pearson_r", "0,,"]


def test_visit_summary_says_what_is_wrong(rscript, tmp_path):
    result = run_visit_script(rscript)
    assert result.returncode == 1
    assert "Usage: Rscript analysis/visit_summary.R" in result.stderr
    entries = entries_file(tmp_path)
    result = run_visit_script(rscript, str(entries), str(tmp_path / "nowhere.csv"))
    assert result.returncode == 1 and "no such file" in result.stderr
    result = run_visit_script(rscript, str(entries), str(entries))
    assert result.returncode == 1
    assert "lacks the column(s) visit_date, esr" in result.stderr
    assert result.stdout == ""
