"""The house rules a reader relies on: gan_core never imports streamlit (the pages are views
over it, and the CLI and the API run without it), and the pages import no modelling library
directly (they ask gan_core)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported(path: Path) -> set[str]:
    """The top-level package of every import in a file, lazy imports inside functions too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_gan_core_never_imports_streamlit():
    files = sorted((ROOT / "gan_core").rglob("*.py"))
    assert len(files) > 30 and (ROOT / "gan_core" / "toy2d" / "gan.py") in files
    offenders = [str(p.relative_to(ROOT)) for p in files if "streamlit" in imported(p)]
    assert not offenders, f"these gan_core modules import streamlit: {offenders}"


def test_pages_leave_modelling_to_gan_core():
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
    offenders = {str(p.relative_to(ROOT)): sorted(imported(p) & {"keras", "tensorflow", "jax"})
                 for p in files}
    assert not {k: v for k, v in offenders.items() if v}
