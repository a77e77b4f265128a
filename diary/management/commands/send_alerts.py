"""Raise and close physicians' alerts, and send the day's digest e-mails (diary/alerts.py).

The job workers run the same every 5 minutes (diary/tasks.py, docs/jobs.md); this command
does it by hand. Several copies may run at once on different servers: each alert is
raised once per episode and each digest is sent once.
"""

from django.core.management.base import BaseCommand, CommandError

from diary.figures import alerts
from diary.links import links_note


class Command(BaseCommand):
    help = "Raise and close alerts for physicians and send the daily digests (by hand)."

    def handle(self, *args, **options):
        self.stdout.write(links_note())
        result = alerts.run()
        self.stdout.write(
            f"Raised {result.raised} alert{'s' if result.raised != 1 else ''}"
            f", closed {result.closed}"
            f"; sent {result.sent} digest{'s' if result.sent != 1 else ''}"
            f"; {result.failed} failed (retried on the next run)"
            f"; {result.already_claimed} already taken by another run."
        )
        if result.failed:
            raise CommandError(f"{result.failed} digest(s) could not be sent; see the log.")
