"""Markdown prose a reader can read raw: long lines wrapped, tables and code left whole."""
from __future__ import annotations

import textwrap


def wrapped(lines: list[str], width: int = 118) -> list[str]:
    """Prose lines wrapped to `width` (a bullet's continuation indented under its text); tables, headings, images
    and code left as they are."""
    out = []
    for line in lines:
        body = line.lstrip(" ")
        if len(line) <= width or body.startswith(("|", "#", "!", "`")):
            out.append(line)
            continue
        indent = " " * (len(line) - len(body) + (2 if body.startswith("- ") else 0))
        out += textwrap.wrap(line, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    return out
