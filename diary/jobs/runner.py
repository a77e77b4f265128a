"""Starting a job, running it once, and its progress and files.

`start` records the job and puts it on django-q2's queue in the same transaction's
aftermath (on commit), so a worker never sees a job that was rolled back. The queue hands
each job to one worker; if that worker dies, the job is handed out again after
Q_CLUSTER["retry"] seconds. `run` makes a second hand-out harmless: a job that is over is
left alone, one that was cut off starts again from nothing (its partial output deleted),
and a job's writes that must happen once (an import) commit in the same transaction as
the job's "done" (`Context.finish_in`)."""

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from .models import Job, JobChunk, JobStatus

logger = logging.getLogger(__name__)

# kind -> the function doing the work (or its dotted path, imported when first needed),
# registered by diary/tasks.py.
HANDLERS: dict[str, Callable[["Context"], str] | str] = {}

# Progress is written every PROGRESS_EVERY steps or PROGRESS_SECONDS, whichever comes
# first, so a job of a million rows does not write a million updates.
PROGRESS_EVERY = 500
PROGRESS_SECONDS = 1.0


class JobRefused(Exception):
    """The job cannot do what was asked; the message says why, in the person's words,
    and is shown on the job's page (nothing was written)."""


def register(kind: str, function: Callable[["Context"], str] | str) -> None:
    HANDLERS[kind] = function


def _handler(kind: str) -> Callable[["Context"], str]:
    function = HANDLERS[kind]
    if isinstance(function, str):
        function = HANDLERS[kind] = import_string(function)
    return function


def start(kind: str, user, title: str, params: dict | None = None, upload=None) -> Job:
    """Record a job for `user` and queue it. `upload` (a file or bytes) is kept as the
    job's input, so the worker that takes it, on any server, can read it."""
    if kind not in HANDLERS:
        raise KeyError(kind)
    with transaction.atomic():
        job = Job.objects.create(
            kind=kind, title=title[:200], requested_by=user, params=params or {}
        )
        if upload is not None:
            _store(job, JobChunk.Role.INPUT, _pieces_of(upload))
        transaction.on_commit(lambda: _queue(job.pk))
    return job


def _queue(job_id) -> None:
    if settings.JOBS_RUN_INLINE:
        run(str(job_id))
        return
    from django_q.tasks import async_task

    async_task("diary.jobs.runner.run", str(job_id), task_name=f"job {job_id}")


def run(job_id: str) -> None:
    """Do job `job_id` (called by a worker). Never raises: a failure is the job's
    message, and the queue must not hand the job out again for it."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.is_over:
            return
        # The queue hands a job out at most Q_CLUSTER["max_attempts"] times; a job cut
        # off (worker killed, or stopped at JOB_TIMEOUT) on all but the last is failed
        # on the last instead of being left "running" for ever.
        if job.attempts >= max(1, settings.Q_CLUSTER.get("max_attempts", 3) - 1):
            Context(job).fail(
                _(
                    "The job was cut off %(count)s times (it took too long, or its worker "
                    "stopped); nothing was changed. Try again later, or with a smaller file."
                )
                % {"count": job.attempts}
            )
            return
        job.attempts += 1
        job.status = JobStatus.RUNNING
        job.started_at = timezone.now()
        job.done = job.total = 0
        job.stage = ""
        job.save(update_fields=["attempts", "status", "started_at", "done", "total", "stage"])
        # A job handed out again starts from nothing.
        JobChunk.objects.filter(job=job, role=JobChunk.Role.OUTPUT).delete()
    context = Context(job)
    try:
        message = _handler(job.kind)(context)
    except JobRefused as refused:
        context.fail(str(refused))
    except Exception:
        logger.exception("Job %s (%s) failed", job.pk, job.kind)
        context.fail(
            _(
                "The job stopped on an unexpected error; nothing was changed. The team "
                "has been told; try again later."
            )
        )
    else:
        if not context.finished:
            context.finish(message)


@dataclass
class Context:
    """What a job's function gets: its job, its input, progress and output."""

    job: Job
    finished: bool = False
    _written_at: float = 0.0

    @property
    def params(self) -> dict:
        return self.job.params

    @property
    def user(self):
        return self.job.requested_by

    def input_bytes(self) -> bytes:
        return b"".join(self.input_pieces())

    def input_pieces(self) -> Iterator[bytes]:
        return pieces(self.job, JobChunk.Role.INPUT)

    def progress(self, done: int, total: int | None = None, stage: str | None = None) -> None:
        """Say how far the job has got; written at a new stage, at the end, and every
        PROGRESS_EVERY steps or PROGRESS_SECONDS in between."""
        job = self.job
        changed_stage = stage is not None and stage != job.stage
        now = time.monotonic()
        if (
            not changed_stage
            and done % PROGRESS_EVERY
            and done != (total or job.total)
            and now - self._written_at < PROGRESS_SECONDS
        ):
            return
        self._written_at = now
        job.done = done
        if total is not None:
            job.total = total
        if stage is not None:
            job.stage = stage[:200]
        Job.objects.filter(pk=job.pk).update(done=job.done, total=job.total, stage=job.stage)

    def counted(self, items: Iterable, total: int, stage: str) -> Iterator:
        """`items`, reporting progress as they are taken."""
        self.progress(0, total, stage)
        count = 0
        for count, item in enumerate(items, 1):
            yield item
            self.progress(count)
        self.progress(count, max(total, count))

    def write_output(self, name: str, content_type: str, pieces: Iterable[bytes | str]) -> None:
        """Keep the job's output file (streamed: never all of it in memory)."""
        size = _store(self.job, JobChunk.Role.OUTPUT, _encoded(pieces))
        job = self.job
        job.file_name, job.content_type, job.file_size = name, content_type, size
        job.expires_at = timezone.now() + settings.JOB_FILES_KEPT
        Job.objects.filter(pk=job.pk).update(
            file_name=name, content_type=content_type, file_size=size, expires_at=job.expires_at
        )

    def output_pieces(self) -> Iterator[bytes]:
        return pieces(self.job, JobChunk.Role.OUTPUT)

    @contextmanager
    def finish_in(self, message_if_committed: str, result: dict | None = None):
        """A transaction whose writes and the job's "done" commit together: handed out
        twice, the job applies them once. It gives a dict of the message and result the
        job finishes with, which the writes may change (an import's counts)."""
        with transaction.atomic():
            job = Job.objects.select_for_update().get(pk=self.job.pk)
            if job.is_over:
                raise JobRefused(job.message)
            ending = {"message": message_if_committed, "result": result}
            yield ending
            self.finish(ending["message"], ending["result"])

    def finish(self, message: str, result: dict | None = None) -> None:
        self._end(JobStatus.DONE, message, result)

    def fail(self, message: str, result: dict | None = None) -> None:
        # A failure keeps no output.
        JobChunk.objects.filter(job=self.job, role=JobChunk.Role.OUTPUT).delete()
        self._end(JobStatus.FAILED, message, result)

    def _end(self, status, message, result) -> None:
        job = self.job
        job.status, job.message, job.finished_at = status, message, timezone.now()
        if result is not None:
            job.result = result
        if status == JobStatus.DONE:
            job.done = max(job.done, job.total)
        else:
            job.file_name, job.content_type, job.file_size = "", "", 0
        # Input is no longer needed once the job is over.
        JobChunk.objects.filter(job=job, role=JobChunk.Role.INPUT).delete()
        job.save()
        self.finished = True


def remove_expired(now=None) -> int:
    """Delete the output files kept past their time; the jobs stay, saying so."""
    now = now or timezone.now()
    expired = list(
        Job.objects.filter(expires_at__lte=now).exclude(file_name="").values_list("pk", flat=True)
    )
    if expired:
        JobChunk.objects.filter(job_id__in=expired).delete()
        Job.objects.filter(pk__in=expired).update(file_name="", content_type="", file_size=0)
    return len(expired)


def _pieces_of(upload) -> Iterator[bytes]:
    if isinstance(upload, bytes):
        size = settings.JOB_CHUNK_BYTES
        for offset in range(0, len(upload), size):
            yield upload[offset : offset + size]
    else:
        yield from upload.chunks(settings.JOB_CHUNK_BYTES)


def _encoded(pieces: Iterable[bytes | str]) -> Iterator[bytes]:
    for piece in pieces:
        yield piece.encode() if isinstance(piece, str) else piece


def _store(job: Job, role: str, pieces: Iterable[bytes]) -> int:
    """Write `pieces` as chunks of about JOB_CHUNK_BYTES; return the size in bytes."""
    limit = settings.JOB_CHUNK_BYTES
    buffer, seq, size = bytearray(), 0, 0
    for piece in pieces:
        buffer += piece
        size += len(piece)
        while len(buffer) >= limit:
            JobChunk.objects.create(job=job, role=role, seq=seq, data=bytes(buffer[:limit]))
            del buffer[:limit]
            seq += 1
    if buffer or seq == 0:
        JobChunk.objects.create(job=job, role=role, seq=seq, data=bytes(buffer))
    return size


def pieces(job: Job, role: str) -> Iterator[bytes]:
    """The chunks in order, one query each, so a large file never sits in memory."""
    seqs = JobChunk.objects.filter(job=job, role=role).order_by("seq").values_list("seq", flat=True)
    for seq in list(seqs):
        data = JobChunk.objects.filter(job=job, role=role, seq=seq).values_list("data", flat=True)
        yield bytes(data.get())
