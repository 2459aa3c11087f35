"""A list to choose from (the login methods, the agreements) whose Enter is the screen's binding.

OptionList binds Enter itself, hidden from the footer, so the screen's Enter ("Log in", "Open") would
not show there unless it were a priority binding; and a priority binding runs as Enter arrives, before
a Down sent with it (`tmux send-keys Down Enter`) has moved the highlight, and would choose the row above.
Without its own Enter, the list lets Enter travel the same way as the Down before it, in order, to the
screen's ordinary binding, which reads the highlighted row. A click still posts `OptionSelected`.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import OptionList


class Choices(OptionList, inherit_bindings=False):
    BINDINGS: ClassVar[list[BindingType]] = [
        b for b in OptionList.BINDINGS if not (isinstance(b, Binding) and b.key == "enter")
    ]
