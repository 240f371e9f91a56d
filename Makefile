# The two commands of the README: `make run` and `make test`.
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: deps build run test test-release test-asan test-tsan bench soak fuzz clean format

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

# The whole suite: the release build and tests, the soak, the ASan+UBSan
# build and tests, the concurrent core under TSan, the fuzz smoke.
test: deps
	@bash hack/test.sh

# hack/test.sh configures $(BUILD) without bench/; this turns it back on.
bench: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DPROMCONF_BUILD_BENCH=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)
	@bash hack/bench.sh $(BUILD)

# The soak (tests/soak/): promconf over every source at once while servers
# die and come back, checked against an independent expectation. Longer than
# the 2-minute run in `make test`: SOAK_SECONDS=600 by default; SOAK_SEED=N
# replays a run.
SOAK_SECONDS ?= 600
soak: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target soak promconf
	SOAK_SECONDS=$(SOAK_SECONDS) ./$(BUILD)/tests/soak

# libFuzzer targets (clang, ASan+UBSan, in build-asan/ beside the ASan
# tests), each run FUZZ_SECONDS (default 60), FUZZ_JOBS at a time.
fuzz: deps
	@bash hack/fuzz.sh

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf build build-asan build-tsan out build-asan.log build-tsan.log build-asan.rc build-tsan.rc
