"""Write the per-patient and cohort summaries as JSON or CSV."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from diary import blinding, summaries
from diary.access import file_scope, record_access
from diary.exports import (
    csv_lines,
    record_unblinded_export,
    summary_json_text,
    summary_rows,
    unblinded_path,
    write_stdout,
)
from diary.management.commands.export_entries import protocol_named
from diary.management.unblinding import add_unblinded_arguments, reader_for
from diary.models import Enrollment


def iso_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f'--as-of "{value}" is not a date in YYYY-MM-DD form.') from None


class Command(BaseCommand):
    help = "Export per-patient and cohort summaries (JSON or CSV), to stdout by default."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "csv"], default="json")
        parser.add_argument("--as-of", help="Compute as of this day (YYYY-MM-DD) instead of today.")
        parser.add_argument("--protocol", help="Only this protocol (slug).")
        parser.add_argument("--out", help="Write to this file instead of stdout.")
        add_unblinded_arguments(parser)

    def handle(
        self,
        *args,
        format="json",
        as_of=None,
        protocol=None,
        out=None,
        unblinded=False,
        reason="",
        **opts,
    ):
        reader = reader_for(unblinded, reason)
        as_of = iso_date(as_of) if as_of else summaries.study_today()
        problem = summaries.as_of_problem(as_of)
        if problem:
            raise CommandError(problem)
        enrollments = Enrollment.objects.all()
        protocol_obj = protocol_named(protocol) if protocol else None
        if protocol_obj:
            enrollments = enrollments.filter(protocol=protocol_obj)
        if out and reader is blinding.UNBLINDED_FILE:
            out = unblinded_path(out)
        results = summaries.summarize(enrollments, as_of, reader)
        unblinded = " (unblinded)" if reader is blinding.UNBLINDED_FILE else ""
        record_access(
            None, f"export_summaries{unblinded}", scope=file_scope(protocol_obj, enrollments)
        )
        if reader is blinding.UNBLINDED_FILE:
            record_unblinded_export(
                "summaries",
                protocol=protocol_obj,
                reason=reason.strip(),
                details={"format": format, "as_of": as_of.isoformat(), "out": out},
            )
        if format == "json":
            lines = [summary_json_text(results, as_of)]
        else:
            lines = csv_lines(summary_rows(results))
        if not out:
            write_stdout(self.stdout, lines)
            return
        try:
            with open(out, "w", encoding="utf-8", newline="") as stream:
                stream.writelines(lines)
        except OSError as error:
            raise CommandError(f"cannot write {out}: {error}") from error
        self.stderr.write(f"Wrote {out}.")
