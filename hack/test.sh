#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it:
#   1. release build (GCC, -Werror), every test (unit + integration with real
#      etcd, ZooKeeper, Prometheus and the fake Kubernetes API server), then
#      the soak for SOAK_SECONDS (120);
#   2. the same tests built with clang and ASan+UBSan, then the soak under
#      ASan for SOAK_ASAN_SECONDS (45);
#   3. the concurrent core (queue, controller, store, sources) built with
#      clang + TSan, which also checks the thread-safety annotations;
#   4. fuzz smoke: every libFuzzer target (fuzz/) for FUZZ_SMOKE_SECONDS (20)
#      each, from the ASan tree; `make fuzz` runs them longer.
# SOAK_SEED=N replays a soak. PROMCONF_TEST_ONLY=release|soak|asan|tsan|fuzz
# runs one stage.
#
# The tests wait on servers far more than they compute (the release suite
# uses about a sixth of one core over its run), so the sanitizer trees build
# in the background from the start, at the lowest CPU priority: the release
# build and the tests still get the CPU whenever they want it and the
# sanitizer builds fill the rest. Each stage prints when it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
source hack/trees.sh

jobs=$(nproc)
only=${PROMCONF_TEST_ONLY:-all}
want() { [[ $only == all || $only == "$1" ]]; }

start=$SECONDS
stages=()  # "seconds-at-start name", for the summary at the end
built=()
stage() {
  stages+=("$((SECONDS - start)) $*")
  printf '\n==== %s (at %ds) ====\n' "$*" $((SECONDS - start))
}

# The sanitizer trees build one after the other in the background at nice 19,
# in a process group of their own (killed if the suite stops early), from the
# start: they fill whatever CPU the release build and the tests leave idle.
# Each tree's output goes to <dir>.log (shown if it fails) and its exit code
# to <dir>.rc, which await_build waits for.
background_pid=""
trap '[[ -n $background_pid ]] && kill -- "-$background_pid" 2>/dev/null || true' EXIT
build_in_background() {  # "dir targets..." per tree, in order ("all" for every target)
  local spec
  for spec in "$@"; do rm -f "${spec%% *}.rc"; done
  # Job control gives the build a process group of its own (to kill it) but
  # keeps it in this session: a new session (setsid) would be a new
  # scheduler autogroup (Linux' default), which shares the CPU equally with
  # ours whatever its nice value: the release build took twice as long so.
  set -m
  nice -n 19 bash -c '
    for spec in "$@"; do
      read -r -a words <<<"$spec"
      dir=${words[0]} targets=("${words[@]:1}")
      [[ ${targets[0]} == all ]] && targets=() || targets=(--target "${targets[@]}")
      rc=0
      cmake --build "$dir" -j "'"$jobs"'" "${targets[@]}" >"$dir.log" 2>&1 || rc=$?
      echo "$rc" >"$dir.rc"
      [[ $rc == 0 ]] || exit "$rc"
    done' bash "$@" &
  background_pid=$!
  set +m
}
await_build() {  # name, dir
  local name=$1 dir=$2
  while [[ ! -f $dir.rc ]]; do
    if ! kill -0 "$background_pid" 2>/dev/null && [[ ! -f $dir.rc ]]; then
      echo "background build of $dir vanished"; exit 1
    fi
    sleep 1
  done
  if [[ $(cat "$dir.rc") != 0 ]]; then
    tail -n 80 "$dir.log"
    printf '\n==== %s FAILED (at %ds): the whole log is %s.log ====\n' "$name" $((SECONDS - start)) "$dir"
    exit 1
  fi
  printf '==== %s: built (at %ds) ====\n' "$name" $((SECONDS - start))
  built+=("$name: built in the background by $((SECONDS - start))s")
}

# Configured before anything runs, so a CMake error stops the suite at once.
# bench/ is built and run by `make bench`, not here.
want release || want soak && promconf_configure build -DCMAKE_BUILD_TYPE=Release -DPROMCONF_BUILD_BENCH=OFF
want asan || want fuzz && promconf_configure build-asan "${promconf_asan_args[@]}"
want tsan && promconf_configure build-tsan "${promconf_tsan_args[@]}"
# Only the tests labelled tsan run in the TSan tree, so only they are built.
tsan_tests=$(sed -n '/^set(PROMCONF_TSAN_TESTS/,/)/p' tests/CMakeLists.txt |
  tr -d '()' | tr ' ' '\n' | grep '_test$')

background=()
if want asan; then
  background+=("build-asan all")
elif want fuzz; then
  background+=("build-asan fuzz_targets")
fi
want tsan && background+=("build-tsan $(echo $tsan_tests)")
if ((${#background[@]})); then
  printf '==== building %s in the background at nice 19 (logs: <tree>.log) ====\n' \
    "$(printf '%s ' "${background[@]%% *}")"
  build_in_background "${background[@]}"
fi

if want release || want soak; then
  stage "release build"
  if want release; then
    cmake --build build -j "$jobs"
  else
    cmake --build build -j "$jobs" --target soak promconf
  fi
fi
if want release; then
  stage "release tests"
  ctest --test-dir build --output-on-failure -j 2 --timeout 600 -LE soak
fi
if want release || want soak; then
  # Run directly rather than through ctest so its figures show in the log.
  stage "soak (release, ${SOAK_SECONDS:=120} s)"
  SOAK_SECONDS=$SOAK_SECONDS build/tests/soak || [[ $? == 77 ]]  # 77: a server binary is missing
fi

if want asan || want fuzz; then
  stage "waiting for the ASan+UBSan build"
  await_build "ASan+UBSan build (clang)" build-asan
fi
if want asan; then
  stage "ASan+UBSan tests"
  ctest --test-dir build-asan --output-on-failure -j 2 --timeout 900 -LE soak
  stage "soak (ASan+UBSan, ${SOAK_ASAN_SECONDS:=45} s)"
  SOAK_SECONDS=$SOAK_ASAN_SECONDS build-asan/tests/soak || [[ $? == 77 ]]
fi

if want tsan; then
  stage "waiting for the TSan build"
  await_build "TSan build (clang, -Wthread-safety)" build-tsan
  stage "TSan tests: the concurrent core"
  ctest --test-dir build-tsan --output-on-failure -j 2 --timeout 900 -L tsan
fi
if want fuzz; then
  stage "fuzz smoke: libFuzzer targets, ${FUZZ_SMOKE_SECONDS:-20}s each, $jobs at a time"
  FUZZ_SECONDS=${FUZZ_SMOKE_SECONDS:-20} FUZZ_BUILD_JOBS=$jobs bash hack/fuzz.sh
fi
stage "done"
printf '\nstage times (the sanitizer builds ran in the background meanwhile):\n'
for ((i = 0; i + 1 < ${#stages[@]}; i++)); do
  at=${stages[i]%% *} next=${stages[i + 1]%% *}
  printf '  %5ds  %s\n' $((next - at)) "${stages[i]#* }"
done
for b in "${built[@]}"; do printf '         %s\n' "$b"; done
printf '  total %ds\n' $((SECONDS - start))
