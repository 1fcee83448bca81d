# attn - build. `make` builds libattn.a and the attn CLI; `make test` runs the unit tests;
# `make SAN=1 test` does the same under ASan+UBSan; `make fuzz` runs the fuzzers briefly.
# Sources are picked up by wildcard: a new src/<layer>/*.c or tests/test_*.c needs no edit here.
CC      ?= cc
SAN     ?= 0
ifeq ($(SAN),1)
BUILD   ?= build-san
OPT     ?= -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD   ?= build
OPT     ?= -O2 -g
endif
CFLAGS  ?=
CFLAGS  += -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -pthread -Iinclude -Isrc \
           -fno-math-errno -MMD -MP $(OPT)
LDLIBS  += -lutf8proc -ljansson -ledit -lm -pthread
LDLIBS  += -lmicrohttpd
# The target the compiler builds for (not the host: a cross build for ARM64 leaves out x86 kernels).
ARCH    := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine)))

LIB_SRC := $(filter-out src/cli/%,$(wildcard src/*/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC:= $(wildcard tests/test_*.c)
SIMD_SRC:= $(wildcard src/core/simd/*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
ifeq ($(ARCH),x86_64)
# Each SIMD kernel file is compiled once per instruction set; cpu.c picks one at run time.
AVX2_FLAGS   := -O3 -mavx2 -mfma -mf16c -DATTN_SIMD_AVX2
AVX512_FLAGS := -O3 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni -mavx512vbmi -mfma -mf16c -DATTN_SIMD_AVX512
LIB_OBJ += $(SIMD_SRC:src/core/simd/%.c=$(BUILD)/simd/avx2/%.o)
LIB_OBJ += $(SIMD_SRC:src/core/simd/%.c=$(BUILD)/simd/avx512/%.o)
endif
# Debian 12's gcc 12 for ARM64 crashes (internal compiler error in vect_transform_reduction)
# vectorizing the tests' max-of-|difference| loops; the tests need no vectorizing.
TEST_FLAGS := $(if $(filter aarch64,$(ARCH)),-fno-tree-vectorize)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(BUILD)/tests/test_api_cxx
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
EXAMPLES:= $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
# Programs on the public API (include/attn/) see include/ and not src/, so a private header
# cannot slip into them: the examples and tests/test_api.c.
PUBLIC_CFLAGS := $(filter-out -Isrc,$(CFLAGS))

.PHONY: all lib test clean run check fuzz bench arm64
all: $(BUILD)/attn $(TESTS) $(BENCHES) $(EXAMPLES)

lib: $(BUILD)/libattn.a

$(BUILD)/libattn.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/attn: $(CLI_OBJ) $(BUILD)/libattn.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libattn.a $(LDLIBS)
	@[ "$(BUILD)" != build ] || ln -sf ../$(BUILD)/attn bin/attn 2>/dev/null || true

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# web.c embeds the page with the assembler's .incbin, so the page is one of its inputs.
$(BUILD)/src/server/web.o: web/index.html

$(BUILD)/simd/avx2/%.o: src/core/simd/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX2_FLAGS) -c -o $@ $<

$(BUILD)/simd/avx512/%.o: src/core/simd/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(AVX512_FLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(BUILD)/libattn.a tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_FLAGS) -Itests -o $@ $< $(BUILD)/libattn.a $(LDLIBS)

$(BUILD)/tests/test_api: tests/test_api.c $(BUILD)/libattn.a tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) $(TEST_FLAGS) -Itests -o $@ $< $(BUILD)/libattn.a $(LDLIBS)

# The public headers from C++ (g++ from build-essential): they must compile and link there too.
CXX ?= g++
$(BUILD)/tests/test_api_cxx: tests/test_api_cxx.cpp $(BUILD)/libattn.a
	@mkdir -p $(dir $@)
	$(CXX) -std=c++11 -Wall -Wextra -Werror -Iinclude $(OPT) -o $@ $< $(BUILD)/libattn.a $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libattn.a
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -o $@ $< $(BUILD)/libattn.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libattn.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libattn.a $(LDLIBS)

test: all
	@tests/run_tests.sh $(BUILD)

# Fuzz targets need clang's libFuzzer; each runs for FUZZ_SECONDS.
FUZZ_SECONDS ?= 30
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
fuzz:
	@tests/fuzz/run_fuzz.sh $(FUZZ_SECONDS) $(FUZZ_SRC)

# The README's two commands.
run:
	@scripts/run.sh
check:
	@scripts/check.sh

bench: all
	@bench/run_bench.sh

# The library and the CLI's objects cross-compiled for ARM64 (Debian's gcc-aarch64-linux-gnu):
# the portable C and the scalar kernels must build there, warnings as errors. The host's
# headers of utf8proc, jansson, libedit and libmicrohttpd come after the ARM64 system's.
# (Linking would need ARM64 builds of those libraries.)
ARM64_CC ?= aarch64-linux-gnu-gcc
arm64:
	@$(MAKE) --no-print-directory BUILD=build-arm64 CC="$(ARM64_CC) -idirafter /usr/include" \
		build-arm64/libattn.a $(CLI_SRC:%.c=build-arm64/%.o)

clean:
	rm -rf build build-san build-fuzz build-arm64

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
