"""Build variants of the example manifest and model in a temp dir for refusal tests."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "manifests" / "dev" / "acme.yaml"
MODEL = REPO / "manifests" / "models" / "banking-core.yaml"


def variant(
    tmp: Path,
    manifest_edits: list[tuple[str, str]] = (),  # type: ignore[assignment]
    model_edits: list[tuple[str, str]] = (),  # type: ignore[assignment]
    name: str = "acme.yaml",
) -> Path:
    """Copy manifest and model into `tmp`, applying exact text replacements (each must hit)."""
    (tmp / "models").mkdir(parents=True, exist_ok=True)
    (tmp / "dev").mkdir(parents=True, exist_ok=True)
    model = MODEL.read_text(encoding="utf-8")
    for old, new in model_edits:
        assert old in model, f"model edit does not apply: {old!r}"
        model = model.replace(old, new, 1)
    (tmp / "models" / "banking-core.yaml").write_text(model, encoding="utf-8")
    text = MANIFEST.read_text(encoding="utf-8")
    for old, new in manifest_edits:
        assert old in text, f"manifest edit does not apply: {old!r}"
        text = text.replace(old, new, 1)
    path = tmp / "dev" / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    """1-based line of the first line containing `needle`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")
