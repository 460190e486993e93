"""SQL that differs per database, as one migration operation (the version triggers of
debates/0006 and agents/0006)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations


def vendor_sql(
    what: str, *, forward: dict[str, list[str]], backward: dict[str, list[str]]
) -> migrations.RunPython:
    """A ``RunPython`` that executes the statements of the migrating database's vendor, one by one
    (PostgreSQL refuses several in one prepared statement), and refuses a vendor it has none for:
    ``what`` names the feature in that error."""

    def run(statements: dict[str, list[str]]) -> Callable[[Any, Any], None]:
        def operation(apps: Any, schema_editor: Any) -> None:
            vendor = schema_editor.connection.vendor
            if vendor not in statements:
                raise NotImplementedError(f"{what} has no SQL for {vendor}")
            for sql in statements[vendor]:
                schema_editor.execute(sql)

        return operation

    return migrations.RunPython(run(forward), run(backward), elidable=False)
