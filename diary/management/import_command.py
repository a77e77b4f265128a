"""The shared shape of the import_* commands: check the whole file, load all or none."""

from django.core.management.base import BaseCommand, CommandError

from diary.files import imports


class ImportCommand(BaseCommand):
    kind = ""  # "users", "enrollments", "entries"
    one = ""  # "user", "enrollment", "entry"
    # The imports check every row themselves and need none of the system checks (URLs,
    # admin, templates), which the app server runs.
    requires_system_checks = []

    def load(self, path):
        return getattr(imports, f"import_{self.kind}")(path)

    def add_arguments(self, parser):
        parser.add_argument("file", help="UTF-8 CSV file with a header row (docs/domain.md)")

    def handle(self, *args, file, **options):
        try:
            outcome = self.load(file)
        except imports.FileUnreadable as error:
            raise CommandError(str(error)) from None
        except imports.ImportFailed as failed:
            for problem in failed.problems:
                self.stderr.write(problem)
            count = len(failed.problems)
            raise CommandError(
                f"Nothing was imported: {count} problem{'s' if count != 1 else ''} in {file}."
            ) from None
        created = outcome.created
        self.stdout.write(
            f"Imported {created} {self.one if created == 1 else self.kind} "
            f"({outcome.unchanged} already present, unchanged)."
        )
