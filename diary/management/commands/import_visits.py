"""Import clinic visits from a CSV file in the format of docs/imports.md: all rows or none."""

from diary.management.import_command import ImportCommand


class Command(ImportCommand):
    help = (
        "Import clinic visits (source: import) from a UTF-8 CSV file with columns study_id, "
        "visit_date and optionally esr, pressure_threshold, heat_threshold, notes (a blank "
        "measure is not done). The whole file is checked first; all rows are loaded or none."
    )
    kind = "visits"
    one = "visit"
