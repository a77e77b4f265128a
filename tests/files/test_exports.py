"""export_entries, export_summaries and the coordinators' downloads."""

import csv
import datetime as dt
import io
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from diary.audit.models import AuditEvent
from diary.files.exports import entry_rows
from diary.trial.blinding import BLINDED_FILE
from diary.trial.models import Enrollment, Protocol
from tests.factories import (
    CoordinatorFactory,
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    builtin_arm,
)

pytestmark = pytest.mark.django_db

START = dt.date(2026, 1, 1)  # ldn-fm-2013: baseline Jan 1-14, then treatment period 1
AS_OF = "2026-01-20"


def enroll(code="A", **kwargs):
    return EnrollmentFactory(arm=builtin_arm("ldn-fm-2013", code), start_date=START, **kwargs)


@pytest.fixture
def enrollment():
    enrollment = enroll(study_id="FM-001", timezone="America/New_York")
    EntryFactory(enrollment=enrollment, date=dt.date(2026, 1, 2), pain=6, vivid_dreams=True)
    EntryFactory(
        enrollment=enrollment,
        date=dt.date(2026, 1, 16),
        pain=3,
        dose_taken=True,
        tolerability=95,
        notes='Felt "better", slept well',
    )
    EntryFactory(
        enrollment=enrollment, date=dt.date(2026, 1, 17), pain=9, voided=True, void_reason="dup"
    )
    return enrollment


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text)))


# export_entries --------------------------------------------------------------------


def test_export_entries_writes_one_row_per_entry_with_the_columns_of_domain(enrollment):
    rows = read_csv(run("export_entries"))
    assert list(rows[0]) == [
        "study_id", "date", "phase_order", "phase", "pain", "fatigue", "sleep_quality",
        "vivid_dreams", "headache", "dose_taken", "tolerability", "notes", "source", "late",
        "voided", "timezone", "created_at", "updated_at", "answered_at", "received_at",
            "synced_late", "locked_at",
    ]  # fmt: skip
    assert [(r["study_id"], r["date"], r["pain"]) for r in rows] == [
        ("FM-001", "2026-01-02", "6"),
        ("FM-001", "2026-01-16", "3"),
        ("FM-001", "2026-01-17", "9"),
    ]
    first, second, voided = rows
    assert (first["phase_order"], first["phase"]) == ("1", "Baseline")
    assert (first["vivid_dreams"], first["dose_taken"], first["tolerability"]) == ("yes", "", "")
    assert (second["dose_taken"], second["tolerability"]) == ("yes", "95")
    assert second["notes"] == 'Felt "better", slept well'
    assert (voided["voided"], voided["late"], voided["source"]) == ("yes", "no", "patient")
    assert first["timezone"] == "America/New_York"
    created = dt.datetime.fromisoformat(first["created_at"])
    assert created.utcoffset() in (dt.timedelta(hours=-5), dt.timedelta(hours=-4))


def test_export_entries_is_blinded_until_unblinded_and_unblinding_is_audited(enrollment):
    rows = read_csv(run("export_entries"))
    assert (rows[1]["phase_order"], rows[1]["phase"]) == ("2", "Treatment")
    assert not AuditEvent.objects.exists()
    with pytest.raises(CommandError, match="An unblinded file needs a reason"):
        run("export_entries", "--unblinded")
    with pytest.raises(CommandError, match="An unblinded file needs a reason"):
        run("export_entries", "--unblinded", "--reason", "  ")
    assert not AuditEvent.objects.exists()
    rows = read_csv(run("export_entries", "--unblinded", "--reason", "Final analysis"))
    assert (rows[1]["phase_order"], rows[1]["phase"]) == ("2", "LDN")
    event = AuditEvent.objects.get()
    assert (event.action, event.reason) == ("unblinded_export", "Final analysis")
    assert event.actor_name.startswith("shell:")


def test_an_unblinded_file_is_named_so(enrollment, tmp_path):
    err = StringIO()
    call_command(
        "export_entries",
        "--unblinded",
        "--reason",
        "DSMB",
        "--out",
        str(tmp_path / "entries.csv"),
        stderr=err,
    )
    assert [p.name for p in tmp_path.iterdir()] == ["entries-UNBLINDED.csv"]
    assert "entries-UNBLINDED.csv" in err.getvalue()
    call_command(
        "export_summaries",
        "--unblinded",
        "--reason",
        "DSMB",
        "--out",
        str(tmp_path / "summaries-UNBLINDED.json"),
        stderr=StringIO(),
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "entries-UNBLINDED.csv",
        "summaries-UNBLINDED.json",
    ]
    assert json.loads((tmp_path / "summaries-UNBLINDED.json").read_text())["protocols"]


def test_export_entries_filters_by_protocol_and_writes_a_file(enrollment, tmp_path):
    pilot = EnrollmentFactory(arm=builtin_arm("ldn-fm-2009", "P"), start_date=START)
    EntryFactory(enrollment=pilot, date=dt.date(2026, 1, 3))
    out = tmp_path / "entries.csv"
    call_command(
        "export_entries", "--protocol", "ldn-fm-2009", "--out", str(out), stderr=StringIO()
    )
    rows = read_csv(out.read_text())
    assert [r["study_id"] for r in rows] == [pilot.study_id]


def test_export_entries_refuses_an_unknown_protocol(enrollment):
    with pytest.raises(CommandError, match='No protocol "nope"'):
        run("export_entries", "--protocol", "nope")


def test_entry_export_streams_in_three_queries_for_any_number_of_rows(
    enrollment, django_assert_num_queries
):
    rows = entry_rows(Enrollment.objects.all(), BLINDED_FILE)
    assert next(rows)[0] == "study_id"  # a generator: nothing is read up front
    for n in range(18, 30):
        EntryFactory(enrollment=enrollment, date=dt.date(2026, 1, n))
    # enrollments, protocols with their phases, the entries
    with django_assert_num_queries(3):
        assert len(list(entry_rows(Enrollment.objects.all(), BLINDED_FILE))) == 1 + 15


# export_summaries ------------------------------------------------------------------


def test_export_summaries_json_has_the_shape_of_domain(enrollment):
    data = json.loads(run("export_summaries", "--format", "json", "--as-of", AS_OF))
    assert data["as_of"] == AS_OF
    (protocol,) = data["protocols"]
    assert (protocol["slug"], protocol["blinding"], protocol["unblinded"]) == (
        "ldn-fm-2013",
        "double",
        False,
    )
    (patient,) = protocol["patients"]
    assert patient == {
        "study_id": "FM-001",
        "arm": None,
        "status": "active",
        "physician": enrollment.physician.username,
        "locked_at": None,
        "phases": patient["phases"],
    }
    baseline, treatment, followup = patient["phases"]
    assert baseline["kind"] == "baseline" and baseline["label"] == "Baseline"
    assert (treatment["order"], treatment["kind"], treatment["label"]) == (2, None, "Treatment")
    assert (baseline["start"], baseline["end"]) == ("2026-01-01", "2026-01-14")
    assert (treatment["start"], treatment["end"]) == ("2026-01-15", "2026-05-06")
    assert baseline["elapsed_days"] == 14 and baseline["entries"] == 1
    assert baseline["compliance_pct"] == pytest.approx(7.1429)
    # the voided day is out
    assert treatment["elapsed_days"] == 6 and treatment["entries"] == 1
    assert treatment["pain_reduction_pct"] == pytest.approx(50.0)
    for name in ("pain_sd", "pain_endpoint", "tolerability_mean", "late_entries"):
        assert name in treatment
    assert [c["label"] for c in protocol["cohort"]] == ["Baseline", "Treatment", "Follow-up"]
    assert protocol["cohort"][1]["kind"] is None
    assert "responders_30_pct" in protocol["cohort"][1]
    assert protocol["ldn_vs_placebo"] is None


def test_export_summaries_unblinded_shows_kinds_and_is_audited(enrollment):
    data = json.loads(
        run("export_summaries", "--as-of", AS_OF, "--unblinded", "--reason", "Analysis")
    )
    (protocol,) = data["protocols"]
    assert protocol["unblinded"] is True
    assert protocol["patients"][0]["arm"] == "A"
    assert protocol["patients"][0]["phases"][1]["kind"] == "ldn"
    assert [c["kind"] for c in protocol["cohort"]] == ["baseline", "ldn", "placebo", "followup"]
    assert protocol["ldn_vs_placebo"] == {
        "patients": 0,
        "pain_mean_ldn": None,
        "pain_mean_placebo": None,
        "relative_reduction_pct": None,
        "pressure_threshold_change_ldn": None,
        "pressure_threshold_change_placebo": None,
        "pressure_threshold_patients": 0,
        "heat_threshold_change_ldn": None,
        "heat_threshold_change_placebo": None,
        "heat_threshold_patients": 0,
    }
    event = AuditEvent.objects.get()
    assert (event.details["export"], event.reason) == ("summaries", "Analysis")


def test_export_summaries_csv_shows_one_decimal(enrollment):
    rows = read_csv(run("export_summaries", "--format", "csv", "--as-of", AS_OF))
    patient_rows = [r for r in rows if r["section"] == "patient"]
    cohort_rows = [r for r in rows if r["section"] == "cohort"]
    assert len(patient_rows) == 3 and len(cohort_rows) == 3
    assert patient_rows[0]["compliance_pct"] == "7.1"
    assert patient_rows[0]["low_compliance"] == "yes"
    assert patient_rows[1]["label"] == "Treatment"
    assert patient_rows[1]["kind"] == ""
    assert "LDN" not in "".join(r["label"] for r in rows)


def test_export_summaries_as_of_must_be_a_date():
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        run("export_summaries", "--as-of", "20/01/2026")


def test_export_summaries_uses_the_same_queries_for_2_and_20_patients(
    django_assert_num_queries,
):
    def add_patients(count):
        for _ in range(count):
            patient = enroll(code="B")
            EntryFactory(enrollment=patient, date=dt.date(2026, 1, 5))

    add_patients(2)
    # enrollments, protocols with their phases, the patients' figures (the cohort is
    # worked out from them); the access log (the count of enrollments, the row)
    with django_assert_num_queries(5):
        run("export_summaries", "--as-of", AS_OF)
    add_patients(18)
    with django_assert_num_queries(5):
        data = json.loads(run("export_summaries", "--as-of", AS_OF))
    assert len(data["protocols"][0]["patients"]) == 20


# Downloads in the web app -----------------------------------------------------------


def test_coordinator_downloads_entries_csv(client, enrollment):
    client.force_login(CoordinatorFactory())
    response = client.get("/exports/", {"what": "entries.csv", "protocol": "ldn-fm-2013"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="entries-ldn-fm-2013-' in response["Content-Disposition"]
    rows = read_csv(b"".join(response.streaming_content).decode())
    assert len(rows) == 3
    assert rows[1]["phase"] == "Treatment"
    assert "UNBLINDED" not in response["Content-Disposition"]


def test_allocation_access_downloads_unblinded_files_by_post_with_a_reason(client, enrollment):
    statistician = CoordinatorFactory(allocation_access=True)
    client.force_login(statistician)
    choice = {"what": "summaries.json", "as_of": AS_OF}
    response = client.post("/exports/", {**choice, "reason": " "})
    assert response.status_code == 400
    assert "Say why you need an unblinded file" in response.content.decode()
    assert not AuditEvent.objects.exists()
    response = client.post("/exports/", {**choice, "reason": "Interim analysis for the DSMB"})
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('-2026-01-20-UNBLINDED.json"')
    data = json.loads(b"".join(response.streaming_content))
    assert data["protocols"][0]["patients"][0]["arm"] == "A"
    event = AuditEvent.objects.get()
    assert (event.actor, event.reason) == (statistician, "Interim analysis for the DSMB")
    response = client.post("/exports/", {"what": "entries.csv", "reason": "Final"})
    assert response["Content-Disposition"].endswith('-UNBLINDED.csv"')
    assert ",LDN," in b"".join(response.streaming_content).decode()


def test_a_link_never_unblinds(client, enrollment):
    for user in (CoordinatorFactory(), CoordinatorFactory(allocation_access=True)):
        client.force_login(user)
        for value in ("on", "1", "0", "true"):
            response = client.get(
                "/exports/", {"what": "summaries.json", "as_of": AS_OF, "unblinded": value}
            )
            assert response.status_code == 400
            assert "A link never unblinds" in response.content.decode()
        response = client.get("/exports/", {"what": "summaries.json", "as_of": AS_OF})
        assert (
            json.loads(b"".join(response.streaming_content))["protocols"][0]["patients"][0]["arm"]
            is None
        )
    assert not AuditEvent.objects.exists()


def test_unblinded_files_are_refused_without_allocation_access(client, enrollment):
    client.force_login(CoordinatorFactory())
    page = client.get("/exports/").content.decode()
    assert "Unblinded file" not in page
    response = client.post("/exports/", {"what": "entries.csv", "reason": "Curious"})
    assert response.status_code == 403
    assert not AuditEvent.objects.exists()
    client.force_login(CoordinatorFactory(allocation_access=True))
    assert "Unblinded file" in client.get("/exports/").content.decode()


def test_download_form_reports_bad_input(client):
    client.force_login(CoordinatorFactory())
    response = client.get("/exports/", {"what": "secrets.txt", "as_of": "yesterday"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Select a valid choice" in page
    assert "Enter the as-of date as YYYY-MM-DD." in page


def test_only_coordinators_may_download(client, enrollment):
    assert client.get("/exports/")["Location"].startswith("/accounts/login/")
    for user in (PatientFactory(), PhysicianFactory(), enrollment.physician):
        client.force_login(user)
        assert client.get("/exports/", {"what": "entries.csv"}).status_code == 404


def test_builtin_protocols_are_listed_for_download(client):
    client.force_login(CoordinatorFactory())
    page = client.get("/exports/").content.decode()
    for protocol in Protocol.objects.all():
        assert protocol.slug in page
