"""E-mail today's reminder to every patient who is due one (diary/reminders.py).

The job workers run the same every 5 minutes (diary/tasks.py, docs/jobs.md); this command
does it by hand. Several copies may run at once on different servers: each reminder is
still sent once.
"""

from django.core.management.base import BaseCommand, CommandError

from diary.entries.reminders import send_due_reminders
from diary.links import links_note


class Command(BaseCommand):
    help = "Send the daily reminder e-mails that are due now (safe to run every few minutes)."

    def handle(self, *args, **options):
        self.stdout.write(links_note())
        result = send_due_reminders()
        self.stdout.write(
            f"Sent {result.sent} reminder{'s' if result.sent != 1 else ''}"
            f"; {result.failed} failed (retried on the next run)"
            f"; {result.already_claimed} already taken by another run."
        )
        if result.failed:
            # A non-zero exit makes cron / systemd report the failure; the log has why.
            raise CommandError(f"{result.failed} reminder(s) could not be sent; see the log.")
