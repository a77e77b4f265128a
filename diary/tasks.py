"""The work the job workers do (docs/jobs.md): the periodic runs every server shares,
scheduled once per period across all workers, and the kinds of jobs people start.

The schedules are written to django-q2's table after every `migrate` (`sync_schedules`),
so a new deployment brings its own; each periodic function does what its management
command does, and is safe to run twice at once (each e-mail is claimed before sending).
"""

import logging

from django.db import transaction

from diary.jobs import runner

logger = logging.getLogger(__name__)

# Imports on the web (diary.files.imports.jobs): the check of an upload, then its import.
runner.register("import-check", "diary.files.imports.jobs.run_check")
runner.register("import-load", "diary.files.imports.jobs.run_import")

# name -> (function, every N minutes)
SCHEDULES = {
    "Alerts and digests": ("diary.tasks.refresh_alerts", 5),
    "Reminder e-mails": ("diary.tasks.send_reminders", 5),
    "Remove expired job files": ("diary.tasks.remove_expired_files", 60),
}


# A whole study's export from the Downloads page (diary/files/export_jobs.py).
runner.register("export", "diary.files.export_jobs.run")


def refresh_alerts() -> str:
    from diary.figures import alerts

    result = alerts.run()
    return (
        f"raised {result.raised}, closed {result.closed}, "
        f"sent {result.sent}, failed {result.failed}"
    )


def send_reminders() -> str:
    from diary.entries.reminders import send_due_reminders
    from diary.queries.mail import send_pending

    result = send_due_reminders()
    # The e-mails about study team questions that could not go out when raised.
    questions = send_pending()
    return (
        f"sent {result.sent}, failed {result.failed}, taken by another run "
        f"{result.already_claimed}; question e-mails sent {questions}"
    )


def remove_expired_files() -> str:
    return f"removed {runner.remove_expired()} expired file(s)"


def sync_schedules(**kwargs) -> None:
    """Make django-q2's schedules those of SCHEDULES (after `migrate`): a changed period
    applies from the next run; a schedule no longer listed is removed."""
    from django_q.models import Schedule

    with transaction.atomic():
        for name, (func, minutes) in SCHEDULES.items():
            schedule, created = Schedule.objects.get_or_create(
                name=name,
                defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes},
            )
            if not created and (schedule.func, schedule.minutes) != (func, minutes):
                schedule.func, schedule.minutes = func, minutes
                schedule.schedule_type = Schedule.MINUTES
                schedule.save()
        Schedule.objects.filter(func__startswith="diary.").exclude(name__in=SCHEDULES).delete()
