"""The project's Dagster instance under .llmeval/dagster, so CLI runs show up in the UI (`make ui`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from llmeval_assets.paths import PROJECT_ROOT, llmeval_home

INSTANCE_TEMPLATE = PROJECT_ROOT / "deploy" / "local" / "dagster.yaml"


def dagster_home() -> Path:
    """$DAGSTER_HOME when set, else .llmeval/dagster (created, with the project's dagster.yaml)."""
    home = Path(os.environ.get("DAGSTER_HOME") or llmeval_home() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance():
    import dagster as dg

    dagster_home()
    return dg.DagsterInstance.get()
