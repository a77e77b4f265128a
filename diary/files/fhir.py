"""The diary as one FHIR R4 Bundle (docs/fhir.md): a Questionnaire for the diary items,
a Patient per enrollment (its study ID only), a QuestionnaireResponse per entry and an
Observation per measure taken at a clinic visit.

The Bundle streams: each resource is built as a dict, written with json.dumps and
yielded with the commas and brackets around it, and the entries and visits are read
from a database cursor in chunks, so memory stays flat for millions of entries. Blinding is
decided by diary.trial.blinding, as for every other file.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

from django.utils import timezone

from diary.entries import items
from diary.entries.models import DIARY_ITEMS, DiaryEntry
from diary.files.visit_exports import visit_span
from diary.trial import blinding
from diary.visits.measures import MEASURES
from diary.visits.models import Visit

# Canonical URLs of what the diary defines itself (not a server: nothing is fetched).
BASE_URL = "https://pain-diary.example/fhir"
QUESTIONNAIRE_URL = f"{BASE_URL}/Questionnaire/pain-diary"
STUDY_ID_SYSTEM = f"{BASE_URL}/NamingSystem/study-id"
DIARY_DAY_URL = f"{BASE_URL}/StructureDefinition/diary-day"
DIARY_PHASE_URL = f"{BASE_URL}/StructureDefinition/diary-phase"
STUDY_ARM_URL = f"{BASE_URL}/StructureDefinition/study-arm"

MIN_VALUE_URL = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE_URL = "http://hl7.org/fhir/StructureDefinition/maxValue"
LOINC = "http://loinc.org"
PAIN_LOINC = "72514-3"
PAIN_LOINC_DISPLAY = "Pain severity - 0-10 verbal numeric rating [Score] - Reported"
CLINIC_MEASURE_SYSTEM = f"{BASE_URL}/CodeSystem/clinic-measure"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
UCUM = "http://unitsofmeasure.org"
LOINC_DISPLAYS = {"4537-7": "Erythrocyte sedimentation rate by Westergren method"}
YES_NO_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0136"
YES = {"system": YES_NO_SYSTEM, "code": "Y", "display": "Yes"}
NO = {"system": YES_NO_SYSTEM, "code": "N", "display": "No"}

# The FHIR item type of each kind of answer (diary.entries.items).
ITEM_TYPES = {items.SCALE: "integer", items.YES_NO: "choice", items.TEXT: "text"}

# The query reads the items in the order of DIARY_ITEMS.
_ENTRY_FIELDS = ("enrollment_id", "date", *DIARY_ITEMS, "voided", "created_at")
_VISIT_FIELDS = (
    "pk",
    "enrollment_id",
    "visit_date",
    *(measure.name for measure in MEASURES),
    "voided",
    "created_at",
)


def _uuid(kind: str, key: str) -> str:
    """A stable id (a name-based UUID): the same study ID and day give the same id in
    every export."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{BASE_URL}/{kind}/{key}"))


QUESTIONNAIRE_ID = _uuid("Questionnaire", "pain-diary")


def questionnaire_item(name: str) -> dict:
    """An item as the diary asks it (diary.entries.items). Items asked only in treatment phases,
    and the optional notes, are not required."""
    kind = items.kind(name)
    item: dict = {"linkId": name}
    if name == "pain":
        item["code"] = [{"system": LOINC, "code": PAIN_LOINC, "display": PAIN_LOINC_DISPLAY}]
    item.update(text=items.question(name), type=ITEM_TYPES[kind], required=items.always_asked(name))
    if kind == items.SCALE:
        low, high = items.score_range(name)
        item["extension"] = [
            {"url": MIN_VALUE_URL, "valueInteger": low},
            {"url": MAX_VALUE_URL, "valueInteger": high},
        ]
    if kind == items.YES_NO:
        item["answerOption"] = [{"valueCoding": YES}, {"valueCoding": NO}]
    if kind == items.TEXT:
        item["maxLength"] = items.max_length(name)
    return item


def questionnaire() -> dict:
    """The diary's questions, one item per diary item in the order they are asked."""
    return {
        "resourceType": "Questionnaire",
        "id": QUESTIONNAIRE_ID,
        "url": QUESTIONNAIRE_URL,
        "name": "PainDiary",
        "title": "Daily fibromyalgia pain diary",
        "status": "active",
        "subjectType": ["Patient"],
        "item": [questionnaire_item(name) for name in DIARY_ITEMS],
    }


def patient(enrollment, reader) -> tuple[str, dict]:
    """The enrollment as a Patient: its study ID and nothing about the person; the arm
    only where `reader` may see it (diary.trial.blinding.arm_for)."""
    resource: dict = {"resourceType": "Patient", "id": _uuid("Patient", enrollment.study_id)}
    arm = blinding.arm_for(enrollment, reader)
    if arm is not None:
        resource["extension"] = [{"url": STUDY_ARM_URL, "valueString": arm}]
    resource["identifier"] = [{"system": STUDY_ID_SYSTEM, "value": enrollment.study_id}]
    return f"urn:uuid:{resource['id']}", resource


def _answer(value) -> dict:
    if isinstance(value, bool):
        return {"valueCoding": YES if value else NO}
    if isinstance(value, int):
        return {"valueInteger": value}
    return {"valueString": value}


def response(
    enrollment, patient_url: str, span, day, values: dict, voided: bool, created_at
) -> tuple[str, dict]:
    """One entry as a QuestionnaireResponse; unanswered optional items are left out."""
    resource_id = _uuid("QuestionnaireResponse", f"{enrollment.study_id}/{day.isoformat()}")
    extension = [{"url": DIARY_DAY_URL, "valueDate": day.isoformat()}]
    if span is not None:
        extension.append({"url": DIARY_PHASE_URL, "valueString": span.label})
    resource = {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id,
        "extension": extension,
        "questionnaire": QUESTIONNAIRE_URL,
        "status": "entered-in-error" if voided else "completed",
        "subject": {"reference": patient_url},
        "authored": created_at.astimezone(enrollment.zoneinfo).isoformat(timespec="seconds"),
        "item": [
            {"linkId": name, "answer": [_answer(values[name])]}
            for name in DIARY_ITEMS
            if values[name] is not None and values[name] != ""
        ],
    }
    return f"urn:uuid:{resource_id}", resource


def measure_code(measure) -> dict:
    """What a measure is: LOINC where it has a code (ESR), always the diary's own code
    (the measure's name), and its description as the text."""
    coding = []
    if measure.loinc:
        coding.append(
            {"system": LOINC, "code": measure.loinc, "display": LOINC_DISPLAYS[measure.loinc]}
        )
    coding.append({"system": CLINIC_MEASURE_SYSTEM, "code": measure.name, "display": measure.label})
    return {"coding": coding, "text": measure.description}


def measure_category(measure) -> dict:
    """A laboratory test (ESR) or an examination with a simple instrument (the pain
    thresholds by algometer and thermode)."""
    code, display = ("laboratory", "Laboratory") if measure.loinc else ("exam", "Exam")
    return {"coding": [{"system": OBSERVATION_CATEGORY, "code": code, "display": display}]}


def observation(
    enrollment, patient_url: str, span, visit_id: int, day, measure, value, voided, created_at
) -> tuple[str, dict]:
    """One measure of one visit as an Observation: the visit's date as the effective
    date, its first save as issued, the value in UCUM units."""
    resource_id = _uuid("Observation", f"{enrollment.study_id}/visit-{visit_id}/{measure.name}")
    resource: dict = {"resourceType": "Observation", "id": resource_id}
    if span is not None:
        resource["extension"] = [{"url": DIARY_PHASE_URL, "valueString": span.label}]
    number = int(value) if measure.decimals == 0 else float(measure.shown(value))
    resource.update(
        status="entered-in-error" if voided else "final",
        category=[measure_category(measure)],
        code=measure_code(measure),
        subject={"reference": patient_url},
        effectiveDateTime=day.isoformat(),
        issued=created_at.astimezone(enrollment.zoneinfo).isoformat(timespec="seconds"),
        valueQuantity={"value": number, "unit": measure.unit, "system": UCUM, "code": measure.ucum},
    )
    return f"urn:uuid:{resource_id}", resource


def _entry(full_url: str, resource: dict) -> str:
    return json.dumps({"fullUrl": full_url, "resource": resource}, ensure_ascii=False)


def bundle_chunks(enrollments, reader) -> Iterator[str]:
    """One FHIR R4 Bundle (type "collection") of `enrollments` as `reader` (a
    diary.trial.blinding file reader) may see them, as text chunks: the Questionnaire, a
    Patient per enrollment, then a QuestionnaireResponse per entry (voided ones too, as
    entered-in-error) by study ID and day, then an Observation per measure taken at a
    visit (voided visits' as entered-in-error) by study ID and visit date.

    Four queries whatever the size: enrollments, protocols with their phases, and the
    entries and the visits, each read through a cursor in chunks.
    """
    head = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": timezone.now().isoformat(timespec="seconds"),
    }
    # The Bundle is opened here and closed at the end; the entries stream in between.
    yield json.dumps(head).removesuffix("}") + ', "entry": [\n'
    yield _entry(f"urn:uuid:{QUESTIONNAIRE_ID}", questionnaire())
    loaded = enrollments.load_with_schedules()
    patient_urls = {}
    for enrollment in sorted(loaded, key=lambda e: e.study_id):
        patient_urls[enrollment.pk], resource = patient(enrollment, reader)
        yield ",\n" + _entry(patient_urls[enrollment.pk], resource)
    if loaded:
        by_id = {e.pk: e for e in loaded}
        yield from _responses(by_id, patient_urls, enrollments, reader)
        yield from _observations(by_id, patient_urls, enrollments, reader)
    yield "\n]}\n"


def _responses(by_id, patient_urls, enrollments, reader) -> Iterator[str]:
    schedule_of = blinding.file_schedules(reader)
    entries = (
        DiaryEntry.objects.filter(enrollment_id__in=enrollments.values("pk"))
        .order_by("enrollment__study_id", "date")
        .values_list(*_ENTRY_FIELDS)
        .iterator(chunk_size=5000)
    )
    for enrollment_id, day, *answers, voided, created_at in entries:
        enrollment = by_id.get(enrollment_id)
        if enrollment is None:  # enrolled after the file's Patients were written
            continue
        full_url, resource = response(
            enrollment,
            patient_urls[enrollment_id],
            schedule_of(enrollment).span_on(day),
            day,
            dict(zip(DIARY_ITEMS, answers, strict=True)),
            voided,
            created_at,
        )
        yield ",\n" + _entry(full_url, resource)


def _observations(by_id, patient_urls, enrollments, reader) -> Iterator[str]:
    schedule_of = blinding.file_schedules(reader)
    visits = (
        Visit.objects.filter(enrollment_id__in=enrollments.values("pk"))
        .order_by("enrollment__study_id", "visit_date", "pk")
        .values_list(*_VISIT_FIELDS)
        .iterator(chunk_size=5000)
    )
    for visit_id, enrollment_id, day, *values, voided, created_at in visits:
        enrollment = by_id.get(enrollment_id)
        if enrollment is None:  # enrolled after the file's Patients were written
            continue
        span = visit_span(schedule_of(enrollment), enrollment, day)
        for measure, value in zip(MEASURES, values, strict=True):
            if value is None:  # not done
                continue
            full_url, resource = observation(
                enrollment,
                patient_urls[enrollment_id],
                span,
                visit_id,
                day,
                measure,
                value,
                voided,
                created_at,
            )
            yield ",\n" + _entry(full_url, resource)
