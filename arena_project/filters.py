"""Filter plumbing shared by every app's list endpoints."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema_field


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet that refuses a filter given with an empty value (``?status=``).

    django-filter ignores empty values, so a client that meant to filter would silently get
    everything; a 400 naming the parameter is the honest answer.
    """

    def is_valid(self) -> bool:
        super().is_valid()
        for name in self.form.fields:
            if self.data.get(name) == "" and name not in self.form.errors:
                self.form.add_error(name, "Must not be empty; leave the parameter out instead.")
        return self.is_bound and not self.form.errors


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^\\x00]+$"})
class NonEmptyCharFilter(django_filters.CharFilter):
    """A text filter whose schema states its rules: at least one character, no NUL (forms refuse it)."""
