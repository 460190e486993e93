"""A JSON renderer for large answers: DRF's output, written by orjson.

DRF's ``JSONRenderer`` writes through the standard library's encoder, whose float formatting is
most of the cost of a large numeric answer (the leaderboard's 12-row, 13 KB page: about 0.17 ms,
as much as a whole trivial request's view; orjson writes it in about 0.01 ms). orjson writes the
same JSON - compact separators, UTF-8, the shortest float text that reads back as the same number
(only an exponent's spelling can differ: ``1.5e-07`` is ``1.5e-7``). Anything else goes through
DRF's own renderer, so nothing else changes: a value orjson does not write natively (decimals,
dates and times, lazy or other ``str`` subclasses such as DRF's ``ErrorDetail``, big integers,
non-text keys), an indented answer (``; indent=`` or the browsable API), or ``None``. Two
differences remain, so a view opts in only when its answer has neither: orjson writes an ``Enum``
as its value, and a non-finite float as ``null`` (DRF refuses both: a server error).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from rest_framework.renderers import JSONRenderer

_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
)
_LINE_SEPARATORS = (("\u2028".encode(), b"\\u2028"), ("\u2029".encode(), b"\\u2029"))


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


class OrjsonRenderer(JSONRenderer):
    """``JSONRenderer``'s answer (compact, UTF-8, U+2028/2029 escaped) written by orjson."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None or not self.compact or self.ensure_ascii:
            return super().render(data, accepted_media_type, renderer_context)
        if self.get_indent(accepted_media_type or "", renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            text = orjson.dumps(data, default=_refuse, option=_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: a value DRF's encoder converts its own way
            return super().render(data, accepted_media_type, renderer_context)
        for raw, escaped in _LINE_SEPARATORS:  # DRF keeps the answer a strict JavaScript subset
            if raw in text:
                text = text.replace(raw, escaped)
        return text
