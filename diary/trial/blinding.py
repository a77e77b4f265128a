"""Who is blinded to what, and the schedule as each reader sees it.

This is the one place that decides blinding. Every page, chart, e-mail, summary (its SQL
included), file and admin column asks `schedule_for`, `arm_for`, `is_blinded` or
`sees_allocation`; none of them looks at a protocol's blinding or an enrollment's
unblinding by itself.

Readers:
- the patient herself: blinded on a single- or double-blind protocol until she is told
  her arm ("Tell the patient"). Unblinding the protocol or her care team does not tell
  her.
- physicians and coordinators: blinded on a double-blind protocol until the protocol is
  unblinded, or the care team is unblinded for this one patient.
- staff with allocation access (the unblinded statistician or pharmacist): never.
- files: BLINDED_FILE shows what a blinded physician sees of a protocol (a patient's
  care-team unblinding does not reach files); UNBLINDED_FILE shows everything and is
  written only for allocation access, with a reason, and audited.

A blinded reader sees treatment phases without their kinds, merged where their lengths
would give the arm away (diary.trial.phases), never an arm, a seed, a randomization list or a
randomization number.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied

from diary.trial.models import Blinding, Enrollment, Protocol
from diary.trial.phases import PhasePlan, Schedule


class FileReader:
    """The reader of an export file, which has no account of its own."""

    def __init__(self, name: str, unblinded: bool) -> None:
        self.name = name
        self.unblinded = unblinded

    def __repr__(self) -> str:
        return f"<{self.name}>"


BLINDED_FILE = FileReader("blinded file", unblinded=False)
UNBLINDED_FILE = FileReader("unblinded file", unblinded=True)


def sees_allocation(reader) -> bool:
    """Seeds, randomization lists and every arm: allocation access only."""
    return reader is UNBLINDED_FILE or bool(getattr(reader, "has_allocation_access", False))


def require_allocation_access(user) -> None:
    """Unblinding, allocation lists and seeds, and unblinded files: only for staff with
    allocation access (sees_allocation); everyone else is refused."""
    if not sees_allocation(user):
        raise PermissionDenied(
            "Only staff with allocation access (the unblinded statistician or pharmacist) "
            "may do this; a superuser grants it."
        )


def _care_team_blinded(protocol: Protocol, enrollment: Enrollment | None) -> bool:
    if protocol.blinding != Blinding.DOUBLE or protocol.unblinded_at is not None:
        return False
    return enrollment is None or enrollment.care_team_unblinded_at is None


def is_blinded(reader, protocol: Protocol, enrollment: Enrollment | None = None) -> bool:
    """Whether `reader` (a user or a FileReader) is blinded to the arm of `enrollment`,
    or, without one, to the arms of `protocol` as a whole (cohorts, files)."""
    if protocol.blinding == Blinding.OPEN or sees_allocation(reader):
        return False
    if isinstance(reader, FileReader):
        return protocol_blinds_care_team(protocol)
    if enrollment is not None and reader.pk is not None and reader.pk == enrollment.patient_id:
        return not patient_sees_arm(enrollment)
    if not getattr(reader, "is_physician", False) and not getattr(reader, "is_coordinator", False):
        return True  # a patient (or anyone else) reading about the protocol as a whole
    return _care_team_blinded(protocol, enrollment)


def protocol_blinds_care_team(protocol: Protocol) -> bool:
    """Whether physicians and coordinators are blinded to the arms of `protocol` (a
    double-blind protocol not yet unblinded); some patients' care teams may still have
    been unblinded one by one (care_team_sees_arm)."""
    return _care_team_blinded(protocol, None)


def protocol_blinds_patients(protocol: Protocol) -> bool:
    """Whether the patients of `protocol` are blinded until they are told their arm."""
    return protocol.blinding != Blinding.OPEN


def patient_sees_arm(enrollment: Enrollment) -> bool:
    """Whether the patient herself sees her arm: open label, or she has been told."""
    return (
        not protocol_blinds_patients(enrollment.protocol)
        or enrollment.patient_unblinded_at is not None
    )


def care_team_sees_arm(enrollment: Enrollment) -> bool:
    """Whether her physician and the coordinators see her arm."""
    return enrollment.protocol.blinding == Blinding.OPEN or not _care_team_blinded(
        enrollment.protocol, enrollment
    )


def schedule_for(enrollment: Enrollment, reader) -> Schedule:
    """The phases of `enrollment` that `reader` may see, with their labels, dates and
    lengths (span_on(day) gives the one a day falls in)."""
    if not is_blinded(reader, enrollment.protocol, enrollment):
        return enrollment.schedule
    return Schedule(
        enrollment.start_date, enrollment.protocol.layout.plans(enrollment.arm_id, True)
    )


def file_schedules(reader: FileReader):
    """`schedule_for` of a file's reader, worked out once per arm and start date: a
    file judges each protocol as a whole, so patients who share both share a schedule."""
    cache: dict = {}

    def schedule_of(enrollment: Enrollment) -> Schedule:
        key = (enrollment.arm_id, enrollment.start_date)
        if key not in cache:
            cache[key] = schedule_for(enrollment, reader)
        return cache[key]

    return schedule_of


def arm_for(enrollment: Enrollment, reader) -> str | None:
    """The arm code `reader` may see, None while she is blinded."""
    if is_blinded(reader, enrollment.protocol, enrollment):
        return None
    return enrollment.arm.code


def plans_by_arm(protocols, reader) -> dict[int, list[PhasePlan]]:
    """{arm id: its phases as `reader` sees them} for every arm of `protocols` (with
    arms and phases loaded), judged per protocol as a whole: the summaries' SQL places
    entries in these phases."""
    return {
        arm_id: protocol.layout.plans(arm_id, is_blinded(reader, protocol))
        for protocol in protocols
        for arm_id in protocol.layout.true
    }


def treatment_window_ended(enrollment: Enrollment, today: dt.date) -> bool:
    """Whether the patient's last treatment day is behind her (her own calendar)."""
    end = enrollment.schedule.treatment_end
    return end is not None and today > end
