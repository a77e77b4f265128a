"""Write the per-patient and cohort summaries of DOMAIN.md as JSON or CSV."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from diary import summaries
from diary.exports import (
    csv_lines,
    record_unblinded_export,
    summary_json_text,
    summary_rows,
    write_stdout,
)
from diary.models import Enrollment, Protocol


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f'--as-of "{value}" is not a date in YYYY-MM-DD form.') from None


class Command(BaseCommand):
    help = "Export per-patient and cohort summaries (JSON or CSV) to stdout."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--as-of", help="Compute as of this day (YYYY-MM-DD) instead of today.")
        parser.add_argument("--protocol", help="Only this protocol (slug).")
        parser.add_argument(
            "--unblinded",
            action="store_true",
            help="Show arms and phase kinds of still-blinded protocols (recorded in the "
            "audit trail).",
        )

    def handle(self, *args, format="json", as_of=None, protocol=None, unblinded=False, **opts):
        as_of = iso_date(as_of) if as_of else summaries.study_today()
        enrollments = Enrollment.objects.all()
        protocol_obj = None
        if protocol:
            protocol_obj = Protocol.objects.filter(slug=protocol).first()
            if protocol_obj is None:
                slugs = ", ".join(Protocol.objects.values_list("slug", flat=True))
                raise CommandError(f'No protocol "{protocol}"; known: {slugs}.')
            enrollments = enrollments.filter(protocol=protocol_obj)
        results = summaries.summarize(enrollments, as_of, unblinded=unblinded)
        if unblinded:
            record_unblinded_export(
                "summaries",
                protocol=protocol_obj,
                details={"format": format, "as_of": as_of.isoformat()},
            )
        if format == "json":
            write_stdout(self.stdout, [summary_json_text(results, as_of)])
        else:
            write_stdout(self.stdout, csv_lines(summary_rows(results)))
