#!/usr/bin/env bash
# Regenerates every figure and number shown in README.md from the project's own commands.
# Usage: bash docs/make_figures.sh   (after `make demo`; needs .venv; chromium optional for the screenshot)
set -euo pipefail
cd "$(dirname "$0")/.."
Q=.venv/bin/qtopo
IMG=docs/img
mkdir -p "$IMG" out
# 1. key rate versus distance, six protocols with the PLOB bound
$Q rates --device gys-2005 --device snspd-bb84 --device apd-bb84-finite --device mdi-snspd --device tf-sns \
  --device cv-jouguet-2013 --distance-km 0:500:2 --plot "$IMG/rates.png" --format csv > out/rates.csv
# 2. the demo plan and its static map
$Q plan data/surfnet/scenario.toml --out out/demo -q
cp out/demo/map.png "$IMG/map.png"
# 3. a screenshot of the interactive map (offline page, headless chromium)
if command -v chromium >/dev/null 2>&1; then
  tmpd=$(mktemp -d)
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$tmpd" --window-size=1100,900 --virtual-time-budget=4000 \
    --screenshot="$PWD/$IMG/map_html.png" "file://$PWD/out/demo/map.html" >/dev/null 2>&1 || true
  rm -rf "$tmpd"
fi
# 4. APD-only variant (trusted nodes needed) and its rollout over four yearly budgets
$Q plan data/surfnet/scenario.toml --out out/apd -q --set devices.snspd.enabled=false \
  --set 'rollout.budgets_eur=[600000, 400000, 400000, 400000]'
# 5. 1+1 protection on every demand, and its failure analysis
$Q plan data/surfnet/k2/scenario.toml --out out/k2 -q || true
# 6. the sensitivity sweep and its Pareto plot
$Q sweep data/sweeps/surfnet_sensitivity.toml --out out/sweep -q
cp out/sweep/pareto.png "$IMG/pareto.png"
# 7. the README's export excerpt (ETSI documents, relay table, brownfield round trip) from the demo plan
.venv/bin/python docs/export_excerpt.py --plan out/demo
echo "figures in $IMG"
