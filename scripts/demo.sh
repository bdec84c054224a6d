#!/usr/bin/env bash
# The offline demo: SmolLM2-135M-Instruct (from its PyPI wheel) on every supported benchmark, through the Dagster
# pipeline on this machine's CPU, then the dbt reports, the leaderboard and an HTML report.
# Usage: scripts/demo.sh [SAMPLES]   (make demo SAMPLES=200)
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${1:-10}
BIN=.venv/bin
started=$(date +%s)

echo "== llmeval demo: smollm2_135m on every supported benchmark, ${SAMPLES} samples each (offline, CPU)"
echo "   MT-Bench is judged by smollm2_135m itself: that exercises the judging pipeline, it is NOT a meaningful"
echo "   score (use --judge with a strong model, or an OpenAI-compatible judge, for real MT-Bench numbers). A 135M"
echo "   judge rarely writes FastChat's [[rating]]; --judge-rating-fallback then takes the 1-10 it finds most likely."
$BIN/llmeval validate
LLMEVAL_JUDGE_MODEL=${LLMEVAL_JUDGE_MODEL:-smollm2_135m} \
  $BIN/llmeval evaluate --model smollm2_135m --include-optional --samples "$SAMPLES" \
  --judge-max-tokens 96 --judge-rating-fallback
$BIN/llmeval report
$BIN/llmeval report --html
echo "== demo finished in $(( $(date +%s) - started ))s (a second run reuses every result: nothing is stale)"
