"""Write phase review signatures as CSV, one row per signature (docs/domain.md,
"export_signatures")."""

from diary.management.output import EntriesExportCommand


class Command(EntriesExportCommand):
    help = (
        "Export phase review signatures (valid and invalidated) as CSV, one row per "
        "signature, by study ID (stdout by default)."
    )
    what = "signatures.csv"
