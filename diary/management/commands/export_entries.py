"""Write diary entries as long-format CSV, streamed."""

from django.core.management.base import BaseCommand, CommandError

from diary import blinding
from diary.access import file_scope, record_access
from diary.exports import (
    csv_lines,
    entry_rows,
    record_unblinded_export,
    unblinded_path,
    write_stdout,
)
from diary.management.unblinding import add_unblinded_arguments, reader_for
from diary.models import Enrollment, Protocol


def protocol_named(slug: str) -> Protocol:
    try:
        return Protocol.objects.get(slug=slug)
    except Protocol.DoesNotExist:
        slugs = ", ".join(Protocol.objects.values_list("slug", flat=True))
        raise CommandError(f'No protocol "{slug}"; known: {slugs}.') from None


class Command(BaseCommand):
    help = "Export diary entries as CSV, one row per entry, by study ID (stdout by default)."

    def add_arguments(self, parser):
        parser.add_argument("--out", help="Write to this file instead of stdout.")
        parser.add_argument("--protocol", help="Only this protocol (slug).")
        add_unblinded_arguments(parser)

    def handle(self, *args, out=None, protocol=None, unblinded=False, reason="", **options):
        reader = reader_for(unblinded, reason)
        enrollments = Enrollment.objects.all()
        protocol_obj = protocol_named(protocol) if protocol else None
        if protocol_obj:
            enrollments = enrollments.filter(protocol=protocol_obj)
        if out and reader is blinding.UNBLINDED_FILE:
            out = unblinded_path(out)
        lines = csv_lines(entry_rows(enrollments, reader))
        unblinded = " (unblinded)" if reader is blinding.UNBLINDED_FILE else ""
        record_access(
            None, f"export_entries{unblinded}", scope=file_scope(protocol_obj, enrollments)
        )
        if not out:
            self.record(reader, protocol_obj, reason, out)
            write_stdout(self.stdout, lines)
            return
        try:
            with open(out, "w", encoding="utf-8", newline="") as stream:
                self.record(reader, protocol_obj, reason, out)
                stream.writelines(lines)
        except OSError as error:
            raise CommandError(f"cannot write {out}: {error}") from error
        self.stderr.write(f"Wrote {out}.")

    @staticmethod
    def record(reader, protocol, reason, out):
        if reader is blinding.UNBLINDED_FILE:
            record_unblinded_export(
                "entries", protocol=protocol, reason=reason.strip(), details={"out": out}
            )
