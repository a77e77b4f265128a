"""Import enrollments from a CSV file in the format of docs/domain.md: all rows or none."""

from diary.files import imports
from diary.management.import_command import ImportCommand
from diary.management.unblinding import add_unblinded_arguments, unblinded_reason


class Command(ImportCommand):
    help = (
        "Import enrollments from a UTF-8 CSV file with columns study_id, username, email, "
        "physician, protocol, start_date and optionally arm (blank = randomized; given only "
        "on open-label protocols), timezone, status, withdrawn_on. Unknown usernames become "
        "patient accounts. The whole file is checked first; all rows are loaded or none."
    )
    kind = "enrollments"
    one = "enrollment"

    def add_arguments(self, parser):
        super().add_arguments(parser)
        add_unblinded_arguments(
            parser,
            help="Move a study's existing allocations in from another system: the file may "
            "give the arms of blinded protocols. Needs --reason; recorded in the audit trail.",
            reason_help="Why the allocations are moved in (kept in the audit trail).",
        )

    def handle(self, *args, unblinded=False, reason="", **options):
        self.reason = unblinded_reason(unblinded, reason, "import")
        return super().handle(*args, **options)

    def load(self, path):
        return imports.import_enrollments(path, unblinded_reason=self.reason)
