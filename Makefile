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
ARCH    := $(shell uname -m)

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
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TESTS   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCHES := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))
EXAMPLES:= $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))
# Programs on the public API (include/attn/) see include/ and not src/, so a private header
# cannot slip into them: the examples and tests/test_api.c.
PUBLIC_CFLAGS := $(filter-out -Isrc,$(CFLAGS))

.PHONY: all lib test clean run check fuzz bench
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
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libattn.a $(LDLIBS)

$(BUILD)/tests/test_api: tests/test_api.c $(BUILD)/libattn.a tests/test.h
	@mkdir -p $(dir $@)
	$(CC) $(PUBLIC_CFLAGS) -Itests -o $@ $< $(BUILD)/libattn.a $(LDLIBS)

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

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
