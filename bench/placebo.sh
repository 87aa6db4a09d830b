#!/usr/bin/env bash
# The outcome models against a known truth, by simulation (issue 17).
#
# For each seed, two synthetic 40-clinic × 48-month studies from the same
# seed: one with the built-in program effect (`--effect 1`) and a placebo
# (`--effect 0`: the intervention clinics keep their start dates but get no
# program, so they are comparison clinics with fake start dates). Prints per
# outcome and model:
#   truth      mean estimate with the effect − mean estimate of the placebo
#              (the effect the program has in the generator, by simulation)
#   coverage   share of effect studies whose 95% interval contains the truth
#   placebo_fp share of placebo studies with p < 0.05 (false positives; 0.05 is nominal)
# Usage: bash bench/placebo.sh [SEEDS=20] [CLINICS=40] [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/sixbb-target}"
cargo build --release -q
BIN="$CARGO_TARGET_DIR/release/sixbb"
SEEDS="${1:-20}"
CLINICS="${2:-40}"
WORK="${3:-${TMPDIR:-/tmp}/sixbb-placebo}"
mkdir -p "$WORK"
for s in $(seq 101 $((100 + SEEDS))); do
  for eff in 1 0; do
    D="$WORK/s$s-e$eff"
    "$BIN" synth --clinics "$CLINICS" --months 48 --patients 300 --seed "$s" --effect "$eff" --out "$D/data" >/dev/null
    printf '[data]\nfolder = "data"\n[report]\nmonth = "2024-06"\n[output]\nfolder = "out"\n' > "$D/p.toml"
    "$BIN" run "$D/p.toml" --force --no-worklists --no-facilitator-reports --shard 1/1000 -q || true
  done
done
python3 - "$WORK" "$SEEDS" <<'PY'
import csv, sys, statistics as st, glob, os
work, seeds = sys.argv[1], int(sys.argv[2])
keep = {("event_study", "year1"), ("event_study", "year2"), ("did", "did"), ("did_year2", "did"),
        ("did_placebo", "did"), ("its", "level_change"), ("its", "slope_change")}
rows = {}
for path in sorted(glob.glob(os.path.join(work, "s*-e*/out/metrics/outcomes.csv"))):
    eff = path.split("-e")[1][0]
    for r in csv.DictReader(open(path)):
        k = (r["outcome"], r["model"], r["term"])
        if (r["model"], r["term"]) in keep and r["estimate"]:
            rows.setdefault(k, {"1": [], "0": []})[eff].append(r)
print(f"{'outcome':<20} {'model':<12} {'term':<13} {'truth':>8} {'coverage':>9} {'placebo_fp':>10}  (n effect/placebo)")
for k in sorted(rows):
    one, zero = rows[k]["1"], rows[k]["0"]
    if not one or not zero:
        continue
    truth = st.mean(float(r["estimate"]) for r in one) - st.mean(float(r["estimate"]) for r in zero)
    ci = [r for r in one if r["ci_low"]]
    cov = sum(float(r["ci_low"]) <= truth <= float(r["ci_high"]) for r in ci) / max(len(ci), 1)
    pz = [r for r in zero if r["p"]]
    fp = sum(float(r["p"]) < 0.05 for r in pz) / max(len(pz), 1)
    print(f"{k[0]:<20} {k[1]:<12} {k[2]:<13} {truth:>8.3f} {cov:>9.2f} {fp:>10.2f}  ({len(one)}/{len(zero)})")
PY
