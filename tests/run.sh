#!/usr/bin/env bash
# Set up and run every check: the package in .venv, the workflow linters, a local Slurm cluster (when this machine
# can install one: root with apt-get), and the whole pytest suite. The exit status is pytest's (or the first failing
# linter's); pytest's "no tests collected" (5) stays a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install --quiet -e '.[test]'
export PATH="$PWD/.venv/bin:$PATH"

echo "== snakefmt --check"
snakefmt --check Snakefile workflow
echo "== snakemake --lint"
lint=$(snakemake --lint --cores 1 2>&1) || { echo "$lint"; exit 1; }
case "$lint" in *Congratulations*) echo "lint clean" ;; *) echo "$lint"; exit 1 ;; esac

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -x tests/slurm/start-cluster.sh ]; then
  echo "== starting the local Slurm cluster (tests/slurm/README.md)"
  bash tests/slurm/start-cluster.sh
  trap 'bash tests/slurm/stop-cluster.sh || true' EXIT
  # The cluster was started here, so the Slurm test must run: it fails rather than skips if the cluster is down.
  export SEQTUNE_REQUIRE_SLURM=1
fi

echo "== pytest"
pytest "$@"
