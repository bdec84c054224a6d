#!/usr/bin/env bash
# Screenshot the HTML report in headless Chromium, to check by eye that the page and its plots render.
#   bench/screenshot_report.sh [.llmeval/report/index.html] [/tmp/report.png] [height_px]
# Needs a Chromium binary (Debian: `apt-get install -y chromium`; not a project dependency). The flags keep it
# offline and quiet: no first-run UI, no background networking, component updates or sync.
set -euo pipefail

html=$(realpath "${1:-.llmeval/report/index.html}")
png=$(realpath -m "${2:-/tmp/report.png}")
height=${3:-2400}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -f "$html" ] || { echo "no report at $html: run \`llmeval report --html\` first" >&2; exit 2; }
[ -n "$browser" ] || { echo "no chromium on PATH (Debian: apt-get install -y chromium)" >&2; exit 2; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --hide-scrollbars --user-data-dir="$profile" \
  --window-size=1400,"$height" --screenshot="$png" "file://$html" 2>/dev/null
echo "$png"
