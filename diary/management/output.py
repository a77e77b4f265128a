"""How the export commands write: to stdout, or to a file (an unblinded one is always
named so), and quietly when the reader of stdout stops early (`| head`)."""

import os
import sys
from collections.abc import Iterable

from django.core.management.base import BaseCommand, CommandError

from diary.files.exports import run_export, unblinded_path
from diary.management.unblinding import add_unblinded_arguments, reader_for
from diary.trial import blinding, dates
from diary.trial.models import Enrollment


def write_stdout(stdout, lines: Iterable[str]) -> None:
    try:
        for line in lines:
            stdout.write(line, ending="")
        stdout.flush()
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def write_export(command, lines: Iterable[str], out: str | None, *, unblinded: bool) -> None:
    """Write an export's lines to `out` (a path; -UNBLINDED is added to an unblinded
    file's name) or to the command's stdout."""
    if not out:
        write_stdout(command.stdout, lines)
        return
    if unblinded:
        out = unblinded_path(out)
    try:
        with open(out, "w", encoding="utf-8", newline="") as stream:
            stream.writelines(lines)
    except OSError as error:
        raise CommandError(f"cannot write {out}: {error}") from error
    command.stderr.write(f"Wrote {out}.")


def protocol_named(slug: str):
    """The protocol of a command's --protocol, or a CommandError naming the known ones."""
    from diary.trial.models import Protocol

    try:
        return Protocol.objects.get(slug=slug)
    except Protocol.DoesNotExist:
        slugs = ", ".join(Protocol.objects.values_list("slug", flat=True))
        raise CommandError(f'No protocol "{slug}"; known: {slugs}.') from None


class EntriesExportCommand(BaseCommand):
    """An export of every entry (`what`, a key of diary.files.exports.EXPORTS), streamed to
    stdout or `--out`, blinded unless `--unblinded --reason`."""

    what = ""
    # Reading data needs none of the system checks (URLs, admin, templates): the app
    # server runs them.
    requires_system_checks = []

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
            self.what,
            enrollments,
            reader=reader,
            protocol=protocol,
            as_of=dates.study_today(),
            reason=reason.strip(),
            details={"out": out},
        )
        write_export(self, export.lines, out, unblinded=reader is blinding.UNBLINDED_FILE)
