"""Write the diary as one FHIR R4 Bundle, streamed (docs/fhir.md)."""

from diary.management.output import EntriesExportCommand


class Command(EntriesExportCommand):
    help = (
        "Export the diary as a FHIR R4 JSON Bundle: the Questionnaire, a Patient per "
        "enrollment (study ID only) and a QuestionnaireResponse per entry (stdout by default)."
    )
    what = "fhir.json"
