"""The text a request asks the customer to approve (`userVisibleData`), as the phone shows it.

`userVisibleDataFormat` "plaintext" is shown as written. "simpleMarkdownV1" (BankID's formatted
text) is rendered: headings (`# `, `## `, `### ` at the start of a line) in bold, `*bold*`,
`+italic+`, bullet lists (`* ` at the start of a line) with a bullet, a line of three or more `-`
as a rule, tables (lines of `|`-separated cells; a row of `---` cells makes the rows above it the
header) with their columns aligned, and `\\` before a character to show it as written. Anything
else shows as written.

`render` gives a Rich `Text` (the Textual panel shows it); `plain_text` the same without styles,
for the command line.
"""

from __future__ import annotations

import re

from rich.text import Text

MARKDOWN = "simpleMarkdownV1"
RULE = "─" * 24
_HEADING = re.compile(r"^(#{1,3}) +(.*)$")
_BULLET = re.compile(r"^\* +(.*)$")
_RULE = re.compile(r"^-{3,}\s*$")
_SEPARATOR_CELL = re.compile(r"^\s*:?-{3,}:?\s*$")
_INLINE = re.compile(r"\\(.)|\*((?:\\.|[^*\\])+)\*|\+((?:\\.|[^+\\])+)\+")
_CELL_BORDER = re.compile(r"(?<!\\)\|")


def render(text: str, text_format: str = "plaintext") -> Text:
    """`text` as the phone shows it, styled for `text_format`."""
    if text_format != MARKDOWN:
        return Text(text)
    lines: list[Text] = []
    table: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("|"):
            table.append(line.strip())
            continue
        if table:
            lines += _table(table)
            table = []
        lines.append(_line(line))
    if table:
        lines += _table(table)
    return Text("\n").join(lines)


def plain_text(text: str, text_format: str = "plaintext") -> str:
    """`render` without the styles: what a terminal shows."""
    return render(text, text_format).plain


def _line(line: str) -> Text:
    if heading := _HEADING.match(line):
        level, words = len(heading.group(1)), heading.group(2)
        return _inline(words, "bold underline" if level == 1 else "bold")
    if bullet := _BULLET.match(line):
        return Text("• ") + _inline(bullet.group(1))
    if _RULE.match(line):
        return Text(RULE, style="dim")
    return _inline(line)


def _inline(text: str, style: str = "") -> Text:
    """Bold, italic and escapes within one line (bold and italic may hold each other)."""
    out = Text(style=style)
    at = 0
    for match in _INLINE.finditer(text):
        out.append(text[at : match.start()])
        escaped, bold, italic = match.groups()
        if escaped is not None:
            out.append(escaped)
        elif bold is not None:
            out.append_text(_inline(bold, "bold"))
        else:
            out.append_text(_inline(italic, "italic"))
        at = match.end()
    out.append(text[at:])
    return out


def _cells(row: str) -> list[Text]:
    inner = row[1:-1] if row.endswith("|") and not row.endswith("\\|") and len(row) > 1 else row[1:]
    return [_inline(cell.strip()) for cell in _CELL_BORDER.split(inner)]


def _table(rows: list[str]) -> list[Text]:
    """The rows with their columns padded to one width; the rows above a `---` row in bold."""
    parsed: list[tuple[list[Text], bool]] = []
    for row in rows:
        cells = _cells(row)
        if cells and all(_SEPARATOR_CELL.match(cell.plain) for cell in cells):
            parsed = [(r, True) for r, _ in parsed]
        else:
            parsed.append((cells, False))
    columns = max((len(r) for r, _ in parsed), default=0)
    widths = [max((r[i].cell_len for r, _ in parsed if i < len(r)), default=0) for i in range(columns)]
    lines = []
    for cells, header in parsed:
        line = Text(style="bold" if header else "")
        for i, cell in enumerate(cells):
            if i:
                line.append("  ")
            padded = cell.copy()
            if i < len(cells) - 1:
                padded.pad_right(widths[i] - cell.cell_len)
            line.append_text(padded)
        lines.append(line)
    return lines
