"""Locks: a locked enrollment, or every enrollment of a locked protocol (the database
lock), takes no change from any door. This module is the one place that says whether
data are locked and in which words; every door that changes an enrollment, its diary
entries or its visits asks it (docs/domain.md, "Review and sign-off"). Locking and
unlocking (who may, and when) are in diary.signoff.locking.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from diary.trial.models import Enrollment


@dataclass(frozen=True)
class Lock:
    scope: str  # "enrollment" | "protocol"
    at: dt.datetime
    by: str  # the locker's name and login, for the message


class Locked(ValidationError):
    """A change refused because the data are locked."""


def user_name(user) -> str:
    if user is None:
        return "an administrator"
    full = user.get_full_name().strip()
    return f"{full} ({user.username})" if full else user.username


def lock_of(enrollment: Enrollment) -> Lock | None:
    """The lock that holds `enrollment` (its own first, then its protocol's), or None."""
    if enrollment.locked_at:
        return Lock("enrollment", enrollment.locked_at, user_name(enrollment.locked_by))
    protocol = enrollment.protocol
    if protocol.locked_at:
        return Lock("protocol", protocol.locked_at, user_name(protocol.locked_by))
    return None


def locked_at(enrollment: Enrollment, protocol=None) -> dt.datetime | None:
    """When `enrollment` was locked: its own lock, else its protocol's (for exports;
    `protocol`, when given, is its protocol already read)."""
    return enrollment.locked_at or (protocol or enrollment.protocol).locked_at


def is_locked(enrollment: Enrollment) -> bool:
    return bool(enrollment.locked_at or enrollment.protocol.locked_at)


def lock_problem(enrollment: Enrollment) -> str | None:
    """Staff's words: why nothing of `enrollment` can change, or None when unlocked."""
    lock = lock_of(enrollment)
    if lock is None:
        return None
    when = f"{lock.at:%Y-%m-%d %H:%M} UTC"
    if lock.scope == "protocol":
        return (
            f"{enrollment.study_id} is locked: protocol {enrollment.protocol.slug} was locked "
            f"by {lock.by} on {when} (database lock), so its data take no change; a "
            "coordinator unlocks the protocol with a reason first"
        )
    return (
        f"{enrollment.study_id} is locked by {lock.by} since {when}, so its data take no "
        "change; a coordinator unlocks it with a reason first"
    )


def protocol_lock_problem(protocol) -> str | None:
    """Why `protocol` takes no new enrollment (the database lock), or None."""
    if not protocol.locked_at:
        return None
    return (
        f"{protocol.slug} is locked: it was locked by {user_name(protocol.locked_by)} on "
        f"{protocol.locked_at:%Y-%m-%d %H:%M} UTC (database lock), so it takes no new "
        "enrollment; a coordinator unlocks the protocol with a reason first"
    )


def patient_lock_message(enrollment: Enrollment) -> str | None:
    """The patient's words (translated): her diary is locked, by whom."""
    lock = lock_of(enrollment)
    if lock is None:
        return None
    return gettext(
        "Your diary is locked for analysis by your study team (%(name)s) since %(date)s: "
        "nothing in it can be changed any more."
    ) % {"name": lock.by, "date": f"{lock.at:%Y-%m-%d}"}


def refuse_if_locked(enrollment: Enrollment) -> None:
    """Raise Locked (with the staff message) when `enrollment` is locked."""
    problem = lock_problem(enrollment)
    if problem:
        raise Locked(problem)
