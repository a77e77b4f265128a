"""export_fhir: the diary as one FHIR R4 Bundle (docs/fhir.md)."""

import datetime as dt
import json
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command

# fhir.resources 8 defaults to R5; R4B (FHIR 4.3.0) is its model closest to R4, and the
# resources used here (Bundle, Questionnaire, Patient, QuestionnaireResponse and
# Observation) are the same in R4 and R4B.
from fhir.resources.R4B.bundle import Bundle

from diary.audit.models import AuditEvent, DataAccess
from diary.entries.models import DIARY_ITEMS, DiaryEntry
from diary.files import fhir
from diary.files.fhir import bundle_chunks
from diary.trial.blinding import BLINDED_FILE, UNBLINDED_FILE
from diary.trial.models import Enrollment
from diary.visits.measures import BY_NAME
from tests.factories import (
    EnrollmentFactory,
    EntryFactory,
    PatientFactory,
    PhysicianFactory,
    VisitFactory,
)
from tests.factories import builtin_arm as arm_of

pytestmark = pytest.mark.django_db

START = dt.date(2026, 1, 1)  # ldn-fm-2013: baseline Jan 1-14, treatment from Jan 15
LA = ZoneInfo("America/Los_Angeles")
# The moment the study fixture starts at (frozen_clock).
NOW = dt.datetime(2026, 1, 2, 20, 30, tzinfo=LA)
EXPORTED_AT = dt.datetime(2026, 7, 2, 12, 0, tzinfo=dt.UTC)

PEOPLE = {
    # (first name, last name, e-mail): none of it may reach the file.
    "patient_a": ("Alicia", "Zamora-Quintero", "alicia.zq@mailbox.example"),
    "patient_b": ("Bernadette", "Okonkwo", "b.okonkwo@mailbox.example"),
    "patient_c": ("Carmensita", "Villalobos", "carmensita@mailbox.example"),
    "physician": ("Hildegard", "Achterberg", "dr.achterberg@clinic.example"),
}


def person(factory, key):
    first, last, email = PEOPLE[key]
    return factory(first_name=first, last_name=last, email=email, username=f"{first.lower()}1")


@pytest.fixture
def study(frozen_clock):
    """FM-001 (arm A) and FM-002 (arm B) of ldn-fm-2013 in Los Angeles, FM-003 of the
    single-blind pilot in Madrid; the entries' first saves in winter and in summer."""
    physician = person(PhysicianFactory, "physician")

    def enroll(study_id, protocol, code, patient, zone="America/Los_Angeles"):
        return EnrollmentFactory(
            study_id=study_id,
            arm=arm_of(protocol, code),
            start_date=START,
            timezone=zone,
            patient=person(PatientFactory, patient),
            physician=physician,
        )

    a = enroll("FM-001", "ldn-fm-2013", "A", "patient_a")
    b = enroll("FM-002", "ldn-fm-2013", "B", "patient_b")
    pilot = enroll("FM-003", "ldn-fm-2009", "P", "patient_c", zone="Europe/Madrid")

    EntryFactory(enrollment=a, date=dt.date(2026, 1, 2), pain=6, vivid_dreams=True)  # Jan 2 20:30
    EntryFactory(enrollment=pilot, date=dt.date(2026, 1, 2), pain=4)
    frozen_clock.move_to(dt.datetime(2026, 1, 16, 21, 5, 9, tzinfo=LA))
    EntryFactory(
        enrollment=a,
        date=dt.date(2026, 1, 16),
        pain=3,
        headache=True,
        dose_taken=True,
        tolerability=95,
        notes="Mareo leve — dormí bien",
    )
    frozen_clock.move_to(dt.datetime(2026, 1, 17, 22, 0, tzinfo=LA))
    EntryFactory(
        enrollment=a,
        date=dt.date(2026, 1, 17),
        pain=9,
        dose_taken=True,
        tolerability=40,
        voided=True,
        void_reason="Entered twice",
    )
    # Imported in summer (Pacific daylight time) for a winter day; 0 and "no" are answers.
    frozen_clock.move_to(dt.datetime(2026, 7, 1, 9, 15, tzinfo=LA))
    EntryFactory(
        enrollment=b,
        date=dt.date(2026, 1, 16),
        pain=0,
        dose_taken=False,
        tolerability=0,
        source="import",
    )
    frozen_clock.move_to(EXPORTED_AT)
    return {"a": a, "b": b, "pilot": pilot}


def export(*args, **kwargs):
    out = StringIO()
    call_command("export_fhir", *args, stdout=out, stderr=StringIO(), **kwargs)
    return out.getvalue()


def resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def extension(resource, url):
    values = [x for x in resource.get("extension", []) if x["url"] == url]
    assert len(values) <= 1
    return values[0] if values else None


def responses_by_study_id_and_day(bundle):
    study_ids = {
        e["fullUrl"]: e["resource"]["identifier"][0]["value"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Patient"
    }
    return {
        (
            study_ids[r["subject"]["reference"]],
            extension(r, fhir.DIARY_DAY_URL)["valueDate"],
        ): r
        for r in resources(bundle, "QuestionnaireResponse")
    }


# The Bundle --------------------------------------------------------------------------


def test_the_bundle_is_valid_fhir(study):
    for args in ((), ("--unblinded", "--reason", "Final analysis")):
        text = export(*args)
        bundle = Bundle.model_validate_json(text)
        assert bundle.type == "collection"
        kinds = [type(e.resource).__name__ for e in bundle.entry]
        assert kinds == ["Questionnaire"] + ["Patient"] * 3 + ["QuestionnaireResponse"] * 5
        # Every reference points into the Bundle; every fullUrl is unique.
        data = json.loads(text)
        full_urls = [e["fullUrl"] for e in data["entry"]]
        assert len(set(full_urls)) == len(full_urls)
        for entry in data["entry"]:
            assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
        for response in resources(data, "QuestionnaireResponse"):
            assert response["subject"]["reference"] in full_urls
            assert response["questionnaire"] == resources(data, "Questionnaire")[0]["url"]
            assert response["status"] in ("completed", "entered-in-error")


def test_one_questionnaire_a_patient_per_enrollment_a_response_per_entry(study):
    bundle = json.loads(export())
    assert (bundle["resourceType"], bundle["type"]) == ("Bundle", "collection")
    assert bundle["timestamp"] == "2026-07-02T12:00:00+00:00"
    assert len(resources(bundle, "Questionnaire")) == 1
    assert len(resources(bundle, "Patient")) == Enrollment.objects.count() == 3
    assert len(resources(bundle, "QuestionnaireResponse")) == DiaryEntry.objects.count() == 5
    assert [p["identifier"] for p in resources(bundle, "Patient")] == [
        [{"system": fhir.STUDY_ID_SYSTEM, "value": study_id}]
        for study_id in ("FM-001", "FM-002", "FM-003")
    ]
    assert list(responses_by_study_id_and_day(bundle)) == [
        ("FM-001", "2026-01-02"),
        ("FM-001", "2026-01-16"),
        ("FM-001", "2026-01-17"),
        ("FM-002", "2026-01-16"),
        ("FM-003", "2026-01-02"),
    ]


def test_ids_are_the_same_in_every_export(study):
    first, second = json.loads(export()), json.loads(export("--unblinded", "--reason", "DSMB"))
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


def test_an_empty_study_is_a_bundle_with_the_questionnaire_only():
    bundle = json.loads(export())
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Questionnaire"]


def test_the_questionnaire_asks_the_diary_items_in_order():
    (questionnaire,) = resources(json.loads(export()), "Questionnaire")
    assert questionnaire["status"] == "active"
    assert questionnaire["url"] == fhir.QUESTIONNAIRE_URL
    assert questionnaire["url"].startswith("https://")
    assert questionnaire["name"] and questionnaire["title"]
    items = {item["linkId"]: item for item in questionnaire["item"]}
    assert list(items) == DIARY_ITEMS
    assert items["pain"]["code"] == [
        {
            "system": "http://loinc.org",
            "code": "72514-3",
            "display": "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
        }
    ]
    assert items["pain"]["text"] == "Your average pain over the last 24 hours"
    assert items["headache"]["text"] == "Did you have a headache today?"
    yes_no = [
        {"valueCoding": {"system": fhir.YES_NO_SYSTEM, "code": "Y", "display": "Yes"}},
        {"valueCoding": {"system": fhir.YES_NO_SYSTEM, "code": "N", "display": "No"}},
    ]
    for name in ("vivid_dreams", "headache", "dose_taken"):
        assert (items[name]["type"], items[name]["answerOption"]) == ("choice", yes_no)
    for name, high in (("pain", 10), ("fatigue", 10), ("sleep_quality", 10), ("tolerability", 100)):
        assert items[name]["type"] == "integer"
        assert [x["valueInteger"] for x in items[name]["extension"]] == [0, high]
    assert (items["notes"]["type"], items["notes"]["maxLength"]) == ("text", 1000)
    assert [name for name in DIARY_ITEMS if items[name]["required"]] == [
        "pain",
        "fatigue",
        "sleep_quality",
        "vivid_dreams",
        "headache",
    ]


def test_responses_answer_in_questionnaire_order_and_leave_out_unanswered_items(study):
    by_day = responses_by_study_id_and_day(json.loads(export()))
    baseline = by_day["FM-001", "2026-01-02"]
    assert [item["linkId"] for item in baseline["item"]] == DIARY_ITEMS[:5]
    answers = {item["linkId"]: item["answer"] for item in baseline["item"]}
    assert answers["pain"] == [{"valueInteger": 6}]
    assert answers["vivid_dreams"] == [{"valueCoding": fhir.YES}]
    assert answers["headache"] == [{"valueCoding": fhir.NO}]
    treatment = by_day["FM-001", "2026-01-16"]
    assert [item["linkId"] for item in treatment["item"]] == DIARY_ITEMS
    answers = {item["linkId"]: item["answer"] for item in treatment["item"]}
    assert answers["dose_taken"] == [{"valueCoding": fhir.YES}]
    assert answers["tolerability"] == [{"valueInteger": 95}]
    assert answers["notes"] == [{"valueString": "Mareo leve — dormí bien"}]
    zeros = {item["linkId"]: item["answer"] for item in by_day["FM-002", "2026-01-16"]["item"]}
    assert zeros["pain"] == zeros["tolerability"] == [{"valueInteger": 0}]
    assert zeros["dose_taken"] == [{"valueCoding": fhir.NO}]
    assert "notes" not in zeros


def test_voided_entries_are_entered_in_error(study):
    by_day = responses_by_study_id_and_day(json.loads(export()))
    assert {key: r["status"] for key, r in by_day.items()} == {
        ("FM-001", "2026-01-02"): "completed",
        ("FM-001", "2026-01-16"): "completed",
        ("FM-001", "2026-01-17"): "entered-in-error",
        ("FM-002", "2026-01-16"): "completed",
        ("FM-003", "2026-01-02"): "completed",
    }
    # Its answers are kept, as in the CSV.
    assert by_day["FM-001", "2026-01-17"]["item"][0]["answer"] == [{"valueInteger": 9}]


def test_authored_is_the_first_save_with_the_offset_of_the_patients_zone(study):
    by_day = responses_by_study_id_and_day(json.loads(export()))
    authored = {key: r["authored"] for key, r in by_day.items()}
    assert authored == {
        ("FM-001", "2026-01-02"): "2026-01-02T20:30:00-08:00",
        ("FM-001", "2026-01-16"): "2026-01-16T21:05:09-08:00",
        ("FM-001", "2026-01-17"): "2026-01-17T22:00:00-08:00",
        ("FM-002", "2026-01-16"): "2026-07-01T09:15:00-07:00",  # daylight saving time
        ("FM-003", "2026-01-02"): "2026-01-03T05:30:00+01:00",  # Madrid
    }
    for (study_id, day), moment in authored.items():
        entry = DiaryEntry.objects.get(enrollment__study_id=study_id, date=day)
        assert dt.datetime.fromisoformat(moment) == entry.created_at


def test_the_diary_day_and_phase_are_extensions(study):
    by_day = responses_by_study_id_and_day(json.loads(export()))
    response = by_day["FM-001", "2026-01-16"]
    assert extension(response, fhir.DIARY_DAY_URL) == {
        "url": "https://pain-diary.example/fhir/StructureDefinition/diary-day",
        "valueDate": "2026-01-16",
    }
    assert extension(response, fhir.DIARY_PHASE_URL) == {
        "url": "https://pain-diary.example/fhir/StructureDefinition/diary-phase",
        "valueString": "Treatment",
    }
    phases = {key: extension(r, fhir.DIARY_PHASE_URL)["valueString"] for key, r in by_day.items()}
    assert phases[("FM-001", "2026-01-02")] == "Baseline"


# Privacy and blinding -----------------------------------------------------------------


def test_patients_carry_the_study_id_and_nothing_about_the_person(study):
    for args in ((), ("--unblinded", "--reason", "Final analysis")):
        text = export(*args)
        for first, last, email in PEOPLE.values():
            for word in (first, last, email, email.split("@")[0], first.lower() + "1"):
                assert word not in text
        assert "@" not in text
        for patient in resources(json.loads(text), "Patient"):
            assert set(patient) <= {"resourceType", "id", "identifier", "extension"}
            assert len(patient["identifier"]) == 1


def test_the_blinded_file_names_no_arm_and_no_treatment_of_a_double_blind_protocol(study):
    text = export("--protocol", "ldn-fm-2013")
    for word in ("LDN", "Placebo", "placebo", "naltrexone", "ldn", fhir.STUDY_ARM_URL):
        assert word not in text
    bundle = json.loads(text)
    assert all("extension" not in p for p in resources(bundle, "Patient"))
    phases = {
        extension(r, fhir.DIARY_PHASE_URL)["valueString"]
        for r in resources(bundle, "QuestionnaireResponse")
    }
    assert phases == {"Baseline", "Treatment"}
    # As in the other files, a single-blind protocol blinds only the patient: the
    # pilot's arm shows in a blinded file, ldn-fm-2013's do not.
    arms = {
        p["identifier"][0]["value"]: (extension(p, fhir.STUDY_ARM_URL) or {}).get("valueString")
        for p in resources(json.loads(export()), "Patient")
    }
    assert arms == {"FM-001": None, "FM-002": None, "FM-003": "P"}
    assert not AuditEvent.objects.exists()


def test_two_arms_with_the_same_days_look_the_same_in_the_blinded_file(frozen_clock):
    """docs/domain.md: the same start day and the same entries in different arms look the
    same to a blinded reader in every blinded file."""
    a, b = (EnrollmentFactory(arm=arm_of("ldn-fm-2013", code), start_date=START) for code in "AB")
    for enrollment in (a, b):
        for day in (2, 20, 50, 140):  # baseline, both treatments, follow-up
            treatment = 15 <= day <= 126
            EntryFactory(
                enrollment=enrollment,
                date=START + dt.timedelta(days=day - 1),
                dose_taken=True if treatment else None,
                tolerability=80 if treatment else None,
            )

    def anonymous(study_id, bundle):
        urls = {
            e["fullUrl"]
            for e in bundle["entry"]
            if e["resource"].get("identifier")
            == [{"system": fhir.STUDY_ID_SYSTEM, "value": study_id}]
        }
        mine = [
            r
            for r in resources(bundle, "QuestionnaireResponse")
            if r["subject"]["reference"] in urls
        ]
        return [{k: v for k, v in r.items() if k not in ("id", "subject")} for r in mine]

    blinded = json.loads("".join(bundle_chunks(Enrollment.objects.all(), BLINDED_FILE)))
    assert anonymous(a.study_id, blinded) == anonymous(b.study_id, blinded)
    assert len(anonymous(a.study_id, blinded)) == 4
    unblinded = json.loads("".join(bundle_chunks(Enrollment.objects.all(), UNBLINDED_FILE)))
    assert anonymous(a.study_id, unblinded) != anonymous(b.study_id, unblinded)


def test_the_unblinded_file_names_arms_and_phases_and_is_audited(study, tmp_path):
    with pytest.raises(CommandError, match="An unblinded file needs a reason"):
        export("--unblinded")
    with pytest.raises(CommandError, match="--reason goes with --unblinded"):
        export("--reason", "Curious")
    assert not AuditEvent.objects.exists()
    err = StringIO()
    call_command(
        "export_fhir",
        "--unblinded",
        "--reason",
        "Final analysis",
        "--out",
        str(tmp_path / "diary.json"),
        stderr=err,
    )
    assert [p.name for p in tmp_path.iterdir()] == ["diary-UNBLINDED.json"]
    assert "diary-UNBLINDED.json" in err.getvalue()
    bundle = json.loads((tmp_path / "diary-UNBLINDED.json").read_text(encoding="utf-8"))
    arms = {
        p["identifier"][0]["value"]: extension(p, fhir.STUDY_ARM_URL)["valueString"]
        for p in resources(bundle, "Patient")
    }
    assert arms == {"FM-001": "A", "FM-002": "B", "FM-003": "P"}
    by_day = responses_by_study_id_and_day(bundle)
    phases = {key: extension(r, fhir.DIARY_PHASE_URL)["valueString"] for key, r in by_day.items()}
    assert phases == {
        ("FM-001", "2026-01-02"): "Baseline",
        ("FM-001", "2026-01-16"): "LDN",
        ("FM-001", "2026-01-17"): "LDN",
        ("FM-002", "2026-01-16"): "Placebo",
        ("FM-003", "2026-01-02"): "Baseline",
    }
    event = AuditEvent.objects.get()
    assert (event.action, event.reason) == ("unblinded_export", "Final analysis")
    assert event.details["export"] == "fhir"
    assert event.actor_name.startswith("shell:")


def test_a_blinded_file_keeps_its_name_and_every_file_is_in_the_access_log(study, tmp_path):
    call_command("export_fhir", "--out", str(tmp_path / "diary.json"), stderr=StringIO())
    assert [p.name for p in tmp_path.iterdir()] == ["diary.json"]
    assert json.loads((tmp_path / "diary.json").read_text(encoding="utf-8"))["entry"]
    export("--unblinded", "--reason", "DSMB")
    assert sorted(DataAccess.objects.values_list("what", "scope")) == [
        ("fhir.json", "all protocols, 3 enrollments"),
        ("fhir.json (unblinded)", "all protocols, 3 enrollments"),
    ]


def test_protocol_filters_the_patients_and_their_responses(study):
    bundle = json.loads(export("--protocol", "ldn-fm-2009"))
    assert [p["identifier"][0]["value"] for p in resources(bundle, "Patient")] == ["FM-003"]
    assert list(responses_by_study_id_and_day(bundle)) == [("FM-003", "2026-01-02")]
    assert len(resources(bundle, "Questionnaire")) == 1
    with pytest.raises(CommandError, match='No protocol "nope"'):
        export("--protocol", "nope")


# Streaming ------------------------------------------------------------------------


def test_the_bundle_streams_in_four_queries_for_any_number_of_entries(
    django_assert_num_queries,
):
    enrollment = EnrollmentFactory(arm=arm_of("ldn-fm-2013", "A"), start_date=START)
    EnrollmentFactory(arm=arm_of("ldn-fm-2009", "P"), start_date=START)

    def add_entries(days):
        for day in days:
            EntryFactory(enrollment=enrollment, date=START + dt.timedelta(days=day))

    chunks = bundle_chunks(Enrollment.objects.all(), BLINDED_FILE)
    assert next(chunks).startswith('{"resourceType": "Bundle"')  # nothing read up front
    add_entries(range(2))
    for reader in (BLINDED_FILE, UNBLINDED_FILE):
        # enrollments, protocols with their phases, the entries, the visits
        with django_assert_num_queries(4):
            small = list(bundle_chunks(Enrollment.objects.all(), reader))
    add_entries(range(2, 20))
    for reader in (BLINDED_FILE, UNBLINDED_FILE):
        with django_assert_num_queries(4):
            large = list(bundle_chunks(Enrollment.objects.all(), reader))
    assert len(large) == len(small) + 18  # one chunk per resource
    assert len(resources(json.loads("".join(large)), "QuestionnaireResponse")) == 20


# Clinic visits as Observations ------------------------------------------------------


def add_visits(enrollment):
    """A pre-start visit with ESR only, a baseline visit with every measure, a voided
    one, and one in treatment (day 40: LDN in arm A, placebo in arm B)."""
    VisitFactory(
        enrollment=enrollment,
        visit_date=dt.date(2025, 12, 20),
        esr=31,
        pressure_threshold=None,
        heat_threshold=None,
    )
    VisitFactory(enrollment=enrollment, visit_date=START, esr=0)
    VisitFactory(
        enrollment=enrollment,
        visit_date=dt.date(2026, 1, 10),
        esr=99,
        heat_threshold=None,
        voided=True,
        void_reason="Wrong patient",
    )
    VisitFactory(
        enrollment=enrollment,
        visit_date=dt.date(2026, 2, 9),
        esr=None,
        pressure_threshold=Decimal("4.2"),
        heat_threshold=Decimal("45.5"),
    )


@pytest.fixture
def clinic(frozen_clock):
    enrollment = EnrollmentFactory(
        study_id="FM-010",
        arm=arm_of("ldn-fm-2013", "A"),
        start_date=START,
        timezone="America/Los_Angeles",
    )
    frozen_clock.move_to(dt.datetime(2026, 2, 9, 10, 0, tzinfo=LA))
    add_visits(enrollment)
    frozen_clock.move_to(EXPORTED_AT)
    return enrollment


def observations(bundle):
    return resources(bundle, "Observation")


def test_every_measure_taken_is_a_valid_observation_and_blank_ones_are_left_out(clinic):
    for args in ((), ("--unblinded", "--reason", "Final analysis")):
        text = export(*args)
        bundle = Bundle.model_validate_json(text)
        kinds = [type(e.resource).__name__ for e in bundle.entry]
        # 1 + 3 + 2 + 2 measures taken (a blank one is not done, and not an Observation)
        assert kinds == ["Questionnaire", "Patient"] + ["Observation"] * 8
        data = json.loads(text)
        patient_url = data["entry"][1]["fullUrl"]
        full_urls = [e["fullUrl"] for e in data["entry"]]
        assert len(set(full_urls)) == len(full_urls)
        for entry in data["entry"]:
            assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
        for resource in observations(data):
            assert resource["subject"] == {"reference": patient_url}
            assert resource["status"] in ("final", "entered-in-error")
            for key in ("code", "category", "effectiveDateTime", "issued", "valueQuantity"):
                assert key in resource
    measures = [
        (o["effectiveDateTime"], o["code"]["coding"][-1]["code"], o["valueQuantity"]["value"])
        for o in observations(json.loads(export()))
    ]
    assert measures == [
        ("2025-12-20", "esr", 31),
        ("2026-01-01", "esr", 0),
        ("2026-01-01", "pressure_threshold", 3.5),
        ("2026-01-01", "heat_threshold", 44.0),
        ("2026-01-10", "esr", 99),
        ("2026-01-10", "pressure_threshold", 3.5),
        ("2026-02-09", "pressure_threshold", 4.2),
        ("2026-02-09", "heat_threshold", 45.5),
    ]


def test_esr_is_coded_loinc_and_a_laboratory_test_in_ucum(clinic):
    esr = observations(json.loads(export()))[0]
    assert esr["code"]["coding"][0] == {
        "system": "http://loinc.org",
        "code": "4537-7",
        "display": "Erythrocyte sedimentation rate by Westergren method",
    }
    assert esr["code"]["coding"][1]["system"] == fhir.CLINIC_MEASURE_SYSTEM
    assert esr["category"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "laboratory",
                    "display": "Laboratory",
                }
            ]
        }
    ]
    assert esr["valueQuantity"] == {
        "value": 31,
        "unit": "mm/h",
        "system": "http://unitsofmeasure.org",
        "code": "mm/h",
    }


def test_thresholds_are_exams_with_the_diarys_own_code_and_ucum_units(clinic):
    by_code = {
        o["code"]["coding"][0]["code"]: o
        for o in observations(json.loads(export()))
        if o["effectiveDateTime"] == "2026-02-09"
    }
    pressure, heat = by_code["pressure_threshold"], by_code["heat_threshold"]
    for resource, name in ((pressure, "pressure_threshold"), (heat, "heat_threshold")):
        assert resource["code"]["coding"] == [
            {
                "system": f"{fhir.BASE_URL}/CodeSystem/clinic-measure",
                "code": name,
                "display": BY_NAME[name].label,
            }
        ]
        assert resource["code"]["text"] == BY_NAME[name].description
        assert resource["category"][0]["coding"][0]["code"] == "exam"
    assert pressure["valueQuantity"] == {
        "value": 4.2,
        "unit": "kg/cm2",
        "system": "http://unitsofmeasure.org",
        "code": "kg/cm2",
    }
    assert heat["valueQuantity"]["code"] == "Cel"
    assert heat["valueQuantity"]["unit"] == "°C"


def test_a_voided_visits_observations_are_entered_in_error(clinic):
    statuses = {(o["effectiveDateTime"], o["status"]) for o in observations(json.loads(export()))}
    assert statuses == {
        ("2025-12-20", "final"),
        ("2026-01-01", "final"),
        ("2026-01-10", "entered-in-error"),
        ("2026-02-09", "final"),
    }


def test_issued_is_the_first_save_with_the_offset_of_the_patients_zone(clinic):
    for resource in observations(json.loads(export())):
        assert resource["issued"] == "2026-02-09T10:00:00-08:00"


def test_observations_carry_the_phase_as_the_reader_sees_it(clinic):
    def phases(bundle):
        return [
            (o["effectiveDateTime"], extension(o, fhir.DIARY_PHASE_URL)["valueString"])
            for o in observations(bundle)
            if o["code"]["coding"][-1]["code"] == "pressure_threshold"
        ]

    blinded = phases(json.loads(export()))
    assert blinded == [
        ("2026-01-01", "Baseline"),
        ("2026-01-10", "Baseline"),
        ("2026-02-09", "Treatment"),
    ]
    pre_start = observations(json.loads(export()))[0]
    assert extension(pre_start, fhir.DIARY_PHASE_URL)["valueString"] == "Baseline"
    unblinded = phases(json.loads(export("--unblinded", "--reason", "DSMB")))
    assert unblinded[-1] == ("2026-02-09", "LDN")


def test_twins_visits_in_arms_a_and_b_look_the_same_in_the_blinded_file(frozen_clock):
    twins = [
        EnrollmentFactory(arm=arm_of("ldn-fm-2013", code), start_date=START, timezone="UTC")
        for code in "AB"
    ]
    for twin in twins:
        add_visits(twin)

    def anonymous(bundle, enrollment):
        url = next(
            e["fullUrl"]
            for e in bundle["entry"]
            if e["resource"].get("identifier")
            == [{"system": fhir.STUDY_ID_SYSTEM, "value": enrollment.study_id}]
        )
        return [
            {k: v for k, v in o.items() if k not in ("id", "subject")}
            for o in observations(bundle)
            if o["subject"]["reference"] == url
        ]

    blinded = json.loads("".join(bundle_chunks(Enrollment.objects.all(), BLINDED_FILE)))
    assert anonymous(blinded, twins[0]) == anonymous(blinded, twins[1])
    assert len(anonymous(blinded, twins[0])) == 8
    text = json.dumps(observations(blinded))
    for word in ("LDN", "Placebo", fhir.STUDY_ARM_URL):
        assert word not in text
    unblinded = json.loads("".join(bundle_chunks(Enrollment.objects.all(), UNBLINDED_FILE)))
    assert anonymous(unblinded, twins[0]) != anonymous(unblinded, twins[1])


def test_observations_stream_in_the_same_four_queries_for_2_and_20_patients(
    django_assert_num_queries,
):
    def add_patients(count):
        for n in range(count):
            patient = EnrollmentFactory(arm=arm_of("ldn-fm-2013", "AB"[n % 2]), start_date=START)
            VisitFactory(enrollment=patient, visit_date=START)
            EntryFactory(enrollment=patient, date=START)

    add_patients(2)
    # enrollments, protocols with their phases, the entries, the visits
    with django_assert_num_queries(4):
        small = json.loads("".join(bundle_chunks(Enrollment.objects.all(), BLINDED_FILE)))
    add_patients(18)
    with django_assert_num_queries(4):
        large = json.loads("".join(bundle_chunks(Enrollment.objects.all(), BLINDED_FILE)))
    assert (len(observations(small)), len(observations(large))) == (6, 60)
