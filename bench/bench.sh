#!/usr/bin/env bash
# Benchmark the monthly batch on synthetic data: 100 and 1,000 clinics × 36 months.
# Three runs of each: wall time, per-stage times (from manifest.json), per-PDF
# time and peak RSS, then min/median/max of wall time and peak RSS.
# Usage: bash bench/bench.sh [WORKDIR]   (needs GNU time: /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sixbb-target}"
cargo build --release -q
BIN="$CARGO_TARGET_DIR/release/sixbb"
WORK="${1:-${TMPDIR:-/tmp}/sixbb-bench}"
mkdir -p "$WORK"
[ -x /usr/bin/time ] || { echo "install GNU time (apt-get install -y time)" >&2; exit 2; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
for N in 100 1000; do
  DATA="$WORK/data-$N"
  if [ ! -f "$DATA/prescriptions.csv" ]; then
    "$BIN" synth --clinics "$N" --months 36 --seed 7 --out "$DATA" >/dev/null
  fi
  RX=$(($(wc -l < "$DATA/prescriptions.csv") - 1))
  printf '[data]\nfolder = "data-%s"\n[report]\nmonth = "2024-06"\n[output]\nfolder = "out-%s"\n' "$N" "$N" > "$WORK/p$N.toml"
  for MODE in no-worklists worklists; do
    FLAG=""; [ "$MODE" = no-worklists ] && FLAG="--no-worklists"
    WALLS=(); RSSS=(); LINES=()
    for RUN in 1 2 3; do
      LOG="$WORK/log-$N-$MODE-$RUN.txt"
      /usr/bin/time -v "$BIN" run "$WORK/p$N.toml" --force $FLAG 2> "$LOG" >/dev/null || true
      WALLS+=("$(grep "Elapsed (wall clock)" "$LOG" | awk '{print $NF}' | awk -F: '{print $(NF-1)*60+$NF}')")
      RSSS+=("$(grep "Maximum resident set size" "$LOG" | awk '{printf "%.0f", $NF/1024}')")
      PDF=$(grep -o "[0-9.]* ms per clinic report and thread" "$LOG" | awk '{print $1}')
      STAGES=$(python3 -c "import json,sys; m=json.load(open('$WORK/out-$N/manifest.json')); print(', '.join(f'{k} {v:.2f} s' for k,v in m['timings']))")
      VM=$(python3 -c "import json; m=json.load(open('$WORK/out-$N/manifest.json')); t=dict(m['timings']); print(f\"{t['validate']+t['metrics']:.2f} s, {$RX/(t['validate']+t['metrics'])/1e6:.2f} M rows/s\")")
      echo "  run $RUN: wall ${WALLS[-1]} s, peak RSS ${RSSS[-1]} MB; stages: $STAGES; load+validate+metrics $VM; $PDF ms per report per thread"
    done
    echo "$N clinics, $RX prescription rows, $MODE: wall min/median/max $(printf '%s\n' "${WALLS[@]}" | sort -g | paste -sd/) s; peak RSS $(printf '%s\n' "${RSSS[@]}" | sort -g | paste -sd/) MB"
  done
done
