#!/usr/bin/env python3
"""make_random_llama_gguf.py - writes a LLaMA-architecture GGUF with random f16 weights in any
shape (default: TinyLlama-1.1B's), with llama.cpp's tensor names and metadata, and the real
32000-token LLaMA SentencePiece vocabulary copied from ../shared/data/vocab-tests
(ggml-vocab-llama-spm.gguf) so llama.cpp loads it too. For speed benchmarks: timings do not
depend on the weights' values. Needs numpy and gguf (llama.cpp's gguf-py, on PyPI).

Usage: make_random_llama_gguf.py -o OUT.gguf [--layers 22 --embd 2048 --ffn 5632 --heads 32
                                             --kv-heads 4 --vocab 32000 --ctx 2048 --seed 0]
"""

import argparse
import os

import numpy as np
import gguf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB = os.path.join(REPO, "..", "shared", "data", "vocab-tests", "ggml-vocab-llama-spm.gguf")


def copy_tokenizer(w, path, vocab):
    r = gguf.GGUFReader(path)
    tokens = [bytes(r.fields["tokenizer.ggml.tokens"].parts[i]).decode("utf-8")
              for i in r.fields["tokenizer.ggml.tokens"].data]
    if len(tokens) != vocab:
        raise SystemExit(f"{path} has {len(tokens)} tokens, the model wants {vocab}")
    f = r.fields
    w.add_tokenizer_model(bytes(f["tokenizer.ggml.model"].parts[-1]).decode())
    w.add_token_list(tokens)
    w.add_token_scores([float(f["tokenizer.ggml.scores"].parts[i][0]) for i in f["tokenizer.ggml.scores"].data])
    w.add_token_types([int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data])
    for key, add in (("bos", w.add_bos_token_id), ("eos", w.add_eos_token_id), ("unknown", w.add_unk_token_id)):
        fld = f[f"tokenizer.ggml.{key}_token_id"]
        add(int(fld.parts[fld.data[0]][0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--layers", type=int, default=22)
    ap.add_argument("--embd", type=int, default=2048)
    ap.add_argument("--ffn", type=int, default=5632)
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--kv-heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--ctx", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    hd = a.embd // a.heads
    w = gguf.GGUFWriter(a.out + ".part", "llama")
    w.add_name(f"random LLaMA {a.layers}L/{a.embd} (attn benchmark weights)")
    w.add_context_length(a.ctx)
    w.add_embedding_length(a.embd)
    w.add_block_count(a.layers)
    w.add_feed_forward_length(a.ffn)
    w.add_head_count(a.heads)
    w.add_head_count_kv(a.kv_heads)
    w.add_rope_dimension_count(hd)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(1)  # MOSTLY_F16
    copy_tokenizer(w, VOCAB, a.vocab)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float16)

    def ones(n):
        return np.ones(n, dtype=np.float32)
    w.add_tensor("token_embd.weight", mat(a.vocab, a.embd))
    for i in range(a.layers):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", ones(a.embd))
        w.add_tensor(p + "attn_q.weight", mat(a.embd, a.embd))
        w.add_tensor(p + "attn_k.weight", mat(a.kv_heads * hd, a.embd))
        w.add_tensor(p + "attn_v.weight", mat(a.kv_heads * hd, a.embd))
        w.add_tensor(p + "attn_output.weight", mat(a.embd, a.embd))
        w.add_tensor(p + "ffn_norm.weight", ones(a.embd))
        w.add_tensor(p + "ffn_gate.weight", mat(a.ffn, a.embd))
        w.add_tensor(p + "ffn_up.weight", mat(a.ffn, a.embd))
        w.add_tensor(p + "ffn_down.weight", mat(a.embd, a.ffn))
    w.add_tensor("output_norm.weight", ones(a.embd))
    w.add_tensor("output.weight", mat(a.vocab, a.embd))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(a.out + ".part", a.out)
    print(a.out)


if __name__ == "__main__":
    main()
