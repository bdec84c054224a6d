"""The Dagster code location (workspace.yaml, `dagster dev`): the definitions built from the project's registry."""

from llmeval_assets.defs.build import build_definitions

defs = build_definitions()
