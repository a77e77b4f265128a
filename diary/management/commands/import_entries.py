"""Import diary entries from a CSV file in the format of docs/domain.md: all rows or none."""

from diary.management.import_command import ImportCommand


class Command(ImportCommand):
    help = (
        "Import diary entries (source: import) from a UTF-8 CSV file with columns study_id, "
        "date, pain, fatigue, sleep_quality, vivid_dreams, headache and optionally "
        "dose_taken, tolerability, notes. The whole file is checked first; all rows are "
        "loaded or none."
    )
    kind = "entries"
    one = "entry"
