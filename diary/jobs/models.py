"""A job a person started, and the files it reads and writes, kept in the database so
that any app server can show its progress and hand out its download."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting for a worker")
    RUNNING = "running", _("Running")
    DONE = "done", _("Finished")
    FAILED = "failed", _("Failed")


class Job(models.Model):
    # Not guessable: the address of a job page and of its download.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs"
    )
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    # Where the work stands: `stage` in words, `done` of `total` steps (0 of 0: unknown).
    stage = models.CharField(max_length=200, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What the person reads when it is over: "Loaded 120 entries." or why nothing was.
    message = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    # The output file, when the job makes one: its name, type and size; the bytes are in
    # JobChunk. Removed (with the bytes) once `expires_at` has passed.
    file_name = models.CharField(max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    file_size = models.PositiveBigIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["requested_by", "-created_at"])]

    def __str__(self):
        return f"{self.title} ({self.get_status_display()})"

    @property
    def is_over(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        if self.status == JobStatus.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, int(100 * self.done / self.total))


class JobChunk(models.Model):
    """A piece (up to JOB_CHUNK_BYTES) of a job's uploaded input or of its output file."""

    class Role(models.TextChoices):
        INPUT = "input"
        OUTPUT = "output"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="chunks")
    role = models.CharField(max_length=6, choices=Role.choices)
    seq = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "role", "seq"], name="job_chunk_unique_seq")
        ]

    def __str__(self):
        return f"{self.job_id} {self.role} {self.seq}"
