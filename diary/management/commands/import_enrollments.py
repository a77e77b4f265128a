"""Import enrollments from a CSV file in the format of DOMAIN.md: all rows or none."""

from diary.management.import_command import ImportCommand


class Command(ImportCommand):
    help = "Import enrollments from a UTF-8 CSV file (DOMAIN.md); loads all rows or none."
    kind = "enrollments"
