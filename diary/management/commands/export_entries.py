"""Write diary entries as long-format CSV, streamed (docs/domain.md, "export_entries")."""

from django.core.management.base import BaseCommand

from diary import blinding, summaries
from diary.exports import run_export
from diary.management.output import protocol_named, write_export
from diary.management.unblinding import add_unblinded_arguments, reader_for
from diary.models import Enrollment


class Command(BaseCommand):
    help = "Export diary entries as CSV, one row per entry, by study ID (stdout by default)."

    def add_arguments(self, parser):
        parser.add_argument("--out", help="Write to this file instead of stdout.")
        parser.add_argument("--protocol", help="Only this protocol (slug).")
        add_unblinded_arguments(parser)

    def handle(self, *args, out=None, protocol=None, unblinded=False, reason="", **options):
        reader = reader_for(unblinded, reason)
        protocol = protocol_named(protocol) if protocol else None
        enrollments = Enrollment.objects.all()
        if protocol:
            enrollments = enrollments.filter(protocol=protocol)
        export = run_export(
            "entries.csv",
            enrollments,
            reader=reader,
            protocol=protocol,
            as_of=summaries.study_today(),
            reason=reason.strip(),
            details={"out": out},
        )
        write_export(self, export.lines, out, unblinded=reader is blinding.UNBLINDED_FILE)
