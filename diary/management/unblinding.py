"""The --unblinded --reason options shared by the export commands."""

from django.core.management.base import CommandError

from diary import blinding


def add_unblinded_arguments(parser) -> None:
    parser.add_argument(
        "--unblinded",
        action="store_true",
        help="Show arms and treatment names of still-blinded protocols. Needs --reason; "
        "recorded in the audit trail; a file's name gets -UNBLINDED.",
    )
    parser.add_argument("--reason", default="", help="Why the unblinded file is needed.")


def reader_for(unblinded: bool, reason: str):
    """The file reader the options ask for; an unblinded file needs a reason."""
    if not unblinded:
        if reason.strip():
            raise CommandError("--reason goes with --unblinded; a blinded file needs none.")
        return blinding.BLINDED_FILE
    if not reason.strip():
        raise CommandError(
            'An unblinded file needs a reason: add --reason "..." (it is kept in the audit trail).'
        )
    return blinding.UNBLINDED_FILE
