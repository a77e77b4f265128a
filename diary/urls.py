import datetime as dt

from django.urls import path, register_converter

from diary.views import clinic, exports, patient


class IsoDateConverter:
    """YYYY-MM-DD in the URL; an impossible date (2026-02-30) is a 404, not an error."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> dt.date:
        return dt.date.fromisoformat(value)  # ValueError -> no match -> 404

    def to_url(self, value: dt.date) -> str:
        return value.isoformat()


register_converter(IsoDateConverter, "isodate")

app_name = "diary"
urlpatterns = [
    path("diary/", patient.today, name="today"),
    path("diary/history/", patient.history, name="history"),
    path("diary/settings/", patient.reminder_settings, name="settings"),
    path("diary/<isodate:day>/", patient.day, name="day"),
    path("physician/", clinic.physician_home, name="physician_home"),
    path("physician/calendar/", clinic.calendar, name="calendar"),
    path("physician/alerts/", clinic.alerts, name="alerts"),
    path(
        "physician/alerts/<int:pk>/acknowledge/",
        clinic.acknowledge_alert,
        name="acknowledge_alert",
    ),
    path("physician/cohort/", clinic.cohort, name="cohort"),
    path("exports/", exports.exports, name="exports"),
    path("exports/codebook.csv", exports.codebook, name="codebook"),
    path("physician/patients/<str:study_id>/", clinic.patient_detail, name="patient_detail"),
    path(
        "physician/patients/<str:study_id>/report.pdf",
        clinic.patient_report,
        name="patient_report",
    ),
]
