#!/usr/bin/env bash
# The whole suite, as `make test` and CI run it:
#   1. Release build (-Werror), every test (unit + integration with real
#      etcd, ZooKeeper, Prometheus and the fake Kubernetes API server);
#   2. the same suite built with ASan+UBSan;
#   3. the concurrent core (queue, controller, store, sources) built with
#      clang + TSan, which also checks the thread-safety annotations;
#   the soak (tests/soak/, ctest label "soak") runs in stages of its own:
#   2 minutes on the release build (SOAK_SECONDS), 45 s on the ASan build
#   (SOAK_ASAN_SECONDS). SOAK_SEED=N replays a run.
#   4. fuzz smoke: every libFuzzer target (fuzz/) for FUZZ_SMOKE_SECONDS
#      (default 20) each; `make fuzz` runs them longer.
# Set PROMCONF_TEST_ONLY=release|soak|asan|tsan|fuzz to run one stage.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
only=${PROMCONF_TEST_ONLY:-all}
# Keep sanitizer reports useful and fatal.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/hack/lsan.supp:print_suppressions=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/hack/tsan.supp}

start=$SECONDS
stage() { printf '\n==== %s (at %ds) ====\n' "$*" $((SECONDS - start)); }

configure() {  # dir, extra cmake args...
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
}
# Sanitizer builds: -O1 and line tables only (-g1) compile and link much
# faster than RelWithDebInfo's -O2 -g and still give reports with file:line.
sanitizer_flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" -DPROMCONF_BUILD_BENCH=OFF)

if [[ $only == all || $only == release ]]; then
  stage "release build"
  configure build
  cmake --build build -j "$jobs"
  stage "release tests"
  ctest --test-dir build --output-on-failure -j 2 --timeout 600 -LE soak
fi

# Run directly rather than through ctest so its figures show in the log.
if [[ $only == all || $only == release || $only == soak ]]; then
  if [[ $only == soak ]]; then
    configure build
    cmake --build build -j "$jobs" --target soak promconf
  fi
  stage "soak (release, ${SOAK_SECONDS:=120} s)"
  SOAK_SECONDS=$SOAK_SECONDS build/tests/soak || [[ $? == 77 ]]  # 77: a server binary is missing
fi

if [[ $only == all || $only == asan ]]; then
  stage "ASan+UBSan build"
  configure build-asan "${sanitizer_flags[@]}" -DPROMCONF_SANITIZE=address
  cmake --build build-asan -j "$jobs"
  stage "ASan+UBSan tests"
  ctest --test-dir build-asan --output-on-failure -j 2 --timeout 900 -LE soak
  stage "soak (ASan+UBSan, ${SOAK_ASAN_SECONDS:=45} s)"
  SOAK_SECONDS=$SOAK_ASAN_SECONDS build-asan/tests/soak || [[ $? == 77 ]]
fi

if [[ $only == all || $only == tsan ]]; then
  stage "TSan build (clang, -Wthread-safety)"
  configure build-tsan "${sanitizer_flags[@]}" -DPROMCONF_SANITIZE=thread \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
  # Only the tests labelled tsan run here, so only they are built.
  tsan_tests=$(sed -n '/^set(PROMCONF_TSAN_TESTS/,/)/p' tests/CMakeLists.txt |
    tr -d '()' | tr ' ' '\n' | grep '_test$')
  cmake --build build-tsan -j "$jobs" --target $tsan_tests
  stage "TSan tests: the concurrent core"
  ctest --test-dir build-tsan --output-on-failure -j 2 --timeout 900 -L tsan
fi
if [[ $only == all || $only == fuzz ]]; then
  stage "fuzz smoke: libFuzzer targets, ${FUZZ_SMOKE_SECONDS:-20}s each (clang, ASan+UBSan)"
  FUZZ_SECONDS=${FUZZ_SMOKE_SECONDS:-20} FUZZ_BUILD_JOBS=$jobs bash hack/fuzz.sh
fi
printf "\n==== done in %ds ====\n" $((SECONDS - start))
