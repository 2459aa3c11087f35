"""Large type for the order reference ("BLÅ FJORD"): a 5-pixel-high font drawn with half blocks.

Each letter is a few pixels wide and six pixel rows high (the top row for the ring of Å), drawn as
three text rows with ▀ ▄ █, so a two-word reference fits in seven rows and 40 columns.
"""

from __future__ import annotations

from textual.widgets import Static

_FONT: dict[str, tuple[str, ...]] = {
    "A": (".#.", "#.#", "###", "#.#", "#.#"),
    "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": (".##", "#..", "#..", "#..", ".##"),
    "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"),
    "F": ("###", "#..", "##.", "#..", "#.."),
    "G": (".##", "#..", "#.#", "#.#", ".##"),
    "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"),
    "J": ("..#", "..#", "..#", "#.#", ".#."),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"),
    "L": ("#..", "#..", "#..", "#..", "###"),
    "M": ("#...#", "##.##", "#.#.#", "#...#", "#...#"),
    "N": ("#..#", "##.#", "#.##", "#..#", "#..#"),
    "O": (".##.", "#..#", "#..#", "#..#", ".##."),
    "P": ("##.", "#.#", "##.", "#..", "#.."),
    "Q": (".##.", "#..#", "#..#", "#.##", ".###"),
    "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "S": (".##", "#..", ".#.", "..#", "##."),
    "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"),
    "V": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "W": ("#...#", "#...#", "#.#.#", "##.##", "#...#"),
    "X": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."),
    "Z": ("###", "..#", ".#.", "#..", "###"),
    "Æ": (".####", "#.#..", "####.", "#.#..", "#.###"),
    "Ø": (".###", "#.##", "#.##", "##.#", "###."),
    "Å": (".#.", "###", "#.#", "###", "#.#"),
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("##.", "..#", ".#.", "#..", "###"),
    "3": ("##.", "..#", ".#.", "..#", "##."),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "##.", "..#", "##."),
    "6": (".##", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", ".#.", ".#.", ".#."),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "##."),
    "-": ("...", "...", "###", "...", "..."),
    " ": ("..", "..", "..", "..", ".."),
}
_ACCENT: dict[str, str] = {"Å": ".#."}
_CELLS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def _pixels(word: str) -> list[str]:
    rows = ["", "", "", "", "", ""]
    for i, char in enumerate(word.upper()):
        glyph = _FONT.get(char, _FONT[" "])
        width = len(glyph[0])
        accent = _ACCENT.get(char, "." * width)
        gap = "." if i else ""
        rows[0] += gap + accent
        for r in range(5):
            rows[r + 1] += gap + glyph[r]
    return rows


def render_big(text: str) -> str:
    """The words of `text` in large type, one word under the other."""
    lines: list[str] = []
    for word in text.split():
        pixels = _pixels(word)
        for top, bottom in ((0, 1), (2, 3), (4, 5)):
            lines.append(
                "".join(_CELLS[(a == "#", b == "#")] for a, b in zip(pixels[top], pixels[bottom], strict=True)).rstrip()
            )
        lines.append("")
    return "\n".join(lines[:-1])


class BigText(Static):
    """A Static showing its text in large type (the plain text stays in `text`, for tests and readers)."""

    DEFAULT_CSS = """
    BigText { width: auto; height: auto; }
    """

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        self.text = text
        super().__init__(render_big(text), id=id, classes=classes, markup=False)
