"""The imports against PostgreSQL's COPY of the same rows (a development tool, not part of
the app).

    .venv/bin/python -m benchmarks.bench_imports [--patients 2000] [--rounds 2]

1. A scratch database is migrated and given the physician the files name; the study of
   benchmarks/data.py is written as the two import files (N patients, 154 days, about 1
   day in 10 missed).
2. Each round starts from a fresh copy of that database (CREATE DATABASE ... TEMPLATE)
   and times, as whole processes:
   - ours: `manage.py import_enrollments --unblinded --reason` (the files give the arms)
     then `manage.py import_entries` (every row
     checked, the accounts, enrollments and entries written with their history rows,
     all or nothing);
   - the floor (benchmarks/floor_imports.py): a bare psycopg2 process that COPYs, in
     one transaction, the enrollments file into a plain table and the same entries,
     unchecked and without history, straight into the app's entries table with its
     indexes and constraints (it starts where import_entries starts: on a copy where
     import_enrollments has run, with the study IDs replaced by the enrollments' ids).
3. The best round of each is compared, and the entries and history rows are counted.

Scratch databases are dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import data
from benchmarks.report import row, table

PHYSICIAN = "bench-physician"
# The files give every arm of the blinded protocol (the entries follow them): moving a
# study's existing allocations in, which import_enrollments allows only so.
MOVING_IN = ["--unblinded", "--reason", "benchmark: the allocations of benchmarks/data.py"]
FLOOR = data.ROOT / "benchmarks" / "floor_imports.py"


def _prepare() -> None:
    from diary.people.models import Role, User

    User.objects.create(username=PHYSICIAN, role=Role.PHYSICIAN, email="bench@example.org")


def _counts() -> dict:
    from diary.entries.models import DiaryEntry
    from diary.trial.models import Enrollment

    return {
        "enrollments": Enrollment.objects.count(),
        "entries": DiaryEntry.objects.count(),
        "history": DiaryEntry.history.count(),
        "history_with_reason": DiaryEntry.history.exclude(history_change_reason="").count(),
    }


def _floor_entries(entries: str, out: str) -> None:
    """The entries file as rows of the entries table (benchmarks/floor_imports.py): study
    IDs replaced by the enrollments' ids, and the columns an import sets (source import,
    not late, not voided, created and updated now)."""
    import csv

    from django.utils import timezone

    from benchmarks.floor_imports import ENTRY_COLUMNS
    from diary.trial.models import Enrollment

    ids = dict(Enrollment.objects.values_list("study_id", "id"))
    now = timezone.now().isoformat()
    with open(entries, newline="") as source, open(out, "w", newline="") as target:
        rows, writer = csv.reader(source), csv.writer(target)
        next(rows)
        writer.writerow(ENTRY_COLUMNS)
        for study_id, *cells in rows:
            writer.writerow([ids[study_id], *cells, "import", "f", "f", "", now, now])


def _write_files(patients: int, folder: str) -> tuple[str, str]:
    enrollments, entries = data.import_files(patients, Path(folder))
    return str(enrollments), str(entries)


@contextlib.contextmanager
def _copy_of(template: str, name: str):
    data.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    data.psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield f"{data.SERVER}/{name}"
    finally:
        data.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _timed(command: list[str], url: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, cwd=data.ROOT, env=data.bench_environment(url), check=True, capture_output=True
    )
    return time.perf_counter() - started


def measure(patients: int = 2000, rounds: int = 2) -> list[dict]:
    """Rows for benchmarks.run's table: the two imports against COPY."""
    base = f"ldn_bench_imports_{patients}"
    enrolled = f"{base}_enrolled"
    with tempfile.TemporaryDirectory() as folder, data.scratch_database(base) as url:
        data.in_django(url, _prepare)
        enrollments, entries = data.in_django(url, _write_files, patients, folder)
        floor_entries = str(Path(folder) / "floor-entries.csv")
        ours, floor, counts = [], [], {}
        # The floor starts where import_entries starts: the enrollments are in.
        with _copy_of(base, enrolled) as enrolled_url:
            _timed(
                [data.PYTHON, "manage.py", "import_enrollments", enrollments, *MOVING_IN],
                enrolled_url,
            )
            data.in_django(enrolled_url, _floor_entries, entries, floor_entries)
        for n in range(rounds):
            with _copy_of(base, f"{base}_round{n}") as copy:
                ours.append(
                    _timed(
                        [data.PYTHON, "manage.py", "import_enrollments", enrollments, *MOVING_IN],
                        copy,
                    )
                    + _timed([data.PYTHON, "manage.py", "import_entries", entries], copy)
                )
                counts = data.in_django(copy, _counts)
            with _copy_of(base, enrolled) as enrolled_url:
                _timed(
                    [data.PYTHON, "manage.py", "import_enrollments", enrollments, *MOVING_IN],
                    enrolled_url,
                )
                floor_command = [data.PYTHON, str(FLOOR), enrolled_url, enrollments, floor_entries]
                floor.append(_timed(floor_command, enrolled_url))
    print(
        f"Imports: {counts['enrollments']} enrollments, {counts['entries']} entries, "
        f"{counts['history']} history rows ({counts['history_with_reason']} with the "
        f"import's reason); ours {[round(t, 2) for t in ours]} s, "
        f"COPY {[round(t, 2) for t in floor]} s.",
        flush=True,
    )
    complete = counts["history"] == counts["entries"] == counts["history_with_reason"]
    note = "" if complete else " - HISTORY INCOMPLETE"
    return [
        row(
            f"import_enrollments + import_entries, whole processes, against COPY "
            f"({counts['entries']} entries){note}",
            min(ours),
            min(floor),
            "imports",
            "s",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    arguments = parser.parse_args()
    print(table(measure(arguments.patients, arguments.rounds)))


if __name__ == "__main__":
    sys.exit(main())
