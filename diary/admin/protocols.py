"""Protocols, their arms and phases, randomization lists and protocol unblinding."""

from __future__ import annotations

import tempfile
from types import SimpleNamespace

from django.contrib import admin
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from diary.admin.base import (
    LockedInline,
    ReasonAdmin,
    Wording,
    allocation_view,
    reader_displays,
    reason_page,
    warn_if_locked,
)
from diary.admin.forms import (
    ArmForm,
    PhaseFormSet,
    ProtocolForm,
    RandomizationListForm,
)
from diary.admin.locks import lock_protocol_view, unlock_protocol_view
from diary.files import imports
from diary.trial import blinding, protocols, unblinding
from diary.trial.models import Arm, Phase, Protocol
from diary.trial.phases import PhaseKind


class PhaseInline(LockedInline):
    model = Phase
    formset = PhaseFormSet
    extra = 0
    ordering = ["order"]
    fields = ["order", "kind", "days", "dose_mg"]

    @staticmethod
    def protocol_of(arm):
        return arm.protocol


@admin.register(Arm)
class ArmAdmin(ReasonAdmin):
    form = ArmForm
    list_display = ["protocol", "code", "name", "schedule"]
    list_select_related = ["protocol"]
    list_filter = ["protocol"]
    inlines = [PhaseInline]
    reason_on_add = False

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("phases")

    # A blinded reader does not see this admin: its list and pages tie arms to their
    # schedules and, through the enrollments, to patients. She opens one arm only while
    # its protocol has no enrollment, to write the schedule (nobody to tie it to yet);
    # the protocol page always shows each arm's schedule, which names no patient.
    def has_module_permission(self, request):
        return blinding.sees_allocation(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return arm_page_allowed(request.user, obj) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return blinding.sees_allocation(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return arm_page_allowed(request.user, obj) and super().has_change_permission(request, obj)

    @admin.display(description="Phases")
    def schedule(self, arm):
        return schedule_text(arm)

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and protocols.protocol_locked(obj.protocol):
            return ["protocol", "code"]
        return ["protocol"] if obj is not None else []

    def change_view(self, request, object_id, form_url="", extra_context=None):
        arm = self.get_object(request, object_id)
        warn_if_locked(self, request, arm.protocol if arm else None)
        return super().change_view(request, object_id, form_url, extra_context)


def arm_page_allowed(reader, arm) -> bool:
    """Whether `reader` may open the Arm admin's page of `arm` (None: its list)."""
    if blinding.sees_allocation(reader):
        return True
    return arm is not None and not protocols.protocol_locked(arm.protocol)


def schedule_text(arm) -> str:
    parts = []
    for phase in arm.phases.all():
        dose = f" ({phase.dose_mg.normalize()} mg)" if phase.dose_mg is not None else ""
        parts.append(f"{PhaseKind(phase.kind).label} {phase.days} d{dose}")
    return " → ".join(parts) or "no phases yet"


class ArmInline(LockedInline):
    model = Arm
    extra = 0
    fields = ["code", "name", "schedule"]
    readonly_fields = ["schedule"]
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("phases")  # one query

    @admin.display(description="Phases (open the arm to edit them)")
    def schedule(self, arm):
        return schedule_text(arm) if arm.pk else "save first, then add its phases"

    @staticmethod
    def protocol_of(protocol):
        return protocol


UNBLIND_PROTOCOL = Wording(
    title="Unblind protocol {subject.slug}",
    explanation=(
        "End of study or analysis: physicians, coordinators and blinded files see each "
        "patient's arm and treatment phases and the LDN-versus-placebo comparison. Patients "
        "are not told (use “Tell the patients whose treatment has ended”). It cannot be "
        "undone."
    ),
    button="Unblind the protocol",
)
TELL_PATIENTS = Wording(
    title="Tell the patients of {subject.slug} whose treatment has ended",
    explanation=(
        "Every patient of this protocol whose treatment window is over (in her own time "
        "zone) or who withdrew, and who was not told yet, sees her arm and the names of her "
        "phases in her diary. Her physician is not unblinded by this. It cannot be undone."
    ),
    button="Tell them",
)


@admin.register(Protocol)
class ProtocolAdmin(ReasonAdmin):
    form = ProtocolForm
    list_display = ["slug", "name", "blinding", "block_size", "enrolled", "unblinded_at"]
    list_filter = ["blinding"]
    search_fields = ["slug", "name"]
    inlines = [ArmInline]
    change_form_template = "admin/diary/protocol/change_form.html"
    readonly_fields = ["unblinded_at", "unblinded_by", "unblinding_reason"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(enrolled_count=Count("enrollments"))

    def get_inline_instances(self, request, obj=None):
        inlines = super().get_inline_instances(request, obj)
        for inline in inlines:
            if isinstance(inline, ArmInline):
                # Only readers who may open an arm's own page get a link to it.
                inline.show_change_link = obj is None or arm_page_allowed(
                    request.user, SimpleNamespace(protocol=obj)
                )
        return inlines

    @admin.display(description="Enrollments", ordering="enrolled_count")
    def enrolled(self, protocol):
        return protocol.enrolled_count

    def _allocation(self, request):
        def build(reader):
            @admin.display(description="Randomization seed")
            def seed(protocol):
                return protocol.randomization_seed

            @admin.display(description="Randomization list")
            def randomization_list(protocol):
                slots = protocol.randomization_slots.count()
                if not slots:
                    return "none (blank arms use permuted blocks from the seed)"
                used = protocol.enrollments.filter(randomization_number__isnull=False).count()
                return f"{slots} rows, {used} used"

            return SimpleNamespace(seed=seed, randomization_list=randomization_list)

        return reader_displays(request, "protocol", build)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and blinding.sees_allocation(request.user):
            shown = self._allocation(request)
            fieldsets = [
                *fieldsets[:-1],
                (
                    "Allocation (allocation access only)",
                    {"fields": [shown.seed, shown.randomization_list]},
                ),
                fieldsets[-1],
            ]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("slug")
            if protocols.protocol_locked(obj):
                fields += ["blinding", "block_size"]
            if blinding.sees_allocation(request.user):
                shown = self._allocation(request)
                fields += [shown.seed, shown.randomization_list]
        return fields

    def concealed_fields(self, request, obj) -> set[str]:
        return set() if blinding.sees_allocation(request.user) else {"randomization_seed"}

    def change_view(self, request, object_id, form_url="", extra_context=None):
        protocol = self.get_object(request, object_id)
        warn_if_locked(self, request, protocol)
        allocation = protocol is not None and blinding.sees_allocation(request.user)
        extra_context = {
            **(extra_context or {}),
            "can_unblind": allocation and unblinding.protocol_unblinding_problem(protocol) is None,
            "can_tell_patients": allocation and blinding.protocol_blinds_patients(protocol),
            "can_upload_list": allocation,
            "can_lock": request.user.is_coordinator,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/copy/", wrap(self.copy_view), name="diary_protocol_copy"),
            path(
                "<int:pk>/lock/",
                wrap(lambda request, pk: lock_protocol_view(self, request, pk)),
                name="diary_protocol_lock",
            ),
            path(
                "<int:pk>/unlock/",
                wrap(lambda request, pk: unlock_protocol_view(self, request, pk)),
                name="diary_protocol_unlock",
            ),
            path(
                "<int:pk>/unblind/",
                allocation_view(self, self.unblind_view),
                name="diary_protocol_unblind",
            ),
            path(
                "<int:pk>/tell-patients/",
                allocation_view(self, self.tell_patients_view),
                name="diary_protocol_tell_patients",
            ),
            path(
                "<int:pk>/randomization-list/",
                allocation_view(self, self.randomization_list_view),
                name="diary_protocol_randomization_list",
            ),
            *super().get_urls(),
        ]

    def copy_view(self, request, pk):
        protocol = get_object_or_404(Protocol, pk=pk)
        if not self.has_add_permission(request):
            raise Http404
        if request.method == "POST":
            copy = protocols.copy_protocol(protocol, by=request.user)
            self.message_user(
                request,
                f"{copy.slug} is a copy of {protocol.slug} with its arms and phases and a new "
                "secret randomization seed. Change what you need, then enroll into it.",
            )
            return redirect("admin:diary_protocol_change", copy.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Copy {protocol.slug} to a new version",
            "protocol": protocol,
            "new_slug": protocols.next_version_slug(protocol.slug),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/diary/protocol/copy.html", context)

    def unblind_view(self, request, pk):
        protocol = get_object_or_404(Protocol, pk=pk)

        def act(data):
            unblinding.unblind_protocol(protocol, by=request.user, reason=data["reason"])
            return (
                f"{protocol.slug} is unblinded: physicians, coordinators and files now see "
                "arms, treatment phases and the LDN-versus-placebo comparison. Patients "
                "are not told by it."
            )

        return reason_page(self, request, protocol, act, UNBLIND_PROTOCOL)

    def tell_patients_view(self, request, pk):
        protocol = get_object_or_404(Protocol, pk=pk)

        def act(data):
            told = unblinding.tell_patients_whose_treatment_ended(
                protocol, by=request.user, reason=data["reason"]
            )
            if not told:
                return "No patient of this protocol has ended her treatment without being told."
            return f"{len(told)} patient(s) now see their arm: {', '.join(told)}."

        return reason_page(self, request, protocol, act, TELL_PATIENTS)

    def randomization_list_view(self, request, pk):
        protocol = get_object_or_404(Protocol, pk=pk)
        form = RandomizationListForm(request.POST or None, request.FILES or None)
        problems = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            with tempfile.NamedTemporaryFile(suffix=".csv") as copy:
                for chunk in upload.chunks():
                    copy.write(chunk)
                copy.flush()
                try:
                    outcome = imports.import_randomization_list(
                        copy.name,
                        protocol,
                        by=request.user,
                        replace=form.cleaned_data["replace"],
                        file_name=upload.name,
                    )
                except imports.ImportFailed as failed:
                    problems = failed.problems
                else:
                    self.message_user(
                        request,
                        f"{outcome.created} row(s) added to the randomization list of "
                        f"{protocol.slug} ({outcome.unchanged} already there).",
                    )
                    return redirect("admin:diary_protocol_change", protocol.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Randomization list of {protocol.slug}",
            "protocol": protocol,
            "form": form,
            "problems": problems,
            "slots": protocol.randomization_slots.select_related("arm"),
            "used": set(
                protocol.enrollments.filter(randomization_number__isnull=False).values_list(
                    "randomization_number", flat=True
                )
            ),
            "opts": self.model._meta,
        }
        status = 400 if request.method == "POST" else 200
        return TemplateResponse(
            request, "admin/diary/protocol/randomization_list.html", context, status=status
        )
