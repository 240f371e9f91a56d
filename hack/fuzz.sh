#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/*_fuzz.cc) in build-fuzz with clang,
# ASan and UBSan, then runs each for FUZZ_SECONDS (default 60) over its seed
# corpus fuzz/corpus/<target>/. New inputs go to build-fuzz/corpus/<target>/
# (the committed seeds are never written); a crash leaves its input in
# build-fuzz/artifacts/ and fails the run (unless fuzz/known_failures.txt
# lists it: a bug its owner is fixing), naming the file to reproduce with:
#   build-fuzz/fuzz/<target> <crash file>
#
#   make fuzz                          every target, 60 s each
#   FUZZ_SECONDS=600 make fuzz         longer
#   FUZZ_TARGETS="template_fuzz" make fuzz
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
dir=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_BUILD_JOBS:-$(nproc)}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:suppressions=$PWD/hack/ubsan_fuzz.supp"
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/hack/lsan.supp:print_suppressions=0}

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
# -O1 with line tables: fast to build, reports still name file:line.
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  -DPROMCONF_BUILD_BENCH=OFF -DPROMCONF_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ "${launcher[@]}" >/dev/null
cmake --build "$dir" -j "$jobs" --target fuzz_targets

targets=${FUZZ_TARGETS:-$(cd fuzz && ls *_fuzz.cc | sed 's/\.cc$//')}
mkdir -p "$dir/artifacts"
failed=()
for t in $targets; do
  mkdir -p "$dir/corpus/$t"
  seeds=()  # fuzz/corpus/<target>/ or fuzz/corpus/<target without _fuzz>/
  for d in "fuzz/corpus/$t" "fuzz/corpus/${t%_fuzz}"; do
    [[ -d $d ]] && seeds+=("$d")
  done
  dict=()
  [[ -f fuzz/$t.dict ]] && dict=("-dict=fuzz/$t.dict")
  printf '\n---- %s: %ss ----\n' "$t" "$seconds"
  start=$SECONDS
  # -timeout: one input taking seconds is a bug (work must be linear);
  # -rss_limit_mb: memory must be bounded by the input.
  if "$dir/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$dir/artifacts/$t-" \
      "${dict[@]}" "$dir/corpus/$t" "${seeds[@]}" >"$dir/$t.log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$dir/$t.log" |
      tr '\n' ' ' || true
    printf '(%ds)\n' $((SECONDS - start))
  else
    grep -aE 'ERROR|SUMMARY|invariant|Test unit written|==[0-9]+==' "$dir/$t.log" | head -20 || true
    tail -5 "$dir/$t.log"
    known=""
    while read -r kt pattern; do
      if [[ $kt == "$t" ]] && grep -aqF -- "$pattern" "$dir/$t.log"; then known=$pattern; fi
    done < <(grep -v '^#' fuzz/known_failures.txt | grep -v '^$')
    if [[ -n $known ]]; then
      printf 'KNOWN FAILURE (fuzz/known_failures.txt: "%s"): not failing the run\n' "$known"
    else
      failed+=("$t")
    fi
  fi
done
if ((${#failed[@]})); then
  printf '\nfuzz: FAILED: %s (logs in %s/<target>.log, inputs in %s/artifacts/)\n' \
    "${failed[*]}" "$dir" "$dir"
  exit 1
fi
printf '\nfuzz: every target ran %ss without a finding\n' "$seconds"
