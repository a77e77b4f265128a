"""Write the codebook: one CSV row per column of the entries, visits and summaries exports."""

from django.core.management.base import BaseCommand

from diary.files.codebook import codebook_rows
from diary.files.exports import csv_lines
from diary.management.output import write_export


class Command(BaseCommand):
    help = (
        "Export the codebook (CSV): name, label, type, allowed values, unit and when it "
        "has a value, for every column of export_entries and export_summaries."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", help="Write to this file instead of stdout.")

    def handle(self, *args, out=None, **options):
        write_export(self, csv_lines(codebook_rows()), out, unblinded=False)
