#!/usr/bin/env python3
"""make_llama_fixtures.py - builds the tiny LLaMA-family test fixtures in tests/fixtures/llama/.

Each fixture is a random-weight model made and saved by Hugging Face transformers itself
(LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM), so the files have HF's real layout
and names, plus the logits and greedy continuations HF computes for three prompts:

    tests/fixtures/llama/<name>/config.json        HF's config, as save_pretrained writes it
    tests/fixtures/llama/<name>/model.safetensors  HF's weights (or model-0000N-of-0000M.safetensors
                                                   shards + model.safetensors.index.json)
    tests/fixtures/llama/rope_freqs.json           HF's rotary inverse frequencies for a few
                                                   real configurations (see make_rope_freqs)
    tests/fixtures/llama/<name>/expected.json      {"note", "f64_max_abs_diff", "<feature>_max_abs_diff",
                                                    "transformers", "torch", "prompts": [{"ids",
                                                    "greedy", "greedy_min_margin", "logits"}]}

The format of expected.json, the greedy reference (16 tokens, EOS ignored, KV cache on, every
step's top-1/top-2 margin >= 1e-3) and the writer are tools/make_gpt2_fixtures.py's.

The variants cover what differs between LLaMA-family checkpoints: grouped-query (4 heads over
2 KV heads), multi-query (1 KV head) and plain multi-head attention; tied and untied heads;
Qwen2's q/k/v biases and LLaMA's attention_bias + mlp_bias; an explicit head_dim that is not
hidden_size / heads; rope_theta; Llama-3 and linear rope scaling; Mistral's sliding window;
f32, f16 and bf16 weights; a checkpoint sharded into several files with an index.

HF's random init (normal, std 0.02) leaves RMSNorm weights at 1 and biases at 0, so a test
could pass with those ignored or swapped, and at std 0.02 a tiny model is nearly linear. So
after HF's init we scale and perturb, as for GPT-2: Linear weights x7 (std 0.14, about
1/sqrt(hidden)), embeddings x10, RMSNorm weight ~ 1 + 0.1 N(0,1), biases ~ 0.1 N(0,1).
Each fixture records how far its logits move when one feature is dropped (e.g. the rope
scaling, the biases, the tied head's weight sharing) next to the f32-vs-f64 rounding floor,
so the 1e-4 tolerance of tests/test_llama.c is seen to lie between the two.

For the f16/bf16 fixtures the reference is computed in float32 from the rounded weights
(model.to(dtype).float()), as attn computes in f32 from f16/bf16 weights.

Deterministic: re-running rewrites the same files (for the same torch/transformers).
Each fixture is reloaded with from_pretrained after saving and must reproduce its logits.

Usage: python3 tools/make_llama_fixtures.py [--out tests/fixtures/llama] [--only NAME...]
       python3 tools/make_llama_fixtures.py --verify     (only reload and check)
"""

import argparse
import copy
import json
import os
import shutil
import sys

import torch
import transformers
from transformers import (AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

from make_gpt2_fixtures import N_GREEDY, PROMPT_LENGTHS, MIN_MARGIN, reference, write_expected
from make_gpt2_fixtures import verify as gpt2_verify

SIZE_LIMIT = 1_500_000  # bytes, all fixtures together
BLOCK_SCALE = 7.0       # Linear weights, after HF's init
EMBED_SCALE = 10.0      # embed_tokens, after HF's init
BIAS_STD = 0.1
SHARD_SIZE = "40KB"     # small enough that the sharded fixture spans several files

COMMON = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, max_position_embeddings=64, rms_norm_eps=1e-5,
              hidden_act="silu", attention_dropout=0.0)

# name: (config class, model class, overrides, seed, save dtype, shard, what to drop to
# measure the fixture's sensitivity)
VARIANTS = {
    "llama-gqa-tied-f32": (LlamaConfig, LlamaForCausalLM,
                           dict(num_key_value_heads=2, tie_word_embeddings=True), 2001,
                           torch.float32, False, "rope_theta"),
    "llama-mha-untied-bias-bf16": (LlamaConfig, LlamaForCausalLM,
                                   dict(num_key_value_heads=4, tie_word_embeddings=False,
                                        attention_bias=True, mlp_bias=True,
                                        rope_parameters=dict(rope_type="default", rope_theta=1000.0)),
                                   2002, torch.bfloat16, False, "bias"),
    "llama3-rope-mqa-f16": (LlamaConfig, LlamaForCausalLM,
                            dict(hidden_size=48, head_dim=16, num_key_value_heads=1,
                                 tie_word_embeddings=False,
                                 rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0,
                                                      low_freq_factor=1.0, high_freq_factor=4.0,
                                                      original_max_position_embeddings=64)),
                            2003, torch.float16, False, "rope_scaling"),
    "qwen2-bias-f32": (Qwen2Config, Qwen2ForCausalLM,
                       dict(hidden_size=48, num_attention_heads=6, num_key_value_heads=2,
                            tie_word_embeddings=True,
                            rope_parameters=dict(rope_type="default", rope_theta=1000000.0)),
                       2004, torch.float32, False, "bias"),
    "mistral-sharded-f32": (MistralConfig, MistralForCausalLM,
                            dict(num_key_value_heads=2, tie_word_embeddings=False, sliding_window=48,
                                 rope_parameters=dict(rope_type="linear", rope_theta=10000.0, factor=2.0)),
                            2005, torch.float32, True, "rope_scaling"),
}


def make_config(config_cls, **overrides):
    """A config with the fixture defaults; BOS/EOS set to the last id of the vocab."""
    kw = dict(COMMON)
    kw.update(overrides)
    v = kw["vocab_size"]
    kw.setdefault("bos_token_id", v - 1)
    kw.setdefault("eos_token_id", v - 1)
    return config_cls(**kw)


@torch.no_grad()
def perturb_(model):
    """Scale HF's init and give RMSNorm weights and biases non-trivial values."""
    for name, p in model.named_parameters():
        if name.endswith("embed_tokens.weight"):
            p.mul_(EMBED_SCALE)
        elif "norm" in name:
            p.copy_(1.0 + 0.1 * torch.randn_like(p))
        elif name.endswith(".bias"):
            p.copy_(BIAS_STD * torch.randn_like(p))
        elif name.endswith(".weight"):
            p.mul_(BLOCK_SCALE)


def build_model(config, model_cls, seed):
    """A random model built by HF (its own init), then scaled and perturbed; eval, float32."""
    torch.manual_seed(seed)
    model = model_cls(config)
    perturb_(model)
    return model.eval()


def save_model(model, out_dir, shard):
    model.save_pretrained(out_dir, **({"max_shard_size": SHARD_SIZE} if shard else {}))
    files = os.listdir(out_dir)
    if shard:
        shards = [f for f in files if f.endswith(".safetensors")]
        assert len(shards) >= 2 and "model.safetensors.index.json" in files, files
    else:
        assert "model.safetensors" in files, files


def config_without(config, feature):
    """The config with one feature dropped: a model built from it computes what an engine that
    ignored the feature would (the weights are loaded unchanged)."""
    c = copy.deepcopy(config)
    rp = dict(c.rope_parameters)
    if feature == "rope_scaling":
        c.rope_parameters = dict(rope_type="default", rope_theta=rp["rope_theta"])
    elif feature == "rope_theta":
        c.rope_parameters = dict(rp, rope_theta=500000.0)
    return c


@torch.no_grad()
def sensitivity(ref, model_cls, prompts, feature):
    """(max |f32 - f64| logits, max change when `feature` is dropped): the rounding noise
    floor and the size of one plausible engine bug, to choose a tolerance."""
    ref64 = copy.deepcopy(ref).double()
    if feature == "bias":
        alt = copy.deepcopy(ref)
        for name, p in alt.named_parameters():
            if name.endswith(".bias"):
                p.zero_()
    else:
        alt = model_cls(config_without(ref.config, feature)).eval()
        alt.load_state_dict(ref.state_dict())
        if ref.config.tie_word_embeddings:
            alt.tie_weights()
    noise = bug = 0.0
    for p in prompts:
        x = torch.tensor([p["ids"]])
        base = ref(input_ids=x).logits
        noise = max(noise, float((ref64(input_ids=x).logits - base.double()).abs().max()))
        bug = max(bug, float((alt(input_ids=x).logits - base).abs().max()))
    return noise, bug


def rounded_reference(model, model_cls, config):
    """A float32 model holding `model`'s rounded weights: the reference computed in f32 from
    the saved weights. Built afresh, not model.float(): model.to(f16/bf16) also rounded the
    rope frequency buffer, which HF recomputes in f32 when it loads the checkpoint."""
    ref = model_cls(config).eval()
    ref.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    if config.tie_word_embeddings:
        ref.tie_weights()
    return ref


def choose_prompts(ref, vocab, seed, name):
    """Random prompts of each length whose greedy path has every margin >= MIN_MARGIN."""
    gen = torch.Generator().manual_seed(seed + 7)
    prompts = []
    for n in PROMPT_LENGTHS:
        for _ in range(200):
            ids = torch.randint(0, vocab, (n,), generator=gen).tolist()
            logits, greedy, margin = reference(ref, ids, N_GREEDY)
            if margin >= MIN_MARGIN:
                break
        else:
            sys.exit(f"{name}: no prompt of length {n} with greedy margin >= {MIN_MARGIN}")
        prompts.append(dict(ids=ids, logits=logits.tolist(), greedy=greedy, greedy_min_margin=margin))
    return prompts


def make_fixture(out_root, name, config_cls, model_cls, overrides, seed, dtype, shard, feature):
    config = make_config(config_cls, **overrides)
    assert config.max_position_embeddings >= max(PROMPT_LENGTHS) + N_GREEDY
    model = build_model(config, model_cls, seed)
    out_dir = os.path.join(out_root, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    model = model.to(dtype)
    save_model(model, out_dir, shard)
    ref = rounded_reference(model, model_cls, config)
    ref.config.use_cache = True
    # greedy_config's eos_token_id=None is overridden by the model's own generation config in
    # transformers 5; clear it there too so every path has exactly N_GREEDY tokens
    ref.generation_config.eos_token_id = None
    prompts = choose_prompts(ref, config.vocab_size, seed, name)

    note = (f"Random {model_cls.__name__} made by tools/make_llama_fixtures.py (seed {seed}): HF init, "
            f"then Linear weights x{BLOCK_SCALE:g}, embed_tokens x{EMBED_SCALE:g}, RMSNorm weight 1+0.1N, "
            f"biases {BIAS_STD:g}N. Saved by save_pretrained in {str(dtype).replace('torch.', '')}"
            + (f" with max_shard_size={SHARD_SIZE}" if shard else "")
            + ". logits: float32, eval, no_grad, one row per prompt position, computed in f32 from the "
            f"saved (rounded) weights. greedy: generate(do_sample=False, max_new_tokens={N_GREEDY}, "
            "use_cache=True), EOS ignored; greedy_min_margin: the smallest top-1 minus top-2 logit "
            "along that path.")
    noise, bug = sensitivity(ref, model_cls, prompts, feature)
    extra = {"f64_max_abs_diff": float("%.3g" % noise), f"{feature}_max_abs_diff": float("%.3g" % bug)}
    note += (f" f64_max_abs_diff: max |logit| change when HF computes in float64 (the rounding noise "
             f"floor); {feature}_max_abs_diff: max change when the model's {feature.replace('_', ' ')} "
             "is dropped or changed (a bug a test must catch). A tolerance of 1e-4 lies between them.")
    write_expected(os.path.join(out_dir, "expected.json"), prompts, note, extra)
    files = sorted(os.listdir(out_dir))
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in files)
    margins = ", ".join(f"{p['greedy_min_margin']:.2g}" for p in prompts)
    print(f"{name:28s} {size/1024:7.1f} KiB  {' '.join(files)}\n{'':28s} greedy margins {margins};"
          f" f64 noise {noise:.1e}; {feature} bug {bug:.1e}")


# (rope_parameters, head_dim): real models' settings, where the prompts above cannot reach
ROPE_CASES = [
    (dict(rope_type="default", rope_theta=10000.0), 128),     # LLaMA 1/2, Mistral
    (dict(rope_type="default", rope_theta=500000.0), 128),    # Llama 3
    (dict(rope_type="default", rope_theta=1000000.0), 64),    # Qwen2 0.5B
    (dict(rope_type="default", rope_theta=100000.0), 64),     # SmolLM2
    (dict(rope_type="linear", rope_theta=10000.0, factor=4.0), 128),
    (dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0,
          high_freq_factor=4.0, original_max_position_embeddings=8192), 128),  # Llama 3.1/3.2
    (dict(rope_type="llama3", rope_theta=500000.0, factor=32.0, low_freq_factor=1.0,
          high_freq_factor=4.0, original_max_position_embeddings=8192), 64),   # Llama 3.2 1B
]


def make_rope_freqs(out_root):
    """HF's inverse frequencies (float32) for ROPE_CASES. Angles are position x frequency, so
    at position 1000 a frequency 1 ulp off moves logits by ~1e-4: the prompts of the model
    fixtures (36 positions) cannot see that, these values can."""
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding
    cases = []
    for params, head_dim in ROPE_CASES:
        config = LlamaConfig(hidden_size=head_dim * 4, num_attention_heads=4, head_dim=head_dim,
                             max_position_embeddings=131072, rope_parameters=dict(params))
        if params["rope_type"] == "default":
            inv, _ = LlamaRotaryEmbedding.compute_default_rope_parameters(config)
        else:
            inv, _ = ROPE_INIT_FUNCTIONS[params["rope_type"]](config, "cpu")
        assert inv.dtype == torch.float32
        cases.append(dict(rope_parameters=params, head_dim=head_dim,
                          inv_freq=[float(x) for x in inv.tolist()]))
    with open(os.path.join(out_root, "rope_freqs.json"), "w") as f:
        json.dump(dict(note="HF transformers " + transformers.__version__ + " rotary inverse frequencies "
                       "(float32, printed exactly) by tools/make_llama_fixtures.py", cases=cases), f, indent=1)


def verify(out_root, name):
    # float32: loaded in bf16/f16, HF would also build its rope frequencies in that dtype
    return gpt2_verify(out_root, name, lambda d: AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32), 28)


def main():
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "llama"))
    ap.add_argument("--only", nargs="*", help="names of the variants to rebuild")
    ap.add_argument("--verify", action="store_true",
                    help="only reload the fixtures with from_pretrained and check expected.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = [n for n in VARIANTS if not args.only or n in args.only]
    if args.verify:
        sys.exit(0 if all([verify(args.out, n) for n in names]) else 1)
    os.makedirs(args.out, exist_ok=True)
    make_rope_freqs(args.out)
    for name in names:
        make_fixture(args.out, name, *VARIANTS[name])
        if not verify(args.out, name):
            sys.exit(f"{name}: the saved files do not reproduce the expected logits")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.out) for f in fs)
    print(f"total {total/1024:.1f} KiB in {os.path.normpath(args.out)}")
    if total >= SIZE_LIMIT:
        sys.exit(f"fixtures are {total} bytes, over the {SIZE_LIMIT} byte budget")


if __name__ == "__main__":
    main()
