"""The imports' floor: the same rows COPYed by a bare process, nothing checked.

    python benchmarks/floor_imports.py DATABASE_URL enrollments.csv entries-with-ids.csv

In one transaction: the enrollments file into a plain table, and the entries into a
table made LIKE the app's entries table INCLUDING ALL: the same columns, defaults,
check constraints, unique constraints and indexes, but no foreign key (PostgreSQL checks
those row by row, which more than doubles a COPY's time) and no history rows. The file
names each entry's enrollment by id and carries the columns an import sets. No Django:
only psycopg2.
"""

import sys

import psycopg2

ENTRY_COLUMNS = [
    "enrollment_id",
    "date",
    "pain",
    "fatigue",
    "sleep_quality",
    "vivid_dreams",
    "headache",
    "dose_taken",
    "tolerability",
    "notes",
    "source",
    "late",
    "voided",
    "void_reason",
    "created_at",
    "updated_at",
]

ENROLLMENTS = """
CREATE TABLE floor_enrollment (
    study_id varchar(20), username varchar(150), email varchar(254),
    physician varchar(150), protocol varchar(50), arm varchar(10), start_date date);
CREATE TABLE floor_entry (LIKE diary_diaryentry INCLUDING ALL);
"""


def main(url: str, enrollments: str, entries: str) -> None:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute(ENROLLMENTS)
        with open(enrollments) as stream:
            cursor.copy_expert("COPY floor_enrollment FROM STDIN WITH (FORMAT csv, HEADER)", stream)
        with open(entries) as stream:
            cursor.copy_expert(
                f"COPY floor_entry ({', '.join(ENTRY_COLUMNS)}) FROM STDIN "
                "WITH (FORMAT csv, HEADER, FORCE_NOT_NULL (notes, void_reason))",
                stream,
            )


if __name__ == "__main__":
    main(*sys.argv[1:4])
