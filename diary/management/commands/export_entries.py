"""Write diary entries as long-format CSV, streamed (docs/domain.md, "export_entries")."""

from diary.management.output import EntriesExportCommand


class Command(EntriesExportCommand):
    help = "Export diary entries as CSV, one row per entry, by study ID (stdout by default)."
    what = "entries.csv"
