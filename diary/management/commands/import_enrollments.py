"""Import enrollments from a CSV file in the format of docs/domain.md: all rows or none."""

from diary.management.import_command import ImportCommand


class Command(ImportCommand):
    help = (
        "Import enrollments from a UTF-8 CSV file with columns study_id, username, email, "
        "physician, protocol, start_date and optionally arm (blank = randomized), timezone, "
        "status, withdrawn_on. Unknown usernames become patient accounts. The whole file is "
        "checked first; all rows are loaded or none."
    )
    kind = "enrollments"
    one = "enrollment"
