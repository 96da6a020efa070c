"""Print styled lines: coloured with `rich` on a terminal, plain text otherwise.

Colour only when stdout is a TTY, NO_COLOR is unset (https://no-color.org) and `rich` is
installed; pipes, files and tests always get the plain text.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["echo_lines", "use_colour"]


def use_colour() -> bool:
    if os.environ.get("NO_COLOR") or not sys.stdout.isatty():
        return False
    try:
        import rich  # noqa: F401  (optional: only its presence is tested here)
    except ImportError:
        return False
    return True


def echo_lines(lines: Sequence[tuple[str, str | None]]) -> None:
    """Write the lines to stdout, with their styles on a colour terminal."""
    if not use_colour():
        sys.stdout.write("".join(f"{text}\n" for text, _ in lines))
        sys.stdout.flush()
        return
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False)
    for text, style in lines:
        console.print(Text(text, style=style or ""), soft_wrap=True)
