import datetime as dt

from django.urls import include, path, register_converter

from diary.views import (
    clinic,
    exports,
    imports,
    jobs,
    offline,
    patient,
    queries,
    signoff,
    visits,
)


class IsoDateConverter:
    """YYYY-MM-DD in the URL; an impossible date (2026-02-30) is a 404, not an error."""

    regex = r"\d{4}-\d{2}-\d{2}"

    def to_python(self, value: str) -> dt.date:
        return dt.date.fromisoformat(value)  # ValueError -> no match -> 404

    def to_url(self, value: dt.date) -> str:
        return value.isoformat()


register_converter(IsoDateConverter, "isodate")

app_name = "diary"

# Each part of the site, with the views module that serves it.
patient_urls = [
    path("", patient.today, name="today"),
    path("history/", patient.history, name="history"),
    path("settings/", patient.reminder_settings, name="settings"),
    path("questions/", queries.questions, name="questions"),
    path("questions/<int:pk>/", queries.question, name="question"),
    path("sw.js", offline.service_worker, name="service_worker"),
    path("sync/", offline.sync, name="sync"),
    path("<isodate:day>/", patient.day, name="day"),
]
clinic_urls = [
    path("", clinic.physician_home, name="physician_home"),
    path("calendar/", clinic.calendar, name="calendar"),
    path("alerts/", clinic.alerts, name="alerts"),
    path("alerts/<int:pk>/acknowledge/", clinic.acknowledge_alert, name="acknowledge_alert"),
    path("cohort/", clinic.cohort, name="cohort"),
    path("queries/", queries.query_list, name="queries"),
    path("queries/<int:pk>/", queries.query_detail, name="query_detail"),
    path("patients/<str:study_id>/queries/new/", queries.query_new, name="query_new"),
    path("patients/<str:study_id>/", clinic.patient_detail, name="patient_detail"),
    path("patients/<str:study_id>/report.pdf", clinic.patient_report, name="patient_report"),
    path(
        "patients/<str:study_id>/phases/<int:order>/review/",
        signoff.phase_review,
        name="phase_review",
    ),
    path("patients/<str:study_id>/visits/new/", visits.new_visit, name="visit_new"),
    path("patients/<str:study_id>/visits/<int:pk>/", visits.edit_visit, name="visit_edit"),
    path("patients/<str:study_id>/visits/<int:pk>/void/", visits.void_visit, name="visit_void"),
]
export_urls = [
    path("", exports.exports, name="exports"),
    path("codebook.csv", exports.codebook, name="codebook"),
    path("job/", exports.export_job, name="export_job"),
]
import_urls = [
    path("", imports.imports, name="imports"),
    path("<slug:kind>/", imports.upload, name="import_upload"),
    path("check/<uuid:job_id>/", imports.check, name="import_check"),
    path("check/<uuid:job_id>/import/", imports.start, name="import_start"),
]
job_urls = [
    path("", jobs.job_list, name="job_list"),
    path("<uuid:job_id>/", jobs.job_page, name="job"),
    path("<uuid:job_id>/status/", jobs.job_status, name="job_status"),
    path("<uuid:job_id>/download/", jobs.job_download, name="job_download"),
]

urlpatterns = [
    path("diary/", include(patient_urls)),
    path("physician/", include(clinic_urls)),
    path("exports/", include(export_urls)),
    path("imports/", include(import_urls)),
    path("jobs/", include(job_urls)),
]
