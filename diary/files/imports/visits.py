"""import_visits: clinic visits with their measures, source `import`, checked row by row
against the enrollments and the visits stored (the visit rules of diary.visits.rules),
then written in one transaction with a history row each.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from diary.files.imports.reading import (
    CsvRows,
    Outcome,
    _differences,
    _fail_if_any,
    _parsed,
    parse_date,
)
from diary.files.imports.study_ids import load_enrollments, notes_cell, study_id_cell
from diary.files.imports.writing import _all_or_nothing, _change_reason
from diary.signoff import invalidation
from diary.trial.dates import date_problem
from diary.trial.models import Enrollment
from diary.visits.measures import MEASURES
from diary.visits.models import Visit, VisitSource
from diary.visits.rules import date_problems

# study_id and visit_date are required; a measure not taken at all may be left out (a
# blank cell: not done), and so may notes.
VISIT_COLUMNS = ["study_id", "visit_date"]
VISIT_OPTIONAL = [*(measure.name for measure in MEASURES), "notes"]
VALUES = VISIT_OPTIONAL  # what a row gives a visit besides its enrollment and date
NOTES_MAX = Visit._meta.get_field("notes").max_length


def import_visits(path, *, by=None, file_name: str = "", check_only: bool = False) -> Outcome:
    """Clinic visits with source `import`, each with a history row. `check_only`, `by`,
    `file_name`: as import_users (the person is named in the history rows' reason and
    is their user)."""
    rows = CsvRows(path, VISIT_COLUMNS, VISIT_OPTIONAL)
    check = _VisitCheck({study_id.lower() for study_id in rows.column("study_id")})
    problems: list[tuple[int, str]] = []
    new: list[Visit] = []
    outcome = Outcome()
    for line, row in rows:
        errors, visit = check.row(line, row)
        if errors:
            problems.extend((line, error) for error in errors)
        elif visit is None:
            outcome.unchanged += 1
        else:
            new.append(visit)
    _fail_if_any(rows, problems)
    outcome.created = len(new)
    if check_only:
        return outcome
    reason, stamped = _change_reason(path, by, file_name), timezone.now()
    with _all_or_nothing():
        bulk_create_with_history(
            new, Visit, default_user=by, default_change_reason=reason, default_date=stamped
        )
        # New visits in a signed phase invalidate its signatures (bulk rows send no signal).
        invalidation.sweep({visit.enrollment_id for visit in new}, since=stamped)
    return outcome


class _VisitCheck:
    """Checks visit rows against the enrollments and the counting visits stored.

    Four queries whatever the size of the file: the enrollments with their schedules
    (three) and the counting visits stored for them (one).
    """

    def __init__(self, study_ids: set[str]):
        self.enrollments = load_enrollments(study_ids)
        enrollments = list(self.enrollments.values())
        # (enrollment id, date) -> the counting visit's values as stored: one counting
        # visit per date, so an identical row is skipped and a different one refused.
        self.stored = {
            (enrollment_id, day): tuple(values)
            for enrollment_id, day, *values in Visit.objects.counting()
            .filter(enrollment_id__in=[e.pk for e in enrollments])
            .values_list("enrollment_id", "visit_date", *VALUES)
        }
        # "Today" in each enrollment's own time zone, once per import.
        self.today = {e.pk: e.local_today() for e in enrollments}
        self.seen: dict[tuple[str, dt.date], int] = {}

    def row(self, line: int, row: dict[str, str]) -> tuple[list[str], Visit | None]:
        """The row's problems, and the visit to create; None when it is already stored."""
        errors: list[str] = []
        enrollment, study_id = self._enrollment(row["study_id"], errors)
        day = _parsed(errors, parse_date, row["visit_date"], "visit_date")
        if day is not None and enrollment is not None:
            problems = date_problems(enrollment, day, self.today[enrollment.pk])
            errors.extend(problems)
        elif day is not None:
            problems = _date_limits(day)
            errors.extend(problems)
        else:
            problems = []
        values = self._values(row, errors)
        if day is not None and not problems:
            first = self.seen.setdefault((study_id.lower(), day), line)
            if first != line:
                errors.append(f"{study_id} {day} appears again (first on line {first})")
        if errors:
            return errors, None
        stored = self.stored.get((enrollment.pk, day))
        if stored is None:
            visit = Visit(
                enrollment=enrollment,
                visit_date=day,
                source=VisitSource.IMPORT,
                **dict(zip(VALUES, values, strict=True)),
            )
            return [], visit
        if stored == values:
            return [], None
        differences = _differences(
            {name: (old, given) for name, old, given in zip(VALUES, stored, values, strict=True)}
        )
        return [
            f"{enrollment.study_id} already has a visit on {day} with other values; "
            f"correct it in the admin ({differences})"
        ], None

    def _enrollment(self, study_id: str, errors: list[str]) -> tuple[Enrollment | None, str]:
        """The row's enrollment (None with the problem added) and the study ID to name."""
        enrollment, problems = study_id_cell(study_id, self.enrollments)
        errors.extend(problems)
        return enrollment, enrollment.study_id if enrollment else study_id

    def _values(self, row: dict[str, str], errors: list[str]) -> tuple:
        """The measures (None: blank, not done, or a problem added to `errors`) and the
        notes, in the order of VALUES."""
        values: list = [_parsed(errors, measure.parse, row[measure.name]) for measure in MEASURES]
        values.append(notes_cell(row["notes"], NOTES_MAX, errors))
        return tuple(values)


def _date_limits(day: dt.date) -> list[str]:
    """The date's own limits (docs/domain.md, "Input limits") on a row whose study ID
    is unknown: the other visit rules need the enrollment."""
    problem = date_problem(day, "visit_date")
    return [problem] if problem else []
