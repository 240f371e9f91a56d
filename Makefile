# The two commands of the README: `make run` and `make test`.
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: deps build run test test-release test-asan test-tsan bench fuzz clean format

deps:
	@bash hack/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# promconf on the embedded default: the file source over examples/fragments,
# writing to ./out, serving on :8080.
run: build
	./$(BUILD)/promconf --config.file=examples/promconf.yml

# The whole suite: the release build, then the ASan+UBSan build, then the
# concurrent core under TSan.
test: deps
	@bash hack/test.sh

bench: build
	@bash hack/bench.sh $(BUILD)

# libFuzzer targets (clang, build-fuzz/), each run FUZZ_SECONDS (default 60).
fuzz: deps
	@bash hack/fuzz.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build build-asan build-tsan build-fuzz out
