#!/usr/bin/env python
"""Django's command-line utility for Arena."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena_project.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:  # e.g. no SECRET_KEY outside DEBUG: one line, not a traceback
        sys.exit(f"manage.py: {exc}")


if __name__ == "__main__":
    main()
