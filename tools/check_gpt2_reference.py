#!/usr/bin/env python3
"""check_gpt2_reference.py - checks attn's GPT-2 against Hugging Face transformers at full size.

Builds a random GPT-2 of the real 124M shape with HF (GPT2Config() defaults: 12 layers,
n_embd 768, 12 heads, vocab 50257, 1024 positions), saves it with save_pretrained, computes
HF's logits and greedy continuations for three prompts of random ids (lengths 1, 33, 200),
then runs the attn CLI on the same directory and compares:

  logits  `ATTN logits -m DIR --ids "i1 i2 ..." -o OUT.f32 --all`
          OUT.f32 must be raw little-endian float32 [T][vocab], every prompt position.
          Compared at every 16th position and the last: max |attn - HF| <= --tol (1e-4).
  greedy  `ATTN generate -m DIR --ids "i1 i2 ..." -n 20 --temp 0 --json --ignore-eos`
          stdout must hold one JSON object whose "tokens" are the 20 generated ids (prompt
          not included). Compared with HF generate(do_sample=False, max_new_tokens=20).
          Where they part at a step whose HF top-1/top-2 logit gap is below --tol, the
          two engines are both right (a tie within rounding) and the check passes.

The model and HF's answers are cached in --workdir (default ~/.cache/attn/gpt2-124m-random)
and reused when complete and made by the same script version, seed and library versions.
Weights: HF's own init (normal, std 0.02), then LayerNorm weight 1 + 0.1 N(0,1), LayerNorm
bias 0.05 N(0,1), Linear bias 0.02 N(0,1), so that every parameter matters.

Other modes:
  --fixtures DIR  run the same two checks on the committed tiny fixtures (tests/fixtures/gpt2)
                  against their expected.json: all positions, 16 greedy tokens.
  --hf-only       build/refresh the cache and HF's answers, run no attn (times the HF half).
  --self-test     check this script itself: run the checks against a fake attn made from HF
                  (must pass), then against one whose logits are off by 1e-3 (must fail).

Exit status: 0 all checks pass, 1 a mismatch, 2 attn failed to run or wrote bad output.
Usage: python3 tools/check_gpt2_reference.py --attn build/attn [--size 124M|tiny]
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCRIPT_VERSION = 1  # bump when the model or the reference data change meaning
SEED = 20240601
PROMPT_LENGTHS = (1, 33, 200)
N_GREEDY = 20
POSITION_STRIDE = 16
SIZES = {
    # name: GPT2Config overrides (124M: the defaults, i.e. the real GPT-2 small shape)
    "124M": {},
    "tiny": dict(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=256),
}
ATTN_TIMEOUT = 600


class AttnError(Exception):
    """attn did not run, or wrote output of the wrong shape: exit 2."""


def log(msg):
    print(msg, flush=True)


def quiet_hf():
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import transformers
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


# ---------------------------------------------------------------------------------------
# The HF half: model and expected answers.

def default_workdir(size):
    return os.path.join(os.path.expanduser("~"), ".cache", "attn", f"gpt2-{size.lower()}-random")


def cache_key(size):
    import torch
    import transformers
    return {"script_version": SCRIPT_VERSION, "seed": SEED, "size": size,
            "transformers": transformers.__version__, "torch": torch.__version__}


def read_marker(workdir):
    try:
        with open(os.path.join(workdir, "complete.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def build_model(size):
    """HF GPT2LMHeadModel at the given size, HF init plus the LayerNorm/bias perturbation."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    sys.path.insert(0, HERE)
    from make_gpt2_fixtures import perturb_
    cfg = GPT2Config(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **SIZES[size])
    torch.manual_seed(SEED)
    model = GPT2LMHeadModel(cfg)
    perturb_(model, block_scale=1.0, embed_scale=1.0)  # keep HF's std 0.02 at full size
    return model.eval()


def prompts_for(vocab):
    import torch
    g = torch.Generator().manual_seed(SEED + 1)
    return [torch.randint(0, vocab, (n,), generator=g).tolist() for n in PROMPT_LENGTHS]


def positions_for(t):
    return sorted(set(range(0, t, POSITION_STRIDE)) | {t - 1})


def hf_reference(model, prompts, n_new, positions=None):
    """For each prompt: HF logits at `positions` (all when None), HF greedy ids, and the
    top-1 minus top-2 logit gap at each greedy step."""
    import torch
    from transformers import GenerationConfig
    gc = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=n_new, use_cache=True,
                          eos_token_id=None, bos_token_id=None, pad_token_id=0)
    out = []
    with torch.no_grad():
        for ids in prompts:
            x = torch.tensor([ids])
            logits = model(input_ids=x).logits[0].float()
            pos = positions if positions is not None else list(range(len(ids)))
            pos = pos(len(ids)) if callable(pos) else pos
            seq = model.generate(x, attention_mask=torch.ones_like(x), generation_config=gc)
            greedy = seq[0, len(ids):].tolist()
            full = model(input_ids=seq[:, :-1]).logits[0, len(ids) - 1:].float()
            top2 = full.topk(2, dim=-1).values
            if full.argmax(-1).tolist() != greedy:
                raise RuntimeError("HF's cached and uncached greedy paths differ")
            out.append(dict(ids=list(ids), positions=list(pos), logits=logits[pos].numpy(),
                            greedy=greedy, margins=(top2[:, 0] - top2[:, 1]).numpy()))
    return out


def save_reference(path, refs):
    arrays = {}
    for i, r in enumerate(refs):
        for k, v in r.items():
            arrays[f"p{i}_{k}"] = np.asarray(v)
    np.savez(path, n=len(refs), **arrays)


def load_reference(path):
    with np.load(path) as z:
        n = int(z["n"])
        return [dict(ids=z[f"p{i}_ids"].tolist(), positions=z[f"p{i}_positions"].tolist(),
                     logits=z[f"p{i}_logits"], greedy=z[f"p{i}_greedy"].tolist(),
                     margins=z[f"p{i}_margins"]) for i in range(n)]


def prepare(size, workdir, threads):
    """Make (or reuse) workdir with HF's model files and reference.npz. Returns the refs."""
    import torch
    torch.set_num_threads(threads)
    key = cache_key(size)
    marker = read_marker(workdir)
    if marker and {k: marker.get(k) for k in key} == key and \
            os.path.exists(os.path.join(workdir, "reference.npz")):
        log(f"reusing {workdir} (made {marker.get('made')}, HF half took {marker.get('hf_s')} s)")
        return load_reference(os.path.join(workdir, "reference.npz"))

    t0 = time.time()
    log(f"building a random GPT-2 {size} with transformers in {workdir} ...")
    model = build_model(size)
    tmp = workdir.rstrip("/") + f".tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(tmp) or ".", exist_ok=True)
    model.save_pretrained(tmp)
    files = sorted(os.listdir(tmp))
    if "model.safetensors" not in files:
        raise RuntimeError(f"save_pretrained wrote {files}, expected one model.safetensors")
    t_build = time.time() - t0

    t1 = time.time()
    refs = hf_reference(model, prompts_for(model.config.vocab_size), N_GREEDY, positions_for)
    save_reference(os.path.join(tmp, "reference.npz"), refs)
    t_ref = time.time() - t1

    # How big is the rounding noise (f64 vs f32), to know the tolerance is sound.
    with torch.no_grad():
        x = torch.tensor([refs[-1]["ids"]])
        pos = refs[-1]["positions"]
        l64 = model.double()(input_ids=x).logits[0, pos].numpy()
        noise = float(np.abs(l64 - refs[-1]["logits"]).max())
    marker = dict(key, made=time.strftime("%Y-%m-%d %H:%M:%S"), files=files,
                  build_s=round(t_build, 1), reference_s=round(t_ref, 1),
                  hf_s=round(time.time() - t0, 1), f64_max_abs_diff=noise,
                  logit_abs_max=float(max(np.abs(r["logits"]).max() for r in refs)),
                  min_greedy_margin=float(min(r["margins"].min() for r in refs)))
    with open(os.path.join(tmp, "complete.json"), "w") as f:
        json.dump(marker, f, indent=1)
    shutil.rmtree(workdir, ignore_errors=True)
    os.rename(tmp, workdir)
    log(f"HF half: model built and saved in {t_build:.1f} s, reference in {t_ref:.1f} s; "
        f"|logits| <= {marker['logit_abs_max']:.3g}, f32-vs-f64 noise {noise:.1e}, "
        f"smallest greedy margin {marker['min_greedy_margin']:.1e}")
    return refs


def fixture_refs(fixture_dir):
    with open(os.path.join(fixture_dir, "expected.json")) as f:
        exp = json.load(f)
    refs = []
    for p in exp["prompts"]:
        refs.append(dict(ids=p["ids"], positions=list(range(len(p["ids"]))),
                         logits=np.asarray(p["logits"], dtype=np.float32), greedy=p["greedy"],
                         margins=None, min_margin=p.get("greedy_min_margin")))
    return refs


# ---------------------------------------------------------------------------------------
# The attn half: run the CLI, compare.

def run_attn(cmd, timeout=ATTN_TIMEOUT):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise AttnError(f"cannot run {cmd[0]}: no such file (build it with `make`)")
    except OSError as e:
        raise AttnError(f"cannot run {cmd[0]}: {e}")
    except subprocess.TimeoutExpired:
        raise AttnError(f"`{shlex.join(cmd)}` ran past {timeout} s")
    if p.returncode != 0:
        raise AttnError(f"`{shlex.join(cmd)}` exited {p.returncode}:\n{p.stderr.strip()[-2000:]}")
    return p.stdout, time.time() - t0


def attn_logits(attn, model_dir, ids, vocab, tmpdir):
    out = os.path.join(tmpdir, "logits.f32")
    if os.path.exists(out):
        os.remove(out)
    cmd = [attn, "logits", "-m", model_dir, "--ids", " ".join(map(str, ids)), "-o", out, "--all"]
    _, secs = run_attn(cmd)
    if not os.path.exists(out):
        raise AttnError(f"`{shlex.join(cmd[:4])} ...` exited 0 but wrote no {out}")
    data = np.fromfile(out, dtype="<f4")
    if data.size != len(ids) * vocab:
        raise AttnError(f"{out} holds {data.size} floats ({os.path.getsize(out)} bytes); "
                        f"expected T*vocab = {len(ids)}*{vocab} = {len(ids) * vocab} "
                        "(raw little-endian float32, all positions with --all)")
    return data.reshape(len(ids), vocab), secs


def attn_generate(attn, model_dir, ids, n):
    cmd = [attn, "generate", "-m", model_dir, "--ids", " ".join(map(str, ids)), "-n", str(n),
           "--temp", "0", "--json", "--ignore-eos"]
    stdout, secs = run_attn(cmd)
    obj = None
    try:
        obj = json.loads(stdout)
    except ValueError:  # tolerate other lines around the object: take the last JSON line
        for line in reversed(stdout.strip().splitlines()):
            try:
                obj = json.loads(line)
                break
            except ValueError:
                continue
    if not isinstance(obj, dict) or not isinstance(obj.get("tokens"), list):
        raise AttnError(f"`attn generate --json` printed no JSON object with \"tokens\":\n"
                        f"{stdout.strip()[-1000:]}")
    toks = obj["tokens"]
    if len(toks) == len(ids) + n and toks[:len(ids)] == list(ids):
        raise AttnError("\"tokens\" holds the prompt too; it must hold only the generated ids")
    return [int(t) for t in toks], secs


def compare_greedy(ref, got, tol):
    """(ok, message). A split at a step where HF's top-2 gap is within tol is a tie: ok."""
    want = ref["greedy"]
    if got == want:
        return True, "greedy %d/%d same" % (len(got), len(want))
    if len(got) != len(want):
        return False, f"greedy: attn made {len(got)} tokens, HF {len(want)}: {got} vs {want}"
    k = next(i for i in range(len(want)) if got[i] != want[i])
    margin = None
    if ref.get("margins") is not None:
        margin = float(ref["margins"][k])
    elif ref.get("min_margin") is not None:
        margin = float(ref["min_margin"])  # fixtures store only the smallest gap on the path
    if margin is not None and margin <= tol:
        return True, (f"greedy same for {k} tokens, then a tie within rounding (HF top-2 gap "
                      f"{margin:.1e} at step {k}): accepted")
    gap = f" (HF top-2 gap there {margin:.2e})" if margin is not None else ""
    return False, (f"greedy differs at step {k}{gap}:\n      attn {got}\n      HF   {want}")


def check(attn, model_dir, refs, vocab, n_new, tol):
    """Run attn on every prompt; print one line per check; return True when all pass."""
    ok_all = True
    with tempfile.TemporaryDirectory(prefix="attn-check-") as tmpdir:
        for i, ref in enumerate(refs):
            ids, pos = ref["ids"], ref["positions"]
            logits, t_l = attn_logits(attn, model_dir, ids, vocab, tmpdir)
            got = logits[pos].astype(np.float64)
            want = np.asarray(ref["logits"], dtype=np.float64)
            diff = np.abs(got - want)
            worst = float(diff.max()) if np.isfinite(diff).all() else float("inf")
            r, c = np.unravel_index(int(np.nanargmax(np.where(np.isfinite(diff), diff, np.inf))),
                                    diff.shape)
            ok = worst <= tol
            ok_all &= ok
            log(f"prompt {i} (T={len(ids)}): logits at {len(pos)} positions: max |dlogit| "
                f"{worst:.3e} (pos {pos[r]}, token {c}: attn {got[r, c]:.7g} HF {want[r, c]:.7g})"
                f" {'ok' if ok else 'FAIL > %g' % tol}  [{t_l:.1f} s]")
            toks, t_g = attn_generate(attn, model_dir, ids, n_new)
            ok, msg = compare_greedy(ref, toks, tol)
            ok_all &= ok
            log(f"prompt {i} (T={len(ids)}): {msg} {'ok' if ok else 'FAIL'}  [{t_g:.1f} s]")
    return ok_all


def check_fixtures(attn, fixtures_root, tol):
    ok_all = True
    for name in sorted(os.listdir(fixtures_root)):
        d = os.path.join(fixtures_root, name)
        if not os.path.exists(os.path.join(d, "expected.json")):
            continue
        with open(os.path.join(d, "config.json")) as f:
            vocab = json.load(f)["vocab_size"]
        refs = fixture_refs(d)
        log(f"-- fixture {name}")
        ok_all &= check(attn, d, refs, vocab, len(refs[0]["greedy"]), tol)
    return ok_all


# ---------------------------------------------------------------------------------------
# A fake attn made from HF, to test this script (and bench_gpt2.py) without the real one.

def fake_attn_main(argv):
    """Implements `attn logits|generate|bench` with HF. ATTN_FAKE_NOISE adds that much to
    every logit, ATTN_FAKE_SHIFT offsets greedy ids (to prove the checks can fail)."""
    quiet_hf()
    import torch
    from transformers import GPT2LMHeadModel
    torch.set_num_threads(int(os.environ.get("ATTN_FAKE_THREADS", "2")))
    ap = argparse.ArgumentParser(prog="fake-attn")
    ap.add_argument("cmd", choices=["logits", "generate", "bench"])
    ap.add_argument("-m", required=True)
    ap.add_argument("--ids", default="")
    ap.add_argument("-o")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--temp", type=float, default=1.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--ignore-eos", action="store_true")
    a = ap.parse_args(argv)
    t0 = time.time()
    model = GPT2LMHeadModel.from_pretrained(a.m).float().eval()
    load_s = time.time() - t0
    ids = [int(t) for t in a.ids.split()]
    if a.cmd == "logits":
        with torch.no_grad():
            lg = model(input_ids=torch.tensor([ids])).logits[0].float()
        lg = lg + float(os.environ.get("ATTN_FAKE_NOISE", "0"))
        (lg if a.all else lg[-1:]).numpy().astype("<f4").tofile(a.o)
    elif a.cmd == "generate":
        ref = hf_reference(model, [ids], a.n, [len(ids) - 1])[0]
        shift = int(os.environ.get("ATTN_FAKE_SHIFT", "0"))
        v = model.config.vocab_size
        print("generating...")  # a stray line the checker must tolerate
        print(json.dumps({"tokens": [(t + shift) % v for t in ref["greedy"]]}))
    else:
        sys.path.insert(0, os.path.join(REPO, "bench"))
        from bench_gpt2 import eager_measure
        r = eager_measure(model, a.p, a.n, a.t, reps=1)
        import resource
        print(json.dumps({"pp_tok_s": r["pp_tok_s"], "tg_tok_s": r["tg_tok_s"],
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                          "load_s": load_s, "fake": True}))
    return 0


def write_fake_attn(dirpath):
    path = os.path.join(dirpath, "fake-attn")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nexec %s %s --fake-attn \"$@\"\n" %
                (shlex.quote(sys.executable), shlex.quote(os.path.abspath(__file__))))
    os.chmod(path, 0o755)
    return path


def self_test(args, refs, model_dir, vocab, n_new):
    with tempfile.TemporaryDirectory(prefix="attn-fake-") as d:
        fake = write_fake_attn(d)
        log("== self-test 1: a fake attn made from HF must pass")
        ok1 = check(fake, model_dir, refs, vocab, n_new, args.tol)
        log("== self-test 2: logits off by 1e-3 and greedy ids shifted by 1 must fail")
        os.environ["ATTN_FAKE_NOISE"], os.environ["ATTN_FAKE_SHIFT"] = "1e-3", "1"
        ok2 = check(fake, model_dir, refs, vocab, n_new, args.tol)
        del os.environ["ATTN_FAKE_NOISE"], os.environ["ATTN_FAKE_SHIFT"]
    good = ok1 and not ok2
    log(f"self-test {'passed' if good else 'FAILED'}: clean fake {'passed' if ok1 else 'failed'}, "
        f"broken fake {'failed' if not ok2 else 'passed'}")
    return good


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--fake-attn":
        return fake_attn_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--attn", help="path to the attn binary (e.g. build/attn)")
    ap.add_argument("--size", choices=sorted(SIZES), default="124M")
    ap.add_argument("--workdir", help="model cache (default ~/.cache/attn/gpt2-<size>-random)")
    ap.add_argument("--tol", type=float, default=1e-4, help="max |dlogit| allowed (1e-4)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads for the HF half")
    ap.add_argument("--fixtures", nargs="?", const=os.path.join(REPO, "tests", "fixtures", "gpt2"),
                    help="check the tiny fixtures instead (default tests/fixtures/gpt2)")
    ap.add_argument("--hf-only", action="store_true", help="prepare the HF half only")
    ap.add_argument("--self-test", action="store_true", help="check against a fake attn")
    args = ap.parse_args()
    quiet_hf()
    t0 = time.time()
    try:
        if args.fixtures:
            if args.self_test:
                with tempfile.TemporaryDirectory(prefix="attn-fake-") as d:
                    args.attn = write_fake_attn(d)
                    ok = check_fixtures(args.attn, args.fixtures, args.tol)
            else:
                if not args.attn:
                    ap.error("--attn is required")
                ok = check_fixtures(args.attn, args.fixtures, args.tol)
        else:
            workdir = os.path.expanduser(args.workdir or default_workdir(args.size))
            refs = prepare(args.size, workdir, args.threads)
            with open(os.path.join(workdir, "config.json")) as f:
                vocab = json.load(f)["vocab_size"]
            if args.hf_only:
                log(f"HF half ready in {workdir} ({time.time() - t0:.1f} s)")
                return 0
            if args.self_test:
                ok = self_test(args, refs, workdir, vocab, N_GREEDY)
            else:
                if not args.attn:
                    ap.error("--attn is required (or --hf-only / --self-test)")
                ok = check(args.attn, workdir, refs, vocab, N_GREEDY, args.tol)
    except AttnError as e:
        log(f"ERROR: {e}")
        return 2
    what = "self-test of this script" if args.self_test else "attn vs HF transformers"
    log(f"{'PASS' if ok else 'FAIL'}: {what} "
        f"({'fixtures' if args.fixtures else args.size}, tol {args.tol:g}) in {time.time() - t0:.1f} s")
    if not ok:
        log("attn's GPT-2 disagrees with HF: see the FAIL lines above (position, token, values).")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
