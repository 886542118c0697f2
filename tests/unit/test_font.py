"""The embedded CJK font covers every character the package shows (pages, PDFs)."""

from __future__ import annotations

import pathlib

from fontTools.ttLib import TTFont

import tanpuhui

PACKAGE = pathlib.Path(tanpuhui.__file__).parent
FONT = PACKAGE / "data/fonts/tanpuhui-sans.ttf"
TEXT_SUFFIXES = {".py", ".csv", ".yaml", ".yml", ".json", ".po", ".html", ".toml", ".txt"}


def is_symbol(c: str) -> bool:
    return 0x2600 <= ord(c) <= 0x27BF or ord(c) >= 0x1F000


def test_the_font_is_truetype_and_covers_latin_and_common_hanzi() -> None:
    font = TTFont(FONT)
    assert "glyf" in font  # TrueType outlines: reportlab embeds them (CFF it cannot)
    cmap = font.getBestCmap()
    assert all(ord(c) in cmap for c in "CO₂e 碳普惠 个人碳账本 克 g kWh 江阳区 南山区")


def test_every_character_of_the_package_has_a_glyph() -> None:
    """A new rare character in a template, catalogue or region name fails here until
    `scripts/make_font` is re-run. Symbols and emoji (U+2600–U+27BF, U+1F000 and above; the
    CLI's ⚠) are left to the system's symbol fonts: the source font has none."""
    cmap = TTFont(FONT).getBestCmap()
    used = {
        c
        for path in PACKAGE.rglob("*")
        if path.suffix in TEXT_SUFFIXES
        for c in path.read_text(encoding="utf-8", errors="ignore")
        if ord(c) > 0x7E and not c.isspace() and c.isprintable() and not is_symbol(c)
    }
    missing = sorted(c for c in used if ord(c) not in cmap)
    assert not missing, f"no glyph for {''.join(missing)!r}: run scripts/make_font"
