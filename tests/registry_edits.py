"""Editing a copy of the shipped registry: one change per test, then the exact problems it causes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmeval_assets.registry import RegistryError, load_registry

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = PROJECT_ROOT / "registry"


def edit(reg_dir: Path, filename: str, mutate) -> None:
    path = reg_dir / filename
    doc = yaml.safe_load(path.read_text())
    mutate(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def problems(reg_dir: Path) -> list[str]:
    with pytest.raises(RegistryError) as info:
        load_registry(reg_dir)
    return [str(p) for p in info.value.problems]
