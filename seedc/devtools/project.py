"""Where the seedc project is: the same answer from any directory inside it.

Why: `seedc demo` and the embedded default database keep their state under the project's
`.seedc/` and read `manifests/…` from its root. Run from a subdirectory, relative paths used
to point at a second, empty `.seedc/` (and started a second embedded cluster). The root is the
nearest directory, from the working directory upwards, that holds `manifests/` and either
`pyproject.toml` or `.seedc/`.
"""

from __future__ import annotations

from pathlib import Path

from seedc.errors import InvalidInput

__all__ = ["find_project_root", "project_root"]


def find_project_root(start: Path | None = None) -> Path | None:
    """The nearest ancestor of `start` (default: the working directory) that is a project."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / "manifests").is_dir() and (
                (directory / "pyproject.toml").is_file() or (directory / ".seedc").is_dir()):
            return directory
    return None


def project_root(start: Path | None = None) -> Path:
    """Like `find_project_root`, but a directory outside any project is invalid input."""
    root = find_project_root(start)
    if root is None:
        where = (start or Path.cwd()).resolve()
        raise InvalidInput(
            f"{where} is not inside a seedc project (no parent directory holds manifests/ and "
            "pyproject.toml or .seedc/): run it from the project directory or one below it",
            rule="same answer from any directory")
    return root
