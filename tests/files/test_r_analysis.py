"""analysis/phase_summary.R: its per-phase figures from the entries export match the
summaries export, patient by patient and phase by phase."""

import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.factories import EnrollmentFactory, EntryFactory, PhysicianFactory, builtin_arm

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
