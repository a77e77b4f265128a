"""The --unblinded --reason options shared by the export commands and import_enrollments."""

from django.core.management.base import CommandError

from diary.trial import blinding

EXPORT_HELP = (
    "Show arms and treatment names of still-blinded protocols. Needs --reason; "
    "recorded in the audit trail; a file's name gets -UNBLINDED."
)
EXPORT_REASON_HELP = "Why the unblinded file is needed."


def add_unblinded_arguments(
    parser, help: str = EXPORT_HELP, reason_help: str = EXPORT_REASON_HELP
) -> None:
    parser.add_argument("--unblinded", action="store_true", help=help)
    parser.add_argument("--reason", default="", help=reason_help)


def unblinded_reason(unblinded: bool, reason: str, what: str = "file") -> str:
    """The reason the options give ("" without --unblinded): --unblinded needs one, and
    --reason goes with --unblinded only. `what`: "file", "import"."""
    reason = (reason or "").strip()
    if not unblinded:
        if reason:
            raise CommandError(f"--reason goes with --unblinded; a blinded {what} needs none.")
        return ""
    if not reason:
        raise CommandError(
            f'An unblinded {what} needs a reason: add --reason "..." (it is kept in the audit '
            "trail)."
        )
    return reason


def reader_for(unblinded: bool, reason: str):
    """The file reader the options ask for; an unblinded file needs a reason."""
    unblinded_reason(unblinded, reason, "file")
    return blinding.UNBLINDED_FILE if unblinded else blinding.BLINDED_FILE
