"""Where a phase is shown, its signatures: "Signed by <printed name>, <date and time with
UTC offset>, <meaning>", "changed after signing: sign again", or "Sign". One query for
all her phases."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from diary.signoff.models import PhaseSignature
from diary.signoff.phases import ReviewPhase, review_phases
from diary.trial.models import Enrollment
from diary.trial.phases import Schedule

CHANGED = "changed after signing: sign again"


def signed_line(signature: PhaseSignature) -> str:
    return (
        f"Signed by {signature.printed_name}, {signature.signed_at:%Y-%m-%d %H:%M}+00:00, "
        f"{signature.meaning}"
    )


def invalidated_line(signature: PhaseSignature) -> str:
    return (
        f"{signed_line(signature)}; {CHANGED} (invalidated "
        f"{signature.invalidated_at:%Y-%m-%d %H:%M}+00:00 by {signature.invalidated_by_change})"
    )


@dataclass
class PhaseSignatures:
    phase: ReviewPhase
    valid: list[PhaseSignature] = field(default_factory=list)
    invalidated: list[PhaseSignature] = field(default_factory=list)

    @property
    def state(self) -> str:
        """signed | changed (signed, then changed: sign again) | unsigned | open (not ended)."""
        if self.valid:
            return "signed"
        if self.invalidated:
            return "changed"
        return "unsigned" if self.phase.signable else "open"

    @property
    def lines(self) -> list[str]:
        return [signed_line(s) for s in self.valid]

    @property
    def invalidated_lines(self) -> list[str]:
        return [invalidated_line(s) for s in self.invalidated]


def signature_states(
    enrollment: Enrollment, schedule: Schedule, today: dt.date
) -> list[PhaseSignatures]:
    """Her phases (as `schedule`'s reader sees them) with their signatures. A signature
    belongs to the phase of its order and days; one signed under another blinding (other
    days) shows with the phase whose order it has."""
    states = [PhaseSignatures(phase) for phase in review_phases(enrollment, schedule, today)]
    by_order = {state.phase.order: state for state in states}
    for signature in PhaseSignature.objects.filter(enrollment=enrollment).order_by("signed_at"):
        state = by_order.get(signature.phase_order)
        if state is None:
            continue
        (state.invalidated if signature.invalidated_at else state.valid).append(signature)
    return states
