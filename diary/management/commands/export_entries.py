"""Write diary entries as long-format CSV (DOMAIN.md), streamed."""

from django.core.management.base import BaseCommand, CommandError

from diary.exports import csv_lines, entry_rows, record_unblinded_export, write_stdout
from diary.models import Enrollment, Protocol


class Command(BaseCommand):
    help = "Export diary entries as CSV, one row per entry, by study ID (stdout by default)."

    def add_arguments(self, parser):
        parser.add_argument("--out", help="Write to this file instead of stdout.")
        parser.add_argument("--protocol", help="Only this protocol (slug).")
        parser.add_argument(
            "--unblinded",
            action="store_true",
            help="Show real phase labels of still-blinded protocols (recorded in the audit trail).",
        )

    def handle(self, *args, out=None, protocol=None, unblinded=False, **options):
        enrollments = Enrollment.objects.all()
        if protocol:
            try:
                protocol_obj = Protocol.objects.get(slug=protocol)
            except Protocol.DoesNotExist:
                slugs = ", ".join(Protocol.objects.values_list("slug", flat=True))
                raise CommandError(f'No protocol "{protocol}"; known: {slugs}.') from None
            enrollments = enrollments.filter(protocol=protocol_obj)
        if unblinded:
            record_unblinded_export(
                "entries", protocol=protocol_obj if protocol else None, details={"out": out}
            )
        lines = csv_lines(entry_rows(enrollments, unblinded=unblinded))
        if not out:
            write_stdout(self.stdout, lines)
            return
        try:
            with open(out, "w", encoding="utf-8", newline="") as stream:
                stream.writelines(lines)
        except OSError as error:
            raise CommandError(f"cannot write {out}: {error}") from error
        self.stderr.write(f"Wrote {out}.")
