"""Optional dependencies (pip extras): check for them before using them.

:func:`require` raises :class:`GossInputError` with the exact install command,
so a missing optional package gives one ``error:`` line (exit code 2) instead
of a traceback from deep inside a worker process. Checks use
``importlib.util.find_spec``: nothing is imported.
"""

from __future__ import annotations

import importlib.util

from goss_bench.errors import GossInputError

EXTRAS: dict[str, tuple[str, ...]] = {
    "coco": ("pycocotools",),
    "cityscapes": ("cityscapesscripts",),
    "server": ("fastapi", "uvicorn", "sqlalchemy", "alembic", "multipart", "jinja2", "httpx"),
    "baselines": ("torch", "numba"),
}
"""extra name (pyproject.toml ``[project.optional-dependencies]``) -> modules it provides."""


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported."""
    out = []
    for mod in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(mod)
    return out


def install_hint(*extras: str) -> str:
    """The exact pip command installing ``extras``."""
    return f'pip install "goss-bench[{",".join(extras)}]"'


def require(*extras: str, what: str) -> None:
    """Raise GossInputError naming the pip command when a module of ``extras`` is missing.

    Args:
        extras: extra names of :data:`EXTRAS`.
        what: what needs them, for the message (e.g. ``"--source json"``).
    """
    missing = [m for e in extras for m in missing_modules(e)]
    if missing:
        raise GossInputError(
            f"{what} needs the optional package(s) {', '.join(missing)}: {install_hint(*extras)}"
            " (in a source checkout: pip install -e \".[" + ",".join(extras) + "]\")"
        )
