"""import_randomization_list: the rows of a protocol's randomization list (CSV
`sequence,arm`), uploaded in the admin.
"""

from __future__ import annotations

from pathlib import Path

from diary.audit.models import AuditAction, AuditEvent, shell_actor
from diary.entries.forms import WHOLE_NUMBER
from diary.files.imports.reading import CsvRows, Outcome, _fail_if_any, _parsed
from diary.files.imports.writing import _all_or_nothing
from diary.trial.models import Protocol, RandomizationSlot

LIST_COLUMNS = ["sequence", "arm"]
# A protocol never allocates more: a longer file is refused as soon as its reading gets
# past this many rows, long before a worker's timeout.
LIST_ROWS_MAX = 100_000


def import_randomization_list(
    path,
    protocol: Protocol,
    *,
    by=None,
    replace=False,
    file_name: str = "",
    check_only: bool = False,
) -> Outcome:
    """A randomization list (CSV `sequence,arm`) for `protocol`: its rows are added to
    the protocol's list (rows already there with the same arm are left as they are).
    With `replace`, the rows uploaded before are dropped first, which is allowed only
    while none of them has been used. Refused when the protocol has already randomized
    someone from its seed: a sequence does not change in the middle. `check_only`: as
    import_users."""
    rows = CsvRows(path, LIST_COLUMNS, max_rows=LIST_ROWS_MAX, what="a randomization list")
    arms = {arm.code.lower(): arm for arm in protocol.arms.all()}
    stored = {slot.sequence: slot for slot in protocol.randomization_slots.select_related("arm")}
    randomized = protocol.enrollments.filter(randomization_number__isnull=False)
    used = set(randomized.values_list("randomization_number", flat=True))
    problems: list[tuple[int, str]] = []
    if used and not stored:
        problems.append(
            (
                1,
                f"{protocol.slug} has already randomized {len(used)} enrollment(s) from its "
                "seed; a randomization list can only be used from the first allocation on",
            )
        )
    if replace and stored:
        if used:
            problems.append(
                (1, f"{len(used)} row(s) of the list are already used; it cannot be replaced")
            )
        stored = {}
    new, seen, outcome = [], {}, Outcome()
    for line, row in rows:
        errors: list[str] = []
        sequence = _parsed(errors, _parse_sequence, row["sequence"])
        arm = arms.get(row["arm"].lower())
        if arm is None:
            known = ", ".join(sorted(a.code for a in arms.values())) or "none"
            errors.append(f'arm "{row["arm"]}" is not an arm of {protocol.slug} ({known})')
        if sequence is not None:
            if sequence in seen:
                errors.append(f"sequence {sequence} appears again (first on line {seen[sequence]})")
            seen.setdefault(sequence, line)
            slot = stored.get(sequence)
            if slot is not None and arm is not None and slot.arm_id != arm.pk:
                errors.append(
                    f"sequence {sequence} is already in the list with another arm; uploaded "
                    "rows cannot change"
                )
        problems.extend((line, error) for error in errors)
        if errors:
            continue
        if sequence in stored:
            outcome.unchanged += 1
        else:
            new.append(RandomizationSlot(protocol=protocol, sequence=sequence, arm=arm))
    # A file that could not be read (not UTF-8, ...) has its own one message.
    if not problems and not rows.problems and not new and not outcome.unchanged:
        problems.append((2, "the file has no rows; give one row per sequence number"))
    _fail_if_any(rows, problems)
    if check_only:
        outcome.created = len(new)
        return outcome
    with _all_or_nothing():
        if replace:
            protocol.randomization_slots.all().delete()
        for slot in new:
            slot.uploaded_by = by
        RandomizationSlot.objects.bulk_create(new)
        AuditEvent.objects.create(
            action=AuditAction.RANDOMIZATION_LIST,
            actor=by,
            actor_name="" if by is not None else shell_actor(),
            protocol=protocol,
            # Counts only: the audit trail is read by blinded staff too.
            details={
                "file": file_name or Path(path).name,
                "rows added": len(new),
                "rows already there": outcome.unchanged,
                "replaced": bool(replace),
            },
        )
    outcome.created = len(new)
    return outcome


def _parse_sequence(value: str) -> int:
    if WHOLE_NUMBER.fullmatch(value) and int(value) >= 1:
        return int(value)
    if not value:
        raise ValueError("sequence is required (a whole number from 1)")
    raise ValueError(f'sequence "{value}" must be a whole number from 1')
