"""Serializer plumbing shared by every app's API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know, so a typo is a 400, not ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    """The one error shape: a machine-readable code, a message, and details (``extra.fields``)."""

    code = serializers.CharField()
    message = serializers.CharField()
    extra = serializers.DictField()
