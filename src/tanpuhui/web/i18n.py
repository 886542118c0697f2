"""The pages' languages: Babel message catalogues (`locales/*/LC_MESSAGES/messages.po`), read
with Babel when first needed (no compiled .mo to keep in step), zh-CN by default, English by
`?lang=en` (remembered in a cookie), `Accept-Language` honoured on a first visit.

Templates never hold user-visible text: they name message ids (`_("ledger.total")`), and a
message id missing from a catalogue is recorded in `Catalogues.missing` (the page tests fail
on any) and shown as the id itself, never silently as another language.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGES = {"zh-CN": "zh_CN", "en": "en"}  # what ?lang= and the cookie say → catalogue
DEFAULT = "zh-CN"
COOKIE = "tph_lang"


def read_catalogue(locale: str) -> dict[str, str]:
    path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalogue = read_po(f, locale=locale)
    return {str(m.id): str(m.string) for m in catalogue if m.id and m.string}


@dataclass
class Catalogues:
    """Every language's messages, read once; `missing` collects ids asked for but absent."""

    messages: dict[str, dict[str, str]] = field(default_factory=dict)
    missing: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, lang: str) -> dict[str, str]:
        with self._lock:
            if lang not in self.messages:
                self.messages[lang] = read_catalogue(LANGUAGES[lang])
            return self.messages[lang]

    def translator(self, lang: str) -> Translator:
        return Translator(lang, self.of(lang), self)


@dataclass(frozen=True)
class Translator:
    lang: str
    messages: dict[str, str]
    catalogues: Catalogues

    def __call__(self, msgid: str, **values: Any) -> str:
        text = self.messages.get(msgid)
        if text is None:
            self.catalogues.missing.add((self.lang, msgid))
            return msgid
        return text.format(**values) if values else text


def choose_language(query: str | None, cookie: str | None, accept: str | None) -> str:
    """`?lang=` first, then the remembered choice, then the browser's first language we have."""
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return str(candidate)
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT
