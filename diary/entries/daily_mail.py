"""E-mails that go out at most once a day, whichever of many runs (cron or a systemd
timer, on any number of servers) gets there first: the daily reminders of
diary.entries.reminders and the physicians' alert digests of diary.figures.alerts.

A run first claims the day with a mark, a row whose unique constraint only one run can
insert; the run that holds it sends the e-mail. If the e-mail cannot be sent, the mark
is given back so that the next run tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.core.mail import EmailMessage
from django.db import IntegrityError, models, transaction


@dataclass
class MailCounts:
    """What one run did with the day's e-mails."""

    sent: int = 0
    failed: int = 0  # given back: the next run tries again
    already_claimed: int = 0  # by another run


def claim(mark_model: type[models.Model], **day) -> models.Model | None:
    """Insert the day's mark (`day`: its fields), or None if another run already did. On
    PostgreSQL a concurrent insert waits for the first one's commit and then fails."""
    try:
        with transaction.atomic():
            return mark_model.objects.create(**day)
    except IntegrityError:
        return None


def send_or_give_back(
    mark: models.Model,
    message: Callable[[], EmailMessage],
    logger: logging.Logger,
    failure: str,
    *failure_args,
) -> bool:
    """Send the e-mail that `message()` builds, for the day that `mark` claims. If it
    cannot be built or sent, log `failure % failure_args` with the exception on `logger`
    and delete the mark (the next run tries again): False."""
    try:
        message().send()
    except Exception:
        logger.exception(failure, *failure_args)
        mark.delete()
        return False
    return True
