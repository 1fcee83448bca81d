#!/usr/bin/env python3
"""make_gpt2_fixtures.py - builds the tiny GPT-2 test fixtures in tests/fixtures/gpt2/.

Each fixture is a random-weight GPT-2 made and saved by Hugging Face transformers itself,
so the files have HF's real layout (Conv1D weights stored [in, out], the `transformer.`
prefix, a tied lm_head that is not stored), plus the logits and greedy continuations HF
computes for three prompts:

    tests/fixtures/gpt2/<name>/config.json        HF's config, as save_pretrained writes it
    tests/fixtures/gpt2/<name>/model.safetensors  HF's weights, as save_pretrained writes them
    tests/fixtures/gpt2/<name>/expected.json      {"note", "f64_max_abs_diff",
                                                    "erf_gelu_max_abs_diff", "transformers",
                                                    "torch", "prompts": [{"ids", "greedy",
                                                    "greedy_min_margin", "logits"}]}

"logits" holds one row of vocab_size floats per prompt position (float32 values, printed
with repr). "greedy" holds the 16 ids that HF's model.generate(do_sample=False,
max_new_tokens=16, use_cache=True) appends to the prompt; EOS is ignored, so there are
always 16. "greedy_min_margin" is the smallest gap between the best and second-best logit
over those 16 steps: prompts are chosen so that it is >= MIN_MARGIN, so a correct engine
whose logits differ from HF's by float rounding cannot pick a different token.

HF's random init (normal, std 0.02) leaves LayerNorm weights at 1 and every bias at 0, so
a test could pass with those parameters ignored or swapped; and at std 0.02 a tiny model is
so close to linear that tanh-GELU and erf-GELU give logits 3e-6 apart (below any test
tolerance) and greedy decoding just repeats one token. So after HF's init we scale and
perturb: Linear (Conv1D) weights x7 (std 0.14, about 1/sqrt(n_embd)), wte/wpe x10 (std 0.2),
LayerNorm weight ~ 1 + 0.1 N(0,1), LayerNorm bias ~ 0.05 N(0,1), Linear bias ~ 0.02 N(0,1).
Then logits have std ~1.4, swapping the GELU moves them ~1e-3 while f32-vs-f64 rounding
moves them ~2e-6: a tolerance of 1e-4 tells a right engine from a wrong one.

For the f16/bf16 fixtures the reference is computed in float32 from the rounded weights
(model.to(dtype).float()), as attn computes in f32 from f16/bf16 weights.

Deterministic: re-running rewrites the same files (for the same torch/transformers).
Each fixture is reloaded with from_pretrained after saving and must reproduce its logits.

Usage: python3 tools/make_gpt2_fixtures.py [--out tests/fixtures/gpt2] [--only NAME...]
       python3 tools/make_gpt2_fixtures.py --verify     (only reload and check)
"""

import argparse
import copy
import inspect
import json
import os
import shutil
import sys

import torch
import transformers
from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, GPT2Model

N_GREEDY = 16
PROMPT_LENGTHS = (1, 7, 20)
MIN_MARGIN = 1e-3  # smallest top-1/top-2 logit gap allowed along a greedy path
SIZE_LIMIT = 1_500_000  # bytes, all fixtures together

# name: (config overrides, seed, save dtype, save as bare GPT2Model)
VARIANTS = {
    "tiny-f32": (dict(n_layer=2, n_embd=48, n_head=4, vocab_size=97, n_positions=64), 1001,
                 torch.float32, False),
    "tiny-noprefix-f32": (dict(n_layer=3, n_embd=32, n_head=2, vocab_size=61, n_positions=64),
                          1002, torch.float32, True),
    "tiny-f16": (dict(n_layer=2, n_embd=48, n_head=4, vocab_size=97, n_positions=64), 1003,
                 torch.float16, False),
    "tiny-bf16": (dict(n_layer=2, n_embd=48, n_head=4, vocab_size=97, n_positions=64), 1004,
                  torch.bfloat16, False),
    "tiny-odd": (dict(n_layer=1, n_embd=40, n_head=5, n_inner=72, vocab_size=33, n_positions=40),
                 1005, torch.float32, False),
}


def make_config(**overrides):
    """A GPT-2 config with the fixture defaults; BOS/EOS set to the last id of the vocab."""
    kw = dict(activation_function="gelu_new", layer_norm_epsilon=1e-5,
              resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    kw.update(overrides)
    v = kw["vocab_size"]
    kw.setdefault("bos_token_id", v - 1)
    kw.setdefault("eos_token_id", v - 1)
    return GPT2Config(**kw)


BLOCK_SCALE = 7.0   # Linear (Conv1D) weights, after HF's init
EMBED_SCALE = 10.0  # wte and wpe, after HF's init


@torch.no_grad()
def perturb_(model, block_scale=BLOCK_SCALE, embed_scale=EMBED_SCALE):
    """Scale HF's init and give LayerNorm weights/biases and Linear biases non-trivial values."""
    for name, p in model.named_parameters():
        if name.endswith("wte.weight") or name.endswith("wpe.weight"):
            p.mul_(embed_scale)
        elif ".ln_" in name or name.startswith("ln_"):
            if name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.05 * torch.randn_like(p))
        elif name.endswith(".bias"):
            p.copy_(0.02 * torch.randn_like(p))
        elif name.endswith(".weight"):
            p.mul_(block_scale)


def build_model(config, seed, bare=False, block_scale=BLOCK_SCALE, embed_scale=EMBED_SCALE):
    """A random GPT-2 built by HF (its own init), then scaled and perturbed; eval, float32."""
    torch.manual_seed(seed)
    cls = GPT2Model if bare else GPT2LMHeadModel
    model = cls(config)
    perturb_(model, block_scale, embed_scale)
    return model.eval()


def save_model(model, out_dir):
    """save_pretrained as safetensors (the only format transformers 5 writes)."""
    kw = {}
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        kw["safe_serialization"] = True
    model.save_pretrained(out_dir, **kw)


def lm_head_model(model):
    """A GPT2LMHeadModel (float32, eval) computing what `model` computes, for reference use.

    A bare GPT2Model has no head: attn ties it to wte, so the reference does the same by
    loading the bare weights into an LM model (its tied lm_head then is wte)."""
    if isinstance(model, GPT2LMHeadModel):
        ref = model
    else:
        ref = GPT2LMHeadModel(model.config)
        missing, unexpected = ref.transformer.load_state_dict(model.state_dict(), strict=False)
        assert not unexpected and all(k.endswith("attn.bias") or k.endswith("masked_bias")
                                      for k in missing), (missing, unexpected)
        ref.tie_weights()
        assert ref.lm_head.weight.data_ptr() == ref.transformer.wte.weight.data_ptr()
    ref.config.use_cache = True
    return ref.float().eval()


def greedy_config(model, n_new):
    """HF greedy decoding of exactly n_new tokens: no EOS (so no early stop and no EOS
    suppression either), KV cache on."""
    return GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=n_new, use_cache=True,
                            eos_token_id=None, bos_token_id=None,
                            pad_token_id=model.config.vocab_size - 1)


@torch.no_grad()
def reference(ref, ids, n_new):
    """HF logits at every prompt position, HF greedy continuation, and its smallest margin."""
    x = torch.tensor([ids], dtype=torch.long)
    logits = ref(input_ids=x).logits[0].float()
    out = ref.generate(x, attention_mask=torch.ones_like(x), generation_config=greedy_config(ref, n_new))
    greedy = out[0, len(ids):].tolist()
    assert len(greedy) == n_new, greedy
    # Margins and a cross-check: argmax of a full (no-cache) forward must give the same path.
    full = ref(input_ids=out[:, :-1]).logits[0, len(ids) - 1:].float()
    top2 = full.topk(2, dim=-1).values
    margin = float((top2[:, 0] - top2[:, 1]).min())
    assert full.argmax(-1).tolist() == greedy, "cached and uncached greedy paths differ"
    return logits, greedy, margin


@torch.no_grad()
def sensitivity(ref, prompts):
    """(max |f32 - f64| logits, max |gelu_new - erf gelu| logits) over the prompts: the
    rounding noise floor and the size of one plausible engine bug, to choose a tolerance."""
    from transformers.activations import ACT2FN
    ref64 = copy.deepcopy(ref).double()
    noise = bug = 0.0
    for p in prompts:
        x = torch.tensor([p["ids"]])
        base = ref(input_ids=x).logits
        noise = max(noise, float((ref64(input_ids=x).logits - base.double()).abs().max()))
        for blk in ref64.transformer.h:
            blk.mlp.act = ACT2FN["gelu"]
        bug = max(bug, float((ref64(input_ids=x).logits - base.double()).abs().max()))
        for blk in ref64.transformer.h:
            blk.mlp.act = ACT2FN[ref.config.activation_function]
    return noise, bug


def write_expected(path, prompts, note, extra):
    with open(path, "w") as f:
        f.write('{\n  "note": %s,\n' % json.dumps(note))
        for k, v in extra.items():
            f.write('  "%s": %s,\n' % (k, json.dumps(v)))
        f.write('  "transformers": %s,\n  "torch": %s,\n' %
                (json.dumps(transformers.__version__), json.dumps(torch.__version__)))
        f.write('  "prompts": [\n')
        for i, p in enumerate(prompts):
            f.write('    {"ids": %s,\n' % json.dumps(p["ids"]))
            f.write('     "greedy": %s,\n' % json.dumps(p["greedy"]))
            f.write('     "greedy_min_margin": %r,\n' % p["greedy_min_margin"])
            f.write('     "logits": [\n')
            rows = [" [" + ", ".join(repr(float(v)) for v in row) + "]" for row in p["logits"]]
            f.write(",\n".join("      " + r for r in rows))
            f.write("]}%s\n" % ("," if i + 1 < len(prompts) else ""))
        f.write("  ]\n}\n")
    with open(path) as f:  # must be valid JSON
        json.load(f)


def make_fixture(out_root, name, overrides, seed, dtype, bare):
    config = make_config(**overrides)
    model = build_model(config, seed, bare)
    out_dir = os.path.join(out_root, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    model = model.to(dtype)
    save_model(model, out_dir)
    ref = lm_head_model(model.float())  # reference computed in f32 from the rounded weights

    assert config.n_positions >= max(PROMPT_LENGTHS) + N_GREEDY
    gen = torch.Generator().manual_seed(seed + 7)
    prompts = []
    for n in PROMPT_LENGTHS:
        for attempt in range(200):
            ids = torch.randint(0, config.vocab_size, (n,), generator=gen).tolist()
            logits, greedy, margin = reference(ref, ids, N_GREEDY)
            if margin >= MIN_MARGIN:
                break
        else:
            sys.exit(f"{name}: no prompt of length {n} with greedy margin >= {MIN_MARGIN}")
        prompts.append(dict(ids=ids, logits=logits.tolist(), greedy=greedy,
                            greedy_min_margin=margin))

    note = (f"Random GPT-2 made by tools/make_gpt2_fixtures.py (seed {seed}): HF init, then "
            f"Linear weights x{BLOCK_SCALE:g}, wte/wpe x{EMBED_SCALE:g}, LayerNorm weight 1+0.1N, LayerNorm bias 0.05N, Linear bias 0.02N. "
            f"Saved by {type(model).__name__}.save_pretrained in {str(dtype).replace('torch.', '')}"
            + (" (no transformer. prefix, no lm_head: the head is tied to wte)" if bare else "")
            + ". logits: float32, eval, no_grad, one row per prompt position, computed in f32 "
            "from the saved (rounded) weights. greedy: generate(do_sample=False, "
            f"max_new_tokens={N_GREEDY}, use_cache=True), EOS ignored; greedy_min_margin: the "
            "smallest top-1 minus top-2 logit along that path.")
    noise, bug = sensitivity(ref, prompts)
    extra = {"f64_max_abs_diff": float("%.3g" % noise), "erf_gelu_max_abs_diff": float("%.3g" % bug)}
    note += (" f64_max_abs_diff: max |logit| change when HF computes in float64 (the rounding "
             "noise floor); erf_gelu_max_abs_diff: max change when GELU is erf instead of tanh "
             "(a bug a test must catch). A tolerance of 1e-4 lies between them.")
    write_expected(os.path.join(out_dir, "expected.json"), prompts, note, extra)
    files = sorted(os.listdir(out_dir))
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in files)
    margins = ", ".join(f"{p['greedy_min_margin']:.2g}" for p in prompts)
    print(f"{name:18s} {size/1024:7.1f} KiB  {' '.join(files)}\n{'':18s} greedy margins {margins};"
          f" f64 noise {noise:.1e}; erf-GELU bug {bug:.1e}; greedy "
          + " | ".join(" ".join(map(str, p["greedy"])) for p in prompts))
    return size


@torch.no_grad()
def verify(out_root, name, load=lambda d: GPT2LMHeadModel.from_pretrained(d).float(), width=18):
    """Reload a fixture from disk with `load` (from_pretrained) and check it reproduces
    expected.json. Shared with the other fixture scripts."""
    d = os.path.join(out_root, name)
    model = load(d).eval()
    with open(os.path.join(d, "expected.json")) as f:
        exp = json.load(f)
    worst = 0.0
    for p in exp["prompts"]:
        got = model(input_ids=torch.tensor([p["ids"]])).logits[0]
        worst = max(worst, float((got - torch.tensor(p["logits"])).abs().max()))
    ok = worst <= 1e-5
    print(f"verify {name:{width}s} from_pretrained max |dlogit| {worst:.2e} {'ok' if ok else 'MISMATCH'}")
    return ok


def main():
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "gpt2"))
    ap.add_argument("--only", nargs="*", help="names of the variants to rebuild")
    ap.add_argument("--verify", action="store_true",
                    help="only reload the fixtures with from_pretrained and check expected.json")
    args = ap.parse_args()
    if args.verify:
        names = args.only or list(VARIANTS)
        sys.exit(0 if all([verify(args.out, n) for n in names]) else 1)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    os.makedirs(args.out, exist_ok=True)
    for name, (overrides, seed, dtype, bare) in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        make_fixture(args.out, name, overrides, seed, dtype, bare)
        if not verify(args.out, name):
            sys.exit(f"{name}: the saved files do not reproduce the expected logits")
    total = sum(os.path.getsize(os.path.join(d, f))
                for d, _, fs in os.walk(args.out) for f in fs)
    print(f"total {total/1024:.1f} KiB in {os.path.normpath(args.out)}")
    if total >= SIZE_LIMIT:
        sys.exit(f"fixtures are {total} bytes, over the {SIZE_LIMIT} byte budget")


if __name__ == "__main__":
    main()
