"""The admin site: every changelist, of every model registered on it (ours, the
libraries', and any added later), accepts only the filters and lookups it offers.

Django lets a changelist URL filter on any field of the model (`?arm_id=1`,
`?enrollments__in=5`), which would let a blinded reader sort patients into arms with
a field the page never offers. Here the rule is an allow-list, decided in one place:
after the filters shown beside the list have taken their own parameters (and the date
links theirs), any parameter left over is refused with the same 400, whatever it
names, so the refusal says nothing about the data.

It lives outside the `diary.admin` package because the site must exist before that
package's modules register their models on it.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import widgets
from django.contrib.admin.apps import SimpleAdminConfig
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.template.response import TemplateResponse


class FilterNotOffered(Exception):
    """A changelist parameter that none of the list's filters offers."""

    def __init__(self, parameter: str):
        super().__init__(parameter)
        self.parameter = parameter


class AllowListedChangeList(ChangeList):
    def get_filters(self, request):
        try:
            specs, has_filters, remaining, duplicates, active = super().get_filters(request)
        except (ValueError, OverflowError) as error:
            # A date link past the calendar's end (?date__year=9999&date__month=12):
            # Django works out the next month or year outside its own check.
            raise IncorrectLookupParameters(error) from error
        # What is left was taken by no filter shown beside the list. Only two kinds may
        # stay: the bounds the date links derive from ?<field>__year (never typed in),
        # and the limits of a related field's pop-up (ForeignKey.limit_choices_to).
        derived = set()
        if self.date_hierarchy and f"{self.date_hierarchy}__year" in self.filter_params:
            derived = {f"{self.date_hierarchy}__gte", f"{self.date_hierarchy}__lt"}
        for key in remaining:
            if key in derived and key not in self.filter_params:
                continue
            if self.is_popup and self._popup_limit(key):
                continue
            raise FilterNotOffered(key)
        return specs, has_filters, remaining, duplicates, active

    def _popup_limit(self, key: str) -> bool:
        values = self.filter_params.get(key, [])
        for lookup in self.model._meta.related_fkey_lookups:
            if callable(lookup):
                lookup = lookup()
            limits = widgets.url_params_from_lookup_dict(lookup)
            if key in limits and all(value == limits[key] for value in values):
                return True
        return False


class AllowListedChangelist:
    """Mixed into every ModelAdmin registered on the site (see DiaryAdminSite)."""

    def lookup_allowed(self, lookup, value, request=None):
        # Decided by AllowListedChangeList once the filters have taken theirs: one
        # refusal for every parameter that is not offered.
        return True

    def get_changelist(self, request, **kwargs):
        return AllowListedChangeList

    def changelist_view(self, request, extra_context=None):
        try:
            return super().changelist_view(request, extra_context)
        except FilterNotOffered as refused:
            context = {
                **self.admin_site.each_context(request),
                "title": "This list cannot be filtered that way",
                "parameter": refused.parameter,
                "list_url": request.path,
                "opts": self.model._meta,
            }
            return TemplateResponse(request, "admin/filter_not_offered.html", context, status=400)


class DiaryAdminSite(admin.AdminSite):
    site_header = "Pain Diary administration"
    site_title = "Pain Diary admin"

    def register(self, model_or_iterable, admin_class=None, **options):
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, AllowListedChangelist):
            admin_class = type(
                admin_class.__name__,
                (AllowListedChangelist, admin_class),
                {"__module__": admin_class.__module__},
            )
        super().register(model_or_iterable, admin_class, **options)


class DiaryAdminConfig(SimpleAdminConfig):
    """The admin app with DiaryAdminSite as `admin.site`; its modules are read by
    config/urls.py (admin.autodiscover()), not by every management command."""

    default_site = "diary.admin_site.DiaryAdminSite"
