#!/usr/bin/env bash
# Time the default pipeline end to end in a fresh temporary folder:
#   snakemake -s <repo>/Snakefile --configfile <repo>/config/config.yaml --cores 2 --directory <tmp>
# Prints the wall time (plain text and one JSON line). Takes several minutes on a 2-core machine.
# Usage: bash bench/default_run.sh [extra snakemake arguments...]   (KEEP=1 keeps the temporary folder)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
snakemake="${SNAKEMAKE:-$repo/.venv/bin/snakemake}"
if [ ! -x "$snakemake" ]; then
  snakemake="$(command -v snakemake)" || { echo "snakemake not found (set SNAKEMAKE or create $repo/.venv)" >&2; exit 1; }
fi
# The rules call `seqtune`: use the venv's when there is one.
if [ -d "$repo/.venv/bin" ]; then
  export PATH="$repo/.venv/bin:$PATH"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/seqtune_default_run.XXXXXX")"
log="$work/snakemake.log"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    echo "kept: $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

echo "default_run: $(date -Iseconds), $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg), folder $work"
start=$(date +%s.%N)
status=0
"$snakemake" -s "$repo/Snakefile" --configfile "$repo/config/config.yaml" --cores 2 --directory "$work" "$@" \
  >"$log" 2>&1 || status=$?
end=$(date +%s.%N)
seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
jobs=$(grep -Eo '[0-9]+ of [0-9]+ steps \(100%\) done' "$log" | tail -1 | awk '{print $3}')
jobs=${jobs:-unknown}

if [ "$status" -ne 0 ]; then
  echo "snakemake failed (exit $status) after $seconds s; last lines of its log:" >&2
  tail -30 "$log" >&2
fi
echo "wall time: $seconds s ($((${seconds%.*} / 60)) min $((${seconds%.*} % 60)) s), jobs: $jobs, exit status: $status"
printf '{"bench": "default_run", "date": "%s", "seconds": %s, "jobs": "%s", "exit_status": %d, "cores": 2}\n' \
  "$(date +%F)" "$seconds" "$jobs" "$status"
exit "$status"
