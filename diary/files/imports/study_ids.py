"""What the entry and visit imports share: the enrollments a file names, read once, the
check of a study ID cell, and the notes cell as the forms count it."""

from __future__ import annotations

from django.db.models.functions import Lower

from diary.trial.locks import lock_problem
from diary.trial.models import Enrollment, Protocol


def load_enrollments(study_ids: set[str]) -> dict[str, Enrollment]:
    """{lower-case study ID: enrollment with its schedule} for the study IDs of a file
    (lower case), in three queries. One object per protocol, so that its layout (every
    arm's phases) is worked out once, not once per enrollment."""
    enrollments = list(
        Enrollment.objects.with_schedule()
        .annotate(id_key=Lower("study_id"))
        .filter(id_key__in=study_ids)
    )
    protocols: dict[int, Protocol] = {}
    for enrollment in enrollments:
        enrollment.protocol = protocols.setdefault(enrollment.protocol_id, enrollment.protocol)
    return {e.study_id.lower(): e for e in enrollments}


def study_id_cell(study_id: str, enrollments: dict[str, Enrollment]):
    """The enrollment a study ID cell names (None if none) and the cell's problems: a
    study ID is written exactly, and one in another case is named as the likely one."""
    if not study_id:
        return None, ["study_id is required"]
    enrollment = enrollments.get(study_id.lower())
    if enrollment is None:
        return None, [f'unknown study ID "{study_id}"']
    if enrollment.study_id != study_id:
        return None, [f'unknown study ID "{study_id}" (did you mean {enrollment.study_id}?)']
    locked = lock_problem(enrollment)
    if locked:
        return None, [locked]
    return enrollment, []


def notes_cell(notes: str, limit: int, problems: list[str]) -> str:
    """The notes as the forms count them (a line break is one character); a problem is
    added to `problems` when they are longer than `limit`."""
    if "\r" in notes:
        notes = notes.replace("\r\n", "\n").replace("\r", "\n")
    if len(notes) > limit:
        problems.append(f"notes are {len(notes)} characters long; at most {limit} are allowed")
    return notes
