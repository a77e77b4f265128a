"""Concealed allocation of arms: an uploaded randomization list, or permuted blocks from
the protocol's secret seed.

A protocol with a randomization list (CSV `sequence,arm`, uploaded by someone with
allocation access) gives each blank arm the list's lowest unused sequence number, and
refuses to enroll once the list is used up. Without a list, block k of the protocol is
its arms repeated block_size / len(arms) times, shuffled by a generator seeded with
"<protocol seed>:<k>"; the seed comes from a cryptographic generator when the protocol
is created and is shown only with allocation access. The same list or seed always
gives the same sequence, so those allowed to can reproduce and audit every allocation,
and every complete block is exactly balanced. Either way the enrollment records the
sequence number used (from 1).
"""

from __future__ import annotations

import random

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max


def block(seed: str, block_size: int, arm_codes: list[str], index: int) -> list[str]:
    """The arm codes of block `index` (0-based) in allocation order."""
    codes = sorted(arm_codes)
    if not codes or block_size % len(codes):
        raise ValidationError(
            f"The block size ({block_size}) must be a multiple of the number of arms "
            f"({len(codes)})."
        )
    slots = codes * (block_size // len(codes))
    random.Random(f"{seed}:{index}").shuffle(slots)
    return slots


def arm_code_for(seed: str, block_size: int, arm_codes: list[str], sequence: int) -> str:
    """The arm of sequence number `sequence` (from 1) of the seeded block sequence."""
    position = sequence - 1
    return block(seed, block_size, arm_codes, position // block_size)[position % block_size]


def list_rows_left(protocol) -> int | None:
    """Unused rows of the protocol's randomization list; None when it has no list."""
    slots = protocol.randomization_slots.all()
    if not slots.exists():
        return None
    used = protocol.enrollments.filter(randomization_number__isnull=False)
    return slots.exclude(sequence__in=used.values("randomization_number")).count()


def used_up_message(protocol) -> str:
    count = protocol.randomization_slots.count()
    return (
        f"The randomization list of {protocol.slug} is used up ({count} "
        f"row{'s' if count != 1 else ''}, all allocated). Ask someone with allocation access "
        "to upload more rows, then enroll."
    )


def assign_arm(enrollment) -> None:
    """Give `enrollment` the next allocation of its protocol (not saved: call it inside
    the transaction that saves the enrollment, and save before the next call).

    Locks the protocol row so two coordinators, or two app servers, enrolling at the
    same moment take consecutive sequence numbers; the unique constraint on (protocol,
    randomization_number) backs this up. Raises ValidationError when the protocol's
    randomization list is used up.
    """
    from diary.trial.models import Protocol

    with transaction.atomic():
        protocol = Protocol.objects.select_for_update().get(pk=enrollment.protocol_id)
        used = protocol.enrollments.filter(randomization_number__isnull=False)
        slots = protocol.randomization_slots.select_related("arm")
        if slots.exists():
            slot = (
                slots.exclude(sequence__in=used.values("randomization_number"))
                .order_by("sequence")
                .first()
            )
            if slot is None:
                raise ValidationError(used_up_message(protocol))
            enrollment.arm, enrollment.randomization_number = slot.arm, slot.sequence
            return
        arms = {arm.code: arm for arm in protocol.arms.all()}
        last = used.aggregate(last=Max("randomization_number"))["last"] or 0
        sequence = last + 1
        code = arm_code_for(protocol.randomization_seed, protocol.block_size, list(arms), sequence)
        enrollment.arm, enrollment.randomization_number = arms[code], sequence
