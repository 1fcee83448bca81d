#!/usr/bin/env python3
"""lm-evaluation-harness against `attn serve`, next to its own Hugging Face backend on the same
GGUF model: a multiple-choice task (the last word of TinyStories sentences against three
others, made here from ../shared/data) runs through lm-eval's `local-completions` (echo with
logprobs: attn scores the prompts) and through `hf` (transformers dequantizes the GGUF to f32).
Prints both scores and the largest difference between their per-choice loglikelihoods.

Needs `pip install "lm-eval[api]" accelerate` beside tools/requirements.txt; runs offline.
Usage: tools/check_lmeval.py --attn build/attn --gguf SmolLM2-135M-Instruct.Q4_1.gguf
       [--docs 60] [--serve-args "--matmul f32 --kv-type f32"] [--work /tmp/attn-lmeval]
(serve's defaults round activations on quantized weights to 8 bits and keep an f16 cache, as
llama.cpp does; --matmul f32 --kv-type f32 computes exactly)."""
import argparse
import glob
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request

TASK = """task: attn_tinystories_mc
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: choices
doc_to_target: gold
target_delimiter: ""
metric_list:
  - metric: acc
  - metric: acc_norm
"""


def make_task(work, stories, n_docs):
    """Sentences of 10-30 words: the context is all but the last word, the choices that word and
    three last words of other sentences."""
    rng = random.Random(7)
    text = open(stories).read()[:400000]
    sents = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if 10 <= len(s.split()) <= 30 and s.strip()[-1] == "."]
    rng.shuffle(sents)
    lasts = sorted({s.split()[-1].rstrip(".") for s in sents if s.split()[-1].rstrip(".").isalpha()})
    with open(f"{work}/docs.jsonl", "w") as f:
        for s in sents[:n_docs]:
            words = s.rstrip(".").split()
            gold = words[-1]
            choices = [gold] + rng.sample([w for w in lasts if w != gold], 3)
            rng.shuffle(choices)
            f.write(json.dumps({"context": " ".join(words[:-1]), "choices": [f" {c}." for c in choices],
                                "gold": choices.index(gold)}) + "\n")
    with open(f"{work}/attn_tinystories_mc.yaml", "w") as f:
        f.write(TASK.format(data=f"{work}/docs.jsonl"))


def lm_eval(work, name, model, model_args):
    out = f"{work}/out_{name}"
    shutil.rmtree(out, ignore_errors=True)  # lm-eval adds timestamped files: read only this run's
    cmd = [sys.executable, "-m", "lm_eval", "--model", model, "--model_args", model_args, "--tasks",
           "attn_tinystories_mc", "--include_path", work, "--log_samples", "--output_path", out]
    if model == "hf":
        cmd += ["--device", "cpu", "--batch_size", "8"]
    t = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = json.load(open(glob.glob(f"{out}/**/results_*.json", recursive=True)[0]))["results"]
    samples = {}
    for line in open(glob.glob(f"{out}/**/samples_*.jsonl", recursive=True)[0]):
        s = json.loads(line)
        samples[s["doc_id"]] = [float(r[0][0]) for r in s["resps"]]
    return results["attn_tinystories_mc"], samples, time.time() - t


def serve(attn, gguf, extra, log):
    args = [attn, "serve", "-m", gguf, "--port", "0", "-c", "2048", "--parallel", "2", "--alias", "model"] + extra
    p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(300):
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", open(log.name).read())
        if m:
            urllib.request.urlopen(m.group(1) + "/health").read()
            return p, m.group(1)
        time.sleep(0.1)
    p.kill()
    sys.exit("attn serve did not start: " + open(log.name).read()[-400:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attn", required=True)
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--data", default="../shared/data/text/tinystories-lowercase-4M.txt")
    ap.add_argument("--docs", type=int, default=60)
    ap.add_argument("--serve-args", default="", help="more options for attn serve")
    ap.add_argument("--work", default="/tmp/attn-lmeval")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    os.environ.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="2", TOKENIZERS_PARALLELISM="false")
    make_task(a.work, a.data, a.docs)
    from transformers import AutoTokenizer  # the GGUF's tokenizer as a folder lm-eval can load
    gguf = os.path.abspath(a.gguf)
    AutoTokenizer.from_pretrained(os.path.dirname(gguf), gguf_file=os.path.basename(gguf)).save_pretrained(
        f"{a.work}/tokenizer")
    hf, hf_ll, hf_s = lm_eval(a.work, "hf", "hf", f"pretrained={os.path.dirname(gguf)},gguf_file="
                              f"{os.path.basename(gguf)},tokenizer={a.work}/tokenizer,dtype=float32")
    with open(f"{a.work}/serve.log", "w") as log:
        p, url = serve(a.attn, a.gguf, shlex.split(a.serve_args), log)
        try:
            at, at_ll, at_s = lm_eval(a.work, "attn", "local-completions",
                                      f"model=model,base_url={url}/v1/completions,tokenizer_backend=huggingface,"
                                      f"tokenizer={a.work}/tokenizer,num_concurrent=1,max_retries=1")
        finally:
            p.terminate()
            p.wait()
    diffs = [abs(x - y) for k in hf_ll for x, y in zip(hf_ll[k], at_ll[k])]
    for name, r, s in (("hf (transformers)", hf, hf_s), ("attn serve", at, at_s)):
        print(f"{name:18s} acc {r['acc,none']:.4f}  acc_norm {r['acc_norm,none']:.4f}  ({s:.0f} s)")
    print(f"{len(diffs)} loglikelihoods: max |attn - hf| {max(diffs):.3g}, mean {sum(diffs) / len(diffs):.3g}"
          f" (attn serve {a.serve_args or 'with its defaults'})")


if __name__ == "__main__":
    main()
