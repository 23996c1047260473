"""Output that can never show a secret: each one is replaced before it is written."""

from __future__ import annotations

import io
from typing import TextIO

MASK = "***"


class Redacted(io.TextIOBase):
    """A text stream writing to ``out`` with every secret masked."""

    def __init__(self, out: TextIO, secrets: tuple[str, ...]) -> None:
        self.out = out
        self.secrets = tuple(sorted((s for s in secrets if s), key=len, reverse=True))

    def write(self, text: str) -> int:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        self.out.write(text)
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return self.out.isatty()
