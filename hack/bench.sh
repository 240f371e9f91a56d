#!/usr/bin/env bash
# Runs every benchmark in bench/ and prints its figures. Figures, not
# assertions: these machines are shared and noisy, so read them with the
# spread they print.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
for b in "$build"/bench/*_bench; do
  [ -x "$b" ] || continue
  printf '\n==== %s ====\n' "$(basename "$b")"
  "$b"
done
