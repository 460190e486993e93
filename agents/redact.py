"""Keep secrets out of anything we store, print or log.

Provider SDKs put request details into their exception messages, and a misconfigured proxy may echo
headers back in an error body. Every error text the gateway stores passes through :func:`redact`,
which removes the keys it knows (those currently in the environment and the call's own key) and
anything shaped like a key or a bearer token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"
MAX_ERROR_CHARS = 2000
KNOWN_KEY_VARIABLES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")

_PATTERNS = (
    # OpenAI (sk-..., sk-proj-...) and Anthropic (sk-ant-...) keys, and look-alikes.
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{6,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]{8,}=*"), r"\1" + REDACTED),
    # Credentials in URLs: https://user:secret@host/..., ?key=... / &api_key=... / &token=...
    (re.compile(r"(://)[^/\s:@]+:[^/\s@]+@"), r"\1" + REDACTED + "@"),
    (re.compile(r"(?i)([?&](?:key|api[_-]?key|token|access[_-]?token)=)[^&\s]+"), r"\1" + REDACTED),
    (
        re.compile(
            r"(?i)((?:x-api-key|api[_-]?key|authorization|access[_-]?token)[\"']?\s*[:=]\s*[\"']?)"
            r"(?!bearer\s|\[REDACTED\])[^\s\"',}]+"
        ),
        r"\1" + REDACTED,
    ),
)


def redact(text: str, secrets: Iterable[str] = (), *, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` without the given secrets, the known key variables' values, or key-shaped tokens."""
    values = [*secrets, *(os.environ.get(name, "") for name in KNOWN_KEY_VARIABLES)]
    for value in sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
