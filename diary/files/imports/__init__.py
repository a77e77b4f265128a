"""CSV imports of docs/domain.md ("File formats"): users, enrollments, diary entries,
clinic visits.

Each import checks the whole file before it loads anything, collecting every problem
as "line N: what is wrong" (N = line in the file, header = line 1), then loads all of it
in one transaction, or nothing. Rows equal to what is already stored are skipped, so
importing the same file twice changes nothing; a row that contradicts stored data is a
problem, never a silent overwrite of clinical data.

Files are streamed, never read whole: a first reading collects the keys the rows refer
to (usernames, study IDs), which are then looked up with one query per table, and a
second reading checks every row. The checked entries of an entry file (hundreds of
thousands of rows) are kept packed, a chunk at a time, and written once the whole file
is checked: on PostgreSQL two statements a chunk (the entries from one array per column,
then their history rows copied from them); elsewhere with bulk_create_with_history.

One module per file kind (users, enrollments, entries, visits, randomization), their checks
(enrollment_check, entry_check), and what they share: reading the file and its cells
(reading), writing what was checked (writing).
"""

from diary.files.imports.enrollments import (
    ENROLLMENT_COLUMNS,
    ENROLLMENT_OPTIONAL,
    import_enrollments,
)
from diary.files.imports.entries import import_entries
from diary.files.imports.randomization import LIST_ROWS_MAX, import_randomization_list
from diary.files.imports.reading import FileUnreadable, ImportFailed, Outcome
from diary.files.imports.users import import_users
from diary.files.imports.visits import VISIT_COLUMNS, VISIT_OPTIONAL, import_visits

__all__ = [
    "ENROLLMENT_COLUMNS",
    "ENROLLMENT_OPTIONAL",
    "LIST_ROWS_MAX",
    "VISIT_COLUMNS",
    "VISIT_OPTIONAL",
    "FileUnreadable",
    "ImportFailed",
    "Outcome",
    "import_enrollments",
    "import_entries",
    "import_randomization_list",
    "import_users",
    "import_visits",
]
