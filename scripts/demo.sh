#!/usr/bin/env bash
# The offline demo. Until the pipeline lands, it validates the registry and plans every category.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
$BIN/llmeval validate
for category in $($BIN/python -c "from llmeval_assets.registry import load_registry; print(' '.join(load_registry().categories))"); do
  echo "== plan: $category"
  $BIN/llmeval plan --category "$category" --include-optional
done
