"""Large type for the two-word reference, drawn with box characters, three rows a letter.

The words wrap to the width they are given, one word never split, so "STILLE STJERNE" stays legible on
a narrow phone. Letters without a glyph fall back to the letter itself in the middle row.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

GLYPHS: dict[str, tuple[str, str, str]] = {
    "A": ("╭─╮", "├─┤", "╵ ╵"),
    "B": ("┌─╮", "├─┤", "└─╯"),
    "C": ("╭─╴", "│  ", "╰─╴"),
    "D": ("┌─╮", "│ │", "└─╯"),
    "E": ("┌─╴", "├─ ", "└─╴"),
    "F": ("┌─╴", "├─ ", "╵  "),
    "G": ("╭─╴", "│╶╮", "╰─╯"),
    "H": ("╷ ╷", "├─┤", "╵ ╵"),
    "I": ("╶┬╴", " │ ", "╶┴╴"),
    "J": ("  ╷", "  │", "╰─╯"),
    "K": ("╷ ╱", "├┤ ", "╵ ╲"),
    "L": ("╷  ", "│  ", "└─╴"),
    "M": ("╭┬╮", "│││", "╵ ╵"),
    "N": ("╭╮╷", "│││", "╵╰╯"),
    "O": ("╭─╮", "│ │", "╰─╯"),
    "P": ("┌─╮", "├─╯", "╵  "),
    "Q": ("╭─╮", "│ │", "╰─╳"),
    "R": ("┌─╮", "├┬╯", "╵╰╴"),
    "S": ("╭─╴", "╰─╮", "╶─╯"),
    "T": ("╶┬╴", " │ ", " ╵ "),
    "U": ("╷ ╷", "│ │", "╰─╯"),
    "V": ("╷ ╷", "│ │", "╰┬╯"),
    "W": ("╷ ╷", "│││", "╰┴╯"),
    "X": ("╲ ╱", " ╳ ", "╱ ╲"),
    "Y": ("╷ ╷", "╰┬╯", " ╵ "),
    "Z": ("╶─┐", "╭─╯", "└─╴"),
    "Æ": ("╭┬╴", "├┼ ", "╵└╴"),
    "Ø": ("╭─╮", "│╱│", "╰─╯"),
    "Å": ("╭°╮", "├─┤", "╵ ╵"),
    "-": ("   ", "╶─╴", "   "),
    " ": ("   ", "   ", "   "),
}
ROWS = 3


def glyph(char: str) -> tuple[str, str, str]:
    found = GLYPHS.get(char.upper())
    if found is not None:
        return found
    return ("   ", f" {char[:1]} ", "   ")


def word_width(word: str) -> int:
    return len(word) * 4 - 1 if word else 0


def layout(text: str, width: int) -> list[str]:
    """The words on lines of at most `width` columns (a word wider than that gets a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and word_width(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def render_big(text: str, width: int) -> list[str]:
    rows: list[str] = []
    for i, line in enumerate(layout(text, width)):
        if i:
            rows.append("")
        glyphs = [glyph(c) for c in line]
        rows.extend(" ".join(g[r] for g in glyphs) for r in range(ROWS))
    return rows


class BigText(Widget):
    """`BigText("BLÅ FJORD")`: the text in large box-drawn letters, centred, wrapped by word."""

    DEFAULT_CSS = Path(__file__).with_name("big_text.tcss").read_text()

    text: reactive[str] = reactive("", layout=True)

    def __init__(self, text: str = "", *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.text = text

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return len(render_big(self.text, width)) or 1

    def render(self) -> Text:
        width = self.content_size.width or 80
        rows = render_big(self.text, width)
        return Text("\n".join(row.center(width).rstrip() for row in rows) or "")
