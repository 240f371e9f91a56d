#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cc) in build-asan (clang, ASan,
# UBSan; the tree hack/test.sh's ASan stage also runs the tests in), then runs
# each for FUZZ_SECONDS (default 60) over its seed corpus fuzz/corpus/<target>/,
# FUZZ_JOBS (default: the cores) targets at a time. New inputs go to
# build-asan/corpus/<target>/ (the committed seeds are never written); a crash
# leaves its input in build-asan/artifacts/ and fails the run (unless
# fuzz/known_failures.txt lists it: a bug its owner is fixing), naming the
# file to reproduce with:
#   build-asan/fuzz/<target> <crash file>
#
#   make fuzz                          every target, 60 s each
#   FUZZ_SECONDS=600 make fuzz         longer
#   FUZZ_TARGETS="template_fuzz" make fuzz
set -euo pipefail
cd "$(dirname "$0")/.."

source hack/trees.sh
seconds=${FUZZ_SECONDS:-60}
dir=${FUZZ_BUILD:-build-asan}
jobs=${FUZZ_BUILD_JOBS:-$(nproc)}
parallel=${FUZZ_JOBS:-$(nproc)}

promconf_configure "$dir" "${promconf_asan_args[@]}"
cmake --build "$dir" -j "$jobs" --target fuzz_targets

targets=${FUZZ_TARGETS:-$(cd fuzz && ls *_fuzz.cc | sed 's/\.cc$//')}
mkdir -p "$dir/artifacts"

# One target: its log in $dir/<target>.log, its verdict (ok, known, failed)
# and the lines to show in $dir/<target>.result.
run_target() {
  local t=$1 start=$SECONDS
  mkdir -p "$dir/corpus/$t"
  local seeds=() dict=() d
  for d in "fuzz/corpus/$t" "fuzz/corpus/${t%_fuzz}"; do  # with or without _fuzz
    [[ -d $d ]] && seeds+=("$d")
  done
  [[ -f fuzz/$t.dict ]] && dict=("-dict=fuzz/$t.dict")
  {
    printf -- '---- %s: %ss ----\n' "$t" "$seconds"
    # -timeout: one input taking seconds is a bug (work must be linear);
    # -rss_limit_mb: memory must be bounded by the input.
    if "$dir/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" \
        "${dict[@]}" "$dir/corpus/$t" "${seeds[@]}" >"$dir/$t.log" 2>&1; then
      grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$dir/$t.log" |
        tr '\n' ' ' || true
      printf '(%ds)\nverdict: ok\n' $((SECONDS - start))
    else
      grep -aE 'ERROR|SUMMARY|invariant|Test unit written|==[0-9]+==' "$dir/$t.log" | head -20 || true
      tail -5 "$dir/$t.log"
      local known="" kt pattern
      while read -r kt pattern; do
        if [[ $kt == "$t" ]] && grep -aqF -- "$pattern" "$dir/$t.log"; then known=$pattern; fi
      done < <(grep -v '^#' fuzz/known_failures.txt | grep -v '^$')
      if [[ -n $known ]]; then
        printf 'KNOWN FAILURE (fuzz/known_failures.txt: "%s"): not failing the run\nverdict: known\n' "$known"
      else
        printf 'verdict: failed\n'
      fi
    fi
  } >"$dir/$t.result"
}

# libFuzzer is single-threaded: one target per core.
running=0
for t in $targets; do
  if ((running >= parallel)); then wait -n || true; running=$((running - 1)); fi
  run_target "$t" &
  running=$((running + 1))
done
wait
failed=()
for t in $targets; do
  grep -v '^verdict:' "$dir/$t.result"
  grep -q '^verdict: failed' "$dir/$t.result" && failed+=("$t")
done
if ((${#failed[@]})); then
  printf '\nfuzz: FAILED: %s (logs in %s/<target>.log, inputs in %s/artifacts/)\n' \
    "${failed[*]}" "$dir" "$dir"
  exit 1
fi
printf '\nfuzz: every target ran %ss without a finding\n' "$seconds"
