"""Protocol versions: a protocol with enrollments is locked; changes go into a copy."""

from __future__ import annotations

import re

from django.db import transaction

from diary.people.models import User
from diary.trial.models import Arm, Phase, Protocol


def protocol_locked(protocol: Protocol) -> bool:
    """Once anyone is enrolled, the arms and phases are what their data mean."""
    return protocol.pk is not None and protocol.enrollments.exists()


def next_version_slug(slug: str) -> str:
    base = re.sub(r"-v\d+$", "", slug)
    taken = set(Protocol.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    number = 2
    while f"{base}-v{number}" in taken:
        number += 1
    return f"{base}-v{number}"


@transaction.atomic
def copy_protocol(protocol: Protocol, *, by: User | None) -> Protocol:
    """A new version with the same arms and phases, a new seed and no enrollments."""
    slug = next_version_slug(protocol.slug)
    copy = Protocol(
        slug=slug,
        name=f"{protocol.name} ({slug.rsplit('-', 1)[1]})",
        blinding=protocol.blinding,
        block_size=protocol.block_size,
    )
    copy._history_user = by
    copy._change_reason = f"Copied from {protocol.slug}"
    copy.save()
    for arm in protocol.arms.prefetch_related("phases"):
        new_arm = Arm(protocol=copy, code=arm.code, name=arm.name)
        new_arm._history_user = by
        new_arm._change_reason = f"Copied from {protocol.slug}"
        new_arm.save()
        for phase in arm.phases.all():
            new_phase = Phase(
                arm=new_arm,
                order=phase.order,
                kind=phase.kind,
                days=phase.days,
                dose_mg=phase.dose_mg,
            )
            new_phase._history_user = by
            new_phase._change_reason = f"Copied from {protocol.slug}"
            new_phase.save()
    return copy
