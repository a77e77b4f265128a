"""Import enrollments from a CSV file in the format of DOMAIN.md: all rows or none."""

from django.core.management.base import BaseCommand, CommandError

from diary import imports


class Command(BaseCommand):
    help = "Import enrollments from a UTF-8 CSV file (DOMAIN.md); loads all rows or none."

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header row")

    def handle(self, *args, file, **options):
        try:
            outcome = imports.import_enrollments(file)
        except imports.ImportFailed as failed:
            for problem in failed.problems:
                self.stderr.write(problem)
            count = len(failed.problems)
            raise CommandError(
                f"Nothing was imported: {count} problem{'s' if count != 1 else ''} in {file}."
            ) from None
        self.stdout.write(
            f"Imported {outcome.created} enrollments "
            f"({outcome.unchanged} already present, unchanged)."
        )
