# Sourced by hack/test.sh and hack/fuzz.sh: how each build tree is configured,
# in one place, so that the fuzz smoke reuses the ASan+UBSan tree the tests
# ran in instead of building the libraries a fourth time.
#
#   build       GCC, Release (-O3), the product and its tests, -Werror
#   build-asan  clang, ASan+UBSan with libFuzzer's coverage (fuzzer-no-link):
#               every test, the soak and the fuzz targets (fuzz/)
#   build-tsan  clang, TSan, -Wthread-safety: the concurrent core's tests
#
# Sanitizer trees: -O1 and line tables only compile and link much faster
# than RelWithDebInfo's -O2 -g and still give reports with file:line; clang
# compiles them in about 60% of GCC's time.
promconf_sanitizer_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only"
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only"
  -DPROMCONF_BUILD_BENCH=OFF -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
promconf_asan_args=("${promconf_sanitizer_args[@]}" -DPROMCONF_SANITIZE=address -DPROMCONF_FUZZ=ON)
promconf_tsan_args=("${promconf_sanitizer_args[@]}" -DPROMCONF_SANITIZE=thread)

# Fatal, useful sanitizer reports. ubsan.supp: RapidJSON 1.1's one known
# pointer-overflow (clang only).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$PWD/hack/ubsan.supp}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/hack/lsan.supp:print_suppressions=0}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/hack/tsan.supp}

promconf_configure() {  # dir, cmake args...
  local dir=$1; shift
  local launcher=()
  if command -v ccache >/dev/null; then  # developers' machines; CI has none
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  fi
  cmake -S . -B "$dir" "$@" "${launcher[@]}" >/dev/null
}
