"""Creating a home folder from the packaged defaults (``borderlinks init``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from .config import CONTENT_FOLDERS, packaged_defaults
from .errors import ConfigError


def init_home(directory: Path, *, force: bool = False) -> list[Path]:
    """Copy the packaged content folders into ``directory``; existing files are kept unless ``force``."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} exists and is not a folder", fix="Choose another name")
    written: list[Path] = []
    defaults = packaged_defaults()
    for name in CONTENT_FOLDERS:
        origin = defaults / name
        if not origin.is_dir():
            continue
        for path in sorted(origin.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            target = directory / name / path.relative_to(origin)
            if target.exists() and not force:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            written.append(target)
    (directory / "var").mkdir(parents=True, exist_ok=True)
    return written
