"""Write data queries as CSV, one row per query (docs/domain.md,
"export_queries")."""

from diary.management.output import EntriesExportCommand


class Command(EntriesExportCommand):
    help = (
        "Export data queries (each step: raised, answered, closed) as CSV, one row per "
        "query, by study ID (stdout by default)."
    )
    what = "queries.csv"
