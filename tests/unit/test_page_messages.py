"""The pages' message catalogues and templates: both languages have every message the
templates name, and no template holds user-visible text of its own (it would show untranslated
in the other language)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tanpuhui.web import i18n
from tanpuhui.web.render import HERE

TEMPLATES = sorted((HERE / "templates").glob("*.html"))
MESSAGE = re.compile(r"""_\(\s*["']([a-z0-9_.-]+)["']""")
#: message ids built from a prefix and a value (`_("outcome." ~ kind)`): every value they take
DYNAMIC = {
    "outcome.": ["credited", "capped", "duplicate", "rejected", "pending_binding"],
    "quality.": ["text", "2nd", "derived", "operator-set"],
    "credential.": ["active", "rotating", "expired", "revoked"],
    "why.": ["duplicate", "capped", "too_frequent", "other"],
    "category.": ["衣", "食", "住", "行", "用", "办公", "数字金融"],
    "error.": [
        "other",
        "csrf_failed",
        "invalid_code",
        "rate_limited",
        "not_found",
        "invalid_cursor",
    ],
    "sale.": ["completed", "held", "confirmed", "voided", "expired"],
    "offer.": ["open", "paused", "closed"],
    "batch.": ["open", "approved", "rejected"],
    "platform.": ["pause", "resume", "close"],
    "role.": ["scene", "platform"],
    "verify.kind.": ["leaderboard", "milestone", "retirement"],
    "block.": ["retired", "pending_export", "exported", "returned"],
    "export.": ["pending_export", "exported", "returned"],
}
#: attributes a reader sees or hears
VISIBLE_ATTRIBUTES = re.compile(r"""\b(?:placeholder|title|alt|aria-label)\s*=\s*"([^"]*)\"""")


def _used() -> set[str]:
    found = {m for path in TEMPLATES for m in MESSAGE.findall(path.read_text())}
    ids = {m for m in found if not m.endswith(".")}  # a prefix: its values are in DYNAMIC
    return ids | {prefix + value for prefix, values in DYNAMIC.items() for value in values}


@pytest.mark.parametrize("lang", sorted(i18n.LANGUAGES))
def test_every_message_a_template_names_is_in_the_catalogue(lang: str) -> None:
    messages = i18n.read_catalogue(i18n.LANGUAGES[lang])
    missing = sorted(_used() - set(messages))
    assert missing == []


def test_both_catalogues_hold_the_same_messages() -> None:
    zh, en = (set(i18n.read_catalogue(i18n.LANGUAGES[lang])) for lang in ("zh-CN", "en"))
    assert zh == en


def _visible_text(source: str) -> str:
    """What a template shows of its own: everything outside Jinja and outside tags."""
    text = re.sub(r"{#.*?#}|{%.*?%}|{{.*?}}", " ", source, flags=re.S)
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    return re.sub(r"&[a-z]+;|[\s·:–,()/|=-]+", "", text)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_no_template_holds_text_of_its_own(template: Path) -> None:
    source = template.read_text()
    assert _visible_text(source) == ""
    for value in VISIBLE_ATTRIBUTES.findall(source):
        assert re.sub(r"{{.*?}}", "", value).strip() == "", value


def test_the_static_check_catches_a_hard_coded_word() -> None:
    assert _visible_text("<p>{{ _('me.title') }} Hello</p>") == "Hello"
    assert _visible_text("<p>{{ _('me.title') }}</p>{% if x %}{% endif %}") == ""


def test_the_language_follows_the_query_then_the_cookie_then_the_browser() -> None:
    assert i18n.choose_language(None, None, None) == "zh-CN"
    assert i18n.choose_language(None, None, "en-US,en;q=0.9") == "en"
    assert i18n.choose_language(None, "zh-CN", "en-US") == "zh-CN"
    assert i18n.choose_language("en", "zh-CN", "zh") == "en"
    assert i18n.choose_language("fr", None, "de,zh-TW;q=0.5") == "zh-CN"
