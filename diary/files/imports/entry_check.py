"""The columns of an entry file, and the check of its rows against the enrollments and
the entries stored (import_entries).
"""

from __future__ import annotations

import datetime as dt
from itertools import repeat

from diary.entries import items, window
from diary.entries.models import DIARY_ITEMS, TREATMENT_ONLY_ITEMS, DiaryEntry
from diary.files.imports.reading import (
    _differences,
    _parsed,
    parse_date,
    parse_score,
    parse_yes_no,
)
from diary.files.imports.study_ids import load_enrollments, notes_cell, study_id_cell
from diary.trial.dates import date_problem
from diary.trial.models import Enrollment

NOTES_MAX = DiaryEntry._meta.get_field("notes").max_length

# The diary items, in the model's order: the ones asked every day are required columns.
ENTRY_COLUMNS = ["study_id", "date", *(name for name in DIARY_ITEMS if items.always_asked(name))]
ENTRY_OPTIONAL = [name for name in DIARY_ITEMS if not items.always_asked(name)]
ITEMS = ENTRY_COLUMNS[2:] + ENTRY_OPTIONAL


def _item_parser(name: str):
    """How the cell of item `name` is read: (name, parser, its arguments)."""
    required = (False,) if name in TREATMENT_ONLY_ITEMS else ()
    if items.kind(name) == items.SCALE:
        return name, parse_score, (items.score_range(name)[1], *required)
    return name, parse_yes_no, required


# How the cell of each item but the free text is read, in the order of ITEMS.
ITEM_PARSERS = [_item_parser(name) for name in ITEMS if items.kind(name) != items.TEXT]
assert [name for name, *_ in ITEM_PARSERS] + ["notes"] == ITEMS
_UNREAD = object()  # a cell value not read before
_TREATMENT_ONLY = [ITEMS.index(name) for name in TREATMENT_ONLY_ITEMS]


class _EntryCheck:
    """Checks entry rows against the enrollments and the entries already stored.

    Four queries whatever the size of the file: the enrollments with their schedules
    (three) and the stored entries' values (one). A file repeats the same few values
    (scores, yes/no, dates, study IDs), so each value is read once per column with the
    parse_* functions and remembered; the schedule rules are asked once per situation
    (_day_problems).
    """

    def __init__(self, study_ids: set[str]):
        self.enrollments = load_enrollments(study_ids)
        enrollments = list(self.enrollments.values())
        by_pk = {e.pk: e for e in enrollments}
        # (enrollment id, day) -> the items as stored, to skip identical rows and refuse
        # conflicting ones.
        self.stored = {
            (enrollment_id, day): tuple(values)
            for enrollment_id, day, *values in DiaryEntry.objects.filter(
                enrollment_id__in=by_pk
            ).values_list("enrollment_id", "date", *ITEMS)
        }
        # "Today" in each enrollment's own time zone (docs/domain.md), once per import.
        self.today = {e.pk: e.local_today() for e in enrollments}
        # Enrollments whose days the schedule rules judge alike share a situation.
        situations: dict[tuple, int] = {}
        self.situation = {
            e.pk: situations.setdefault(
                (
                    e.protocol_id,
                    e.arm_id,
                    e.start_date,
                    e.withdrawn_on,
                    e.status,
                    e.timezone,
                    self.today[e.pk],
                ),
                len(situations),
            )
            for e in enrollments
        }
        self._forget()

    def restart(self) -> None:
        """Forget the rows seen and the values read (the check starts again, or is done)."""
        self._forget()

    def _forget(self) -> None:
        self.seen: dict[tuple[str, dt.date], int] = {}
        # Per column, cell as written -> value read (only values read without a problem).
        self.study_ids: dict[str, tuple] = {}
        self.dates: dict[str, dt.date] = {}
        self.items: list[dict] = [{} for _ in ITEM_PARSERS]
        # (situation, day, which treatment-only items are blank) the rules accept.
        self.days_accepted: set[tuple] = set()

    def row(self, line: int, cells: tuple[str, ...]) -> tuple[list[str], tuple | None]:
        """The row's problems, and the entry to create as (enrollment id, day, *the
        values of ITEMS); None when it is already stored. `cells` are in the order of
        ENTRY_COLUMNS + ENTRY_OPTIONAL, as written in the file."""
        errors: list[str] = []
        known = self.study_ids.get(cells[0])
        if known is None:
            known = self.study_ids[cells[0]] = self._enrollment(cells[0].strip())
        enrollment, problems, study_id, key, pk, situation = known
        if problems:
            errors.extend(problems)
        day = self.dates.get(cells[1])
        if day is None:
            day = _parsed(errors, parse_date, cells[1].strip())
            problem = day and date_problem(day, "date")
            if problem:
                errors.append(problem)
                day = None
            if day is not None:
                self.dates[cells[1]] = day
        values = self._values(cells, errors)
        if day is not None:
            first = self.seen.setdefault((key, day), line)
            if first != line:
                errors.append(f"{study_id} {day} appears again (first on line {first})")
            if enrollment is not None:
                errors.extend(self._day_problems(enrollment, situation, day, values))
        if errors:
            return errors, None
        stored = self.stored.get((pk, day))
        if stored is None:
            return [], (pk, day, *values)
        if stored == values:
            return [], None
        differences = _differences(
            {name: (old, new) for name, old, new in zip(ITEMS, stored, values, strict=True)}
        )
        return [
            f"{enrollment.study_id} already has an entry for {day} with other values; "
            f"correct it in the admin ({differences})"
        ], None

    def _enrollment(self, study_id: str) -> tuple:
        """For a study ID cell: its enrollment, its problems, the study ID to name, the key
        of repeated days, and the enrollment's pk and situation."""
        enrollment, problems = study_id_cell(study_id, self.enrollments)
        if enrollment is None:
            return None, problems, study_id, study_id.lower(), None, None
        return (
            enrollment,
            problems,
            enrollment.study_id,
            enrollment.study_id.lower(),
            enrollment.pk,
            self.situation[enrollment.pk],
        )

    def _values(self, cells: tuple[str, ...], errors: list[str]) -> tuple:
        """The values of ITEMS; None where a cell has a problem (added to `errors`)."""
        values = list(map(dict.get, self.items, cells[2:9], repeat(_UNREAD)))
        if _UNREAD in values:
            for n, (name, parse, args) in enumerate(ITEM_PARSERS):
                if values[n] is _UNREAD:
                    cell, known = cells[2 + n], len(errors)
                    values[n] = _parsed(errors, parse, cell.strip(), name, *args)
                    if len(errors) == known:
                        self.items[n][cell] = values[n]
        values.append(notes_cell(cells[9].strip(), NOTES_MAX, errors))
        return tuple(values)

    def _day_problems(
        self, enrollment: Enrollment, situation: int, day: dt.date, values: tuple
    ) -> list[str]:
        # window.staff_problems says what is wrong with a day. It reads the
        # enrollment's schedule, withdrawal and "today" (its situation) and, of the
        # values, only whether the treatment-only items are blank: a day it accepted is
        # accepted for every enrollment in the same situation without asking again.
        key = (situation, day, *[values[n] is None for n in _TREATMENT_ONLY])
        if key in self.days_accepted:
            return []
        problems = window.staff_problems(
            enrollment, day, dict(zip(ITEMS, values, strict=True)), self.today[enrollment.pk]
        )
        if not problems:
            self.days_accepted.add(key)
        return problems
