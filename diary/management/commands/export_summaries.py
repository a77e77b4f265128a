"""Write the per-patient and cohort summaries as JSON or CSV (docs/domain.md)."""

import datetime as dt
import re

from django.core.management.base import BaseCommand, CommandError

from diary.figures import summaries
from diary.files.exports import run_export
from diary.management.output import protocol_named, write_export
from diary.management.unblinding import add_unblinded_arguments, reader_for
from diary.trial import blinding, dates
from diary.trial.models import Enrollment


def iso_date(value: str) -> dt.date:
    # YYYY-MM-DD only (fromisoformat alone would also take 20260310 and 2026-W10-2).
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    raise CommandError(f'--as-of "{value}" is not a date in YYYY-MM-DD form.')


class Command(BaseCommand):
    # Reading data needs none of the system checks (URLs, admin, templates): the app
    # server runs them. Skipping them saves a third of the command's time.
    requires_system_checks = []
    help = "Export per-patient and cohort summaries (JSON or CSV), to stdout by default."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--as-of", help="Compute as of this day (YYYY-MM-DD) instead of today.")
        parser.add_argument("--protocol", help="Only this protocol (slug).")
        parser.add_argument("--out", help="Write to this file instead of stdout.")
        add_unblinded_arguments(parser)

    def handle(self, *args, format="json", as_of=None, protocol=None, out=None, **options):
        reader = reader_for(options["unblinded"], options["reason"])
        as_of = iso_date(as_of) if as_of else dates.study_today()
        problem = summaries.as_of_problem(as_of)
        if problem:
            raise CommandError(problem)
        protocol = protocol_named(protocol) if protocol else None
        enrollments = Enrollment.objects.all()
        if protocol:
            enrollments = enrollments.filter(protocol=protocol)
        export = run_export(
            f"summaries.{format}",
            enrollments,
            reader=reader,
            protocol=protocol,
            as_of=as_of,
            reason=options["reason"].strip(),
            details={"out": out},
        )
        write_export(self, export.lines, out, unblinded=reader is blinding.UNBLINDED_FILE)
