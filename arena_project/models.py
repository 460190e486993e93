"""Plumbing shared by every app's models."""

from django.db import models


class TimeStampedModel(models.Model):
    """Creation and update times; ``created_at`` is indexed because every list orders by it."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
