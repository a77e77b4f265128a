"""import_entries: diary entries with source `import`, checked row by row (entry_check.py),
then written in bulk (writing.py).
"""

from __future__ import annotations

from django.utils import timezone

from diary.files.imports.entry_check import ENTRY_COLUMNS, ENTRY_OPTIONAL, _EntryCheck
from diary.files.imports.reading import CsvRows, Outcome, _fail_if_any
from diary.files.imports.writing import _all_or_nothing, _change_reason, _NewEntries
from diary.signoff import invalidation


def import_entries(path, *, by=None, file_name: str = "", check_only: bool = False) -> Outcome:
    """Diary entries with source `import`, each with a history row. `check_only`, `by`,
    `file_name`: as import_users (the person is named in the history rows' reason)."""
    rows = CsvRows(path, ENTRY_COLUMNS, ENTRY_OPTIONAL)
    check = _EntryCheck({study_id.lower() for study_id in rows.column("study_id")})
    problems: list[tuple[int, str]] = []
    new = _NewEntries.for_database()
    outcome = Outcome()
    for line, cells in rows.cells():
        errors, entry = check.row(line, cells)
        if errors:
            problems.extend((line, error) for error in errors)
        elif entry is None:
            outcome.unchanged += 1
        elif check_only:
            outcome.created += 1
        elif not problems:  # once there is a problem nothing is loaded: stop keeping rows
            new.add(entry)
    _fail_if_any(rows, problems)
    if check_only:
        return outcome
    enrollment_ids = [enrollment.pk for enrollment in check.enrollments.values()]
    check.restart()  # the whole file is checked: what the check remembers is not needed
    reason, stamped = _change_reason(path, by, file_name), timezone.now()
    with _all_or_nothing():
        outcome.created = new.save(reason, stamped)
        # New days in a signed phase invalidate its signatures (bulk rows send no signal).
        invalidation.sweep(enrollment_ids, since=stamped)
    return outcome
