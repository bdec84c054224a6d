"""Dagster definitions, thin: each module wires plain functions from llmeval_assets into assets."""
