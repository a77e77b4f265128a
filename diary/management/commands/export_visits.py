"""Write clinic visits as CSV, one row per visit (docs/domain.md, "export_visits")."""

from diary.management.output import EntriesExportCommand


class Command(EntriesExportCommand):
    help = (
        "Export clinic visits (ESR, pressure and heat pain thresholds) as CSV, one row per "
        "visit, by study ID (stdout by default)."
    )
    what = "visits.csv"
