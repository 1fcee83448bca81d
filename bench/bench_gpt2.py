#!/usr/bin/env python3
"""bench_gpt2.py - attn next to PyTorch and HF transformers on GPT-2 124M, in one run.

Every engine runs the same random GPT-2 124M (float32; the model tools/check_gpt2_reference.py
builds, cached in ~/.cache/attn/gpt2-124m-random and made here when missing), each in its
own process, with the same thread count:

  attn           `ATTN bench -m DIR -p P -n N -t THREADS --json`, which prints one JSON
                 object with "pp_tok_s", "tg_tok_s", "peak_rss_mb", "load_s".
  PyTorch eager  GPT2LMHeadModel in float32: prefill of P tokens (median of 3), then N
                 single-token decode steps feeding past_key_values (greedy).
  HF generate    model.generate(max_new_tokens=N, min_new_tokens=N, do_sample=False) on a
                 P-token prompt, timed end to end (prefill included).
  llama.cpp      libllama through llama-cpp-python's low-level API, on the same weights
                 converted to GGUF (f32 by default) with llama.cpp's convert_hf_to_gguf.py:
                 llama-bench's pp/tg method (warm-up, then per repetition a cleared KV
                 cache and one P-token llama_decode, or N single-token llama_decode calls;
                 median of 3). Skipped with a note when llama_cpp is not installed.

Peak RSS is each process's high-water mark (wait4's ru_maxrss), read the same way for all
(through a small launcher process: see run_child).
It prints a Markdown table; bench/README.md explains the columns. The whole run takes
about 1-2 minutes on 2 cores (plus ~10 s the first time, to make the model).

Usage: python3 bench/bench_gpt2.py --attn build/attn [--threads 2] [--prompt 512] [--gen 128]
                                  [--llamacpp-gguf PATH] [--llamacpp-dtype f32|f16]
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEER_TIMEOUT = 300
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "attn")
LLAMACPP_NOTE = ("llama.cpp: skipped, llama-cpp-python is not installed (it compiles llama.cpp, "
                 "~6-7 min on 2 cores: CMAKE_ARGS=\"-DGGML_NATIVE=ON\" pip install --no-binary "
                 "llama-cpp-python llama-cpp-python; see bench/README.md)")


# ---------------------------------------------------------------------------------------
# Peers: each runs in its own process (`bench_gpt2.py --peer NAME ...`), prints JSON.

def eager_measure(model, prompt_len, gen, threads, reps=3):
    """PyTorch eager prefill (median of reps) and gen single-token decode steps with a KV
    cache. Returns tokens/s and the raw times."""
    import torch
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, model.config.vocab_size, (1, prompt_len), generator=g)
    with torch.inference_mode():
        model(input_ids=ids[:, :32], use_cache=True)  # warm-up: allocator, kernels
        times, out = [], None
        for _ in range(reps):
            t0 = time.perf_counter()
            out = model(input_ids=ids, use_cache=True)
            times.append(time.perf_counter() - t0)
        prefill_s = statistics.median(times)
        past = out.past_key_values
        tok = out.logits[:, -1].argmax(-1, keepdim=True)
        t0 = time.perf_counter()
        for _ in range(gen):
            out = model(input_ids=tok, past_key_values=past, use_cache=True)
            past = out.past_key_values
            tok = out.logits[:, -1].argmax(-1, keepdim=True)
        decode_s = time.perf_counter() - t0
    return {"pp_tok_s": prompt_len / prefill_s, "tg_tok_s": gen / decode_s,
            "prefill_s": times, "decode_s": decode_s}


def generate_measure(model, prompt_len, gen, threads):
    """HF generate end to end: new tokens per second, prefill included."""
    import torch
    from transformers import GenerationConfig
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(1234)
    ids = torch.randint(0, model.config.vocab_size, (1, prompt_len), generator=g)
    mask = torch.ones_like(ids)

    def cfg(n):
        return GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=n, min_new_tokens=n,
                                use_cache=True, pad_token_id=model.config.eos_token_id)
    with torch.inference_mode():
        model.generate(ids[:, :32], attention_mask=mask[:, :32], generation_config=cfg(4))
        t0 = time.perf_counter()
        out = model.generate(ids, attention_mask=mask, generation_config=cfg(gen))
        e2e_s = time.perf_counter() - t0
    assert out.shape[1] == prompt_len + gen, out.shape
    return {"e2e_tok_s": gen / e2e_s, "e2e_s": e2e_s}


class LlamaCpp:
    """A GGUF loaded by llama.cpp through llama-cpp-python's low-level bindings (no Llama
    object, no sampler), with a context of n_ctx positions, llama-bench's defaults otherwise."""

    def __init__(self, gguf_path, n_ctx, threads, n_batch=512):
        import ctypes
        import random
        import resource
        import llama_cpp as L
        self.L, self.n_batch, self.log = L, n_batch, []  # llama.cpp's log, kept off stderr

        def _log(level, text, user_data):
            self.log.append(text.decode(errors="replace"))
        self._log_cb = L.llama_log_callback(_log)  # keep a reference: the C side holds the pointer
        L.llama_log_set(self._log_cb, ctypes.c_void_p(0))
        self.runtime_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        L.llama_backend_init()
        t0 = time.perf_counter()
        self.model = L.llama_model_load_from_file(gguf_path.encode(), L.llama_model_default_params())
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {gguf_path}")
        cparams = L.llama_context_default_params()
        cparams.n_ctx, cparams.n_batch, cparams.n_ubatch = n_ctx, n_batch, n_batch
        cparams.n_threads, cparams.n_threads_batch = threads, threads
        self.ctx = L.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise RuntimeError("llama.cpp could not create a context")
        self.load_s = time.perf_counter() - t0
        self.n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(self.model))
        self.mem = L.llama_get_memory(self.ctx)
        self.rng = random.Random(1234)

    def decode(self, tokens):
        L = self.L
        arr = (L.llama_token * len(tokens))(*tokens)
        rc = L.llama_decode(self.ctx, L.llama_batch_get_one(arr, len(tokens)))  # logits: last only
        if rc != 0:
            raise RuntimeError(f"llama_decode returned {rc}")

    def run_prompt(self, n):
        """Seconds for an n-token prompt from an empty cache (in n_batch pieces)."""
        ids = [self.rng.randrange(self.n_vocab) for _ in range(n)]
        self.L.llama_memory_clear(self.mem, False)
        t = time.perf_counter()
        for i in range(0, n, self.n_batch):
            self.decode(ids[i:i + self.n_batch])
        self.L.llama_synchronize(self.ctx)
        return time.perf_counter() - t

    def run_gen(self, n, depth=0):
        """Seconds for n single-token decodes after `depth` untimed positions (llama-bench's -d)."""
        L = self.L
        L.llama_memory_clear(self.mem, False)
        ids = [self.rng.randrange(self.n_vocab) for _ in range(depth)]
        for i in range(0, depth, self.n_batch):
            self.decode(ids[i:i + self.n_batch])
        L.llama_synchronize(self.ctx)
        tok = self.rng.randrange(self.n_vocab)
        t = time.perf_counter()
        for _ in range(n):
            self.decode([tok])
            L.llama_synchronize(self.ctx)
            tok = self.rng.randrange(self.n_vocab)
        return time.perf_counter() - t

    def facts(self):
        """What llama.cpp chose by itself, from its log: KV cache, flash attention, the MB of
        weights it repacked for its CPU kernels (its "extra buffer", on by default)."""
        lines = "".join(self.log).splitlines()
        kv = [" ".join(ln.split(":", 1)[1].split()) for ln in lines if ln.startswith("llama_kv_cache: size")]
        fa = [ln.split(":", 1)[1].strip() for ln in lines if "Flash Attention" in ln]
        repack = [float(ln.split("=")[1].split()[0]) for ln in lines if "CPU_REPACK model buffer size" in ln]
        return {"llama_cpp_python": self.L.__version__,
                "system_info": self.L.llama_print_system_info().decode(errors="replace").strip(),
                "kv_cache": kv[0] if kv else "?", "flash_attn": fa[0] if fa else "?", "repack_mb": sum(repack)}

    def close(self):
        self.L.llama_free(self.ctx)
        self.L.llama_model_free(self.model)


def llamacpp_measure(gguf_path, prompt_len, gen, threads, reps=3, n_batch=512, depth=0):
    """The method of llama-bench's pp/tg tests: one warm-up prompt and one warm-up token, then
    reps times: clear the KV cache, decode the P-token prompt (in n_batch pieces: one call at
    P <= 512), synchronize; and reps times: clear the KV cache, decode `depth` tokens untimed,
    then gen single tokens, synchronizing after each. Median of reps for both."""
    lc = LlamaCpp(gguf_path, max(1024, prompt_len, depth + gen + 1), threads, n_batch)
    lc.run_prompt(prompt_len)  # warm-up, as llama-bench: the whole prompt once, then one token
    lc.run_gen(1, depth)
    pp = [lc.run_prompt(prompt_len) for _ in range(reps)]
    tg = [lc.run_gen(gen, depth) for _ in range(reps)]
    out = {"pp_tok_s": prompt_len / statistics.median(pp), "tg_tok_s": gen / statistics.median(tg),
           "prefill_s": pp, "decode_s": tg, "load_s": lc.load_s, "runtime_rss_mb": lc.runtime_rss_mb}
    out.update(lc.facts())
    lc.close()
    return out


def peer_main(args):
    if args.peer == "llamacpp":  # no torch in this process: its RSS is llama.cpp's own
        print(json.dumps(llamacpp_measure(args.llamacpp_gguf, args.prompt, args.gen, args.threads)))
        return 0
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    import transformers
    from transformers import GPT2LMHeadModel
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = GPT2LMHeadModel.from_pretrained(args.model_dir, dtype=torch.float32).eval()
    load_s = time.perf_counter() - t0
    if args.peer == "eager":
        r = eager_measure(model, args.prompt, args.gen, args.threads)
    else:
        r = generate_measure(model, args.prompt, args.gen, args.threads)
    r.update(load_s=load_s, torch=torch.__version__, transformers=transformers.__version__,
             torch_threads=torch.get_num_threads())
    print(json.dumps(r))
    return 0


# ---------------------------------------------------------------------------------------
# The GGUF that llama.cpp reads: the same weights, converted by llama.cpp's own script.

def llamacpp_installed():
    import importlib.util
    return importlib.util.find_spec("llama_cpp") is not None


def llamacpp_converter():
    """Path of convert_hf_to_gguf.py: $LLAMACPP_CONVERT, else the copy cached in
    ~/.cache/attn/llama.cpp-convert-VERSION, unpacked (with its conversion/ and gguf-py/)
    from the sdist of the installed llama-cpp-python, which vendors llama.cpp."""
    if os.environ.get("LLAMACPP_CONVERT"):
        return os.environ["LLAMACPP_CONVERT"]
    from importlib.metadata import version
    ver = version("llama_cpp_python")
    dest = os.path.join(CACHE, f"llama.cpp-convert-{ver}")
    script = os.path.join(dest, "convert_hf_to_gguf.py")
    if os.path.exists(script):
        return script
    print(f"fetching llama.cpp's converter: the llama-cpp-python {ver} sdist (~75 MB) ...",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary", ":all:", "-d", tmp, f"llama-cpp-python=={ver}"], check=True)
        sdist = [f for f in os.listdir(tmp) if f.endswith(".tar.gz")][0]
        part = tmp + ".part"
        with tarfile.open(os.path.join(tmp, sdist)) as tar:
            for m in tar.getmembers():
                rel = m.name.split("/vendor/llama.cpp/", 1)
                if len(rel) == 2 and (rel[1] == "convert_hf_to_gguf.py" or
                                      rel[1].startswith(("conversion/", "gguf-py/"))) and \
                        (m.isfile() or m.isdir()):
                    m.name = rel[1]
                    tar.extract(m, part, filter="data")
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(CACHE, exist_ok=True)
        os.replace(part, dest)
    return script


def tokenizer_dir():
    """GPT-2's tokenizer files ($ATTN_DATA/gpt2 or ../shared/data/gpt2): the converter
    wants them next to the weights (it writes the vocabulary into the GGUF)."""
    data = os.environ.get("ATTN_DATA") or os.path.join(REPO, "..", "shared", "data")
    return os.path.join(data, "gpt2")


def make_gguf(model_dir, out, dtype):
    """Convert the HF GPT-2 in model_dir to GGUF `dtype` at out, with llama.cpp's
    convert_hf_to_gguf.py, from a copy of the folder with the tokenizer added (the model
    folder itself is left as it is)."""
    conv = llamacpp_converter()
    tok_files = ["tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                 "special_tokens_map.json"]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(out))) as tmp:
        src = os.path.join(tmp, "model")
        os.makedirs(src)
        for f in os.listdir(model_dir):
            if f.endswith((".json", ".safetensors", ".txt")):
                shutil.copy2(os.path.join(model_dir, f), src)
        cfg_path = os.path.join(src, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        if cfg.get("model_type") == "gpt2" and "n_ctx" not in cfg:
            # the converter reads GPT-2's context length from n_ctx, which OpenAI's configs
            # carry and transformers >= 5's save_pretrained no longer writes
            cfg["n_ctx"] = cfg.get("n_positions", 1024)
            with open(cfg_path, "w") as f:
                json.dump(cfg, f, indent=1)
        if not os.path.exists(os.path.join(src, "tokenizer.json")):
            tdir = tokenizer_dir()
            missing = [f for f in tok_files if not os.path.exists(os.path.join(tdir, f))]
            if missing:
                raise RuntimeError(f"GPT-2 tokenizer files {missing} not found in {tdir} "
                                   "(set ATTN_DATA to the folder that holds gpt2/)")
            for f in tok_files:
                shutil.copy(os.path.join(tdir, f), src)
        tmp_out = os.path.join(tmp, "out.gguf")
        cmd = [sys.executable, conv, src, "--outfile", tmp_out, "--outtype", dtype]
        print(f"converting to GGUF {dtype}: {' '.join(cmd)}", file=sys.stderr, flush=True)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(tmp_out):
            raise RuntimeError(f"convert_hf_to_gguf.py failed ({r.returncode}):\n"
                               f"{r.stderr.strip()[-1500:]}")
        os.replace(tmp_out, out)
    return out


def llamacpp_gguf(model_dir, path, dtype):
    """The GGUF for the llama.cpp peer: path if given (made there when missing), else
    ~/.cache/attn/gguf/MODELDIR-DTYPE.gguf, remade when older than the model's weights."""
    if path and os.path.exists(path):
        return path
    if not path:
        name = os.path.basename(os.path.normpath(model_dir))
        path = os.path.join(CACHE, "gguf", f"{name}-{dtype}.gguf")
        weights = [os.path.join(model_dir, f) for f in os.listdir(model_dir)
                   if f.endswith(".safetensors")]
        newest = max([os.path.getmtime(w) for w in weights] or [0])
        if os.path.exists(path) and os.path.getmtime(path) >= newest:
            return path
    return make_gguf(model_dir, path, dtype)


# ---------------------------------------------------------------------------------------
# The driver.

# Peak RSS must come from a process that this (large: torch, transformers) driver did not
# spawn itself: on Linux a child's ru_maxrss starts at the RSS of the process it was forked
# from (exec folds the old address space's high-water mark in), so /bin/true run from a
# 300 MB Python reports 300 MB. A small launcher (python -S, ~10 MB) forks and execs the
# engine and passes on the engine's own wait4 rusage.
_LAUNCHER = r"""
import json, os, sys
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as e:
        print(f"cannot run {sys.argv[2]}: {e}", file=sys.stderr, flush=True)
    os._exit(127)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"status": status, "maxrss_kb": ru.ru_maxrss}, f)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_child(cmd, env, timeout=PEER_TIMEOUT):
    """Run cmd alone; return (its last JSON line as a dict, its peak RSS in MB, wall s)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r", suffix=".json") as res:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, res.name] + list(cmd),
                             stdout=out, stderr=err, env=env, start_new_session=True)
        timer = threading.Timer(timeout, os.killpg, (p.pid, 9))  # launcher and engine
        timer.start()
        try:
            p.wait()
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
        try:
            maxrss_kb = json.load(res)["maxrss_kb"]
        except ValueError:
            maxrss_kb = None
    if p.returncode != 0:
        why = "ran past %d s and was killed" % timeout if p.returncode == -9 else \
            "exited %d" % p.returncode
        err = RuntimeError(f"`{' '.join(cmd)}` {why}:\n{stderr.strip()[-1500:]}")
        err.returncode = p.returncode  # the launcher's: 128 + N where the command died of signal N
        raise err
    for line in reversed(stdout.strip().splitlines()):
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj, maxrss_kb / 1024.0, wall
    raise RuntimeError(f"`{' '.join(cmd)}` printed no JSON object:\n{stdout.strip()[-1500:]}")


def gguf_dtype(path):
    """f32 / f16 / ... from the GGUF's general.file_type (read with llama.cpp's gguf-py when
    importable), else from the file name."""
    names = {0: "f32", 1: "f16", 7: "q8_0", 32: "bf16"}
    try:
        import gguf
        field = gguf.GGUFReader(path).get_field("general.file_type")
        return names.get(int(field.parts[field.data[0]][0]), "type %d" % field.parts[field.data[0]][0])
    except Exception:  # no gguf module, or an older file: the name says it
        base = os.path.basename(path).lower()
        return next((t for t in ("f32", "f16", "bf16", "q8_0") if t in base), "?")


def busy_compilers():
    """Other processes compiling now (they would skew the timings)."""
    names = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm in ("cc1", "cc1plus", "ld", "collect2", "rustc", "ninja"):
                names.append(comm)
    return names


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(x, nd=1):
    return "—" if x is None else f"{x:,.{nd}f}"


def ratio(a, b):
    return "—" if a is None or b is None or b == 0 else f"{a / b:.2f}x"


def one_round(args, env, ap):
    """Runs attn and every peer once; returns (rows, notes, versions, llama_ver)."""
    rows, notes, versions = {}, [], None

    if args.attn:
        cmd = [args.attn, "bench", "-m", args.model_dir, "-p", str(args.prompt), "-n",
               str(args.gen), "-t", str(args.threads), "--json"]
        print(f"running attn: {' '.join(cmd)}", file=sys.stderr, flush=True)
        try:
            r, rss, wall = run_child(cmd, env)
            missing = [k for k in ("pp_tok_s", "tg_tok_s") if not isinstance(r.get(k), (int, float))]
            if missing:
                raise RuntimeError(f"attn bench --json lacks {missing}: {json.dumps(r)}")
            rows["attn"] = dict(pp=r["pp_tok_s"], tg=r["tg_tok_s"], rss=rss, wall=wall)
            # attn decodes N tokens after a P-token prefill; its end-to-end rate, to set next
            # to HF generate's:
            rows["attn"]["e2e"] = args.gen / (args.prompt / r["pp_tok_s"] + args.gen / r["tg_tok_s"])
            extra = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in r.items() if k not in ("pp_tok_s", "tg_tok_s"))
            notes.append(f"attn reports: {extra}")
        except RuntimeError as e:
            print(f"attn failed: {e}", file=sys.stderr)
            notes.append("attn: failed to run (see stderr); its row is empty")
            rows["attn"] = dict(pp=None, tg=None, rss=None, e2e=None, wall=None)

    peer_names = {"eager": "PyTorch eager", "generate": "HF generate (end-to-end)",
                  "llamacpp": "llama.cpp"}
    llama_ver = None
    for peer in [p.strip() for p in args.peers.split(",") if p.strip()]:
        if peer not in peer_names:
            ap.error(f"unknown peer {peer!r}: choose from {', '.join(peer_names)}")
        cmd = [sys.executable, os.path.abspath(__file__), "--peer", peer, "--model-dir",
               args.model_dir, "--threads", str(args.threads), "--prompt", str(args.prompt),
               "--gen", str(args.gen)]
        if peer == "llamacpp":
            if not llamacpp_installed():
                print(LLAMACPP_NOTE, file=sys.stderr)
                notes.append(LLAMACPP_NOTE)
                continue
            try:
                gguf_path = llamacpp_gguf(args.model_dir, args.llamacpp_gguf, args.llamacpp_dtype)
            except (RuntimeError, OSError, subprocess.CalledProcessError) as e:
                print(f"llama.cpp: no GGUF: {e}", file=sys.stderr)
                notes.append("llama.cpp: skipped, the GGUF could not be made (see stderr)")
                continue
            name = f"llama.cpp ({gguf_dtype(gguf_path)} GGUF)"
            print(f"running {name} on {gguf_path} ...", file=sys.stderr, flush=True)
            try:
                r, rss, wall = run_child(cmd + ["--llamacpp-gguf", gguf_path], env)
            except RuntimeError as e:
                print(f"llama.cpp failed: {e}", file=sys.stderr)
                notes.append("llama.cpp: failed to run (see stderr); its row is empty")
                rows[name] = dict(pp=None, tg=None, rss=None, wall=None)
                continue
            rows[name] = dict(pp=r["pp_tok_s"], tg=r["tg_tok_s"], rss=rss, wall=wall)
            llama_ver = f"llama-cpp-python {r['llama_cpp_python']}"
            notes.append(f"llama.cpp: {os.path.basename(gguf_path)}, load {r['load_s']:.3g} s, "
                         f"Python + bindings alone {r['runtime_rss_mb']:.0f} MB of its peak RSS; "
                         f"KV cache {r['kv_cache']}; {r['flash_attn']}; "
                         f"system info: {r['system_info']}")
            continue
        print(f"running {peer_names[peer]} ...", file=sys.stderr, flush=True)
        r, rss, wall = run_child(cmd, env)
        versions = f"torch {r['torch']}, transformers {r['transformers']}"
        if peer == "eager":
            rows[peer_names[peer]] = dict(pp=r["pp_tok_s"], tg=r["tg_tok_s"], rss=rss, wall=wall)
        else:
            rows[peer_names[peer]] = dict(pp=None, tg=r["e2e_tok_s"], e2e=r["e2e_tok_s"],
                                          rss=rss, wall=wall)

    return rows, notes, versions, llama_ver


def merge_rounds(rounds):
    """Medians over rounds of each engine's rates (RSS: the largest); the engines ran in
    turn within each round, so slow spells of a shared machine hit them alike."""
    if len(rounds) == 1:
        return rounds[0]
    rows = {}
    for name in rounds[0][0]:
        rs = [r[0][name] for r in rounds if name in r[0]]
        merged = {}
        for key in rs[0]:
            vals = [r.get(key) for r in rs if r.get(key) is not None]
            if not vals:
                merged[key] = None
            elif key == "rss":
                merged[key] = max(vals)
            else:
                merged[key] = statistics.median(vals)
        rows[name] = merged
    notes = rounds[-1][1] + [f"medians of {len(rounds)} rounds; each round runs every engine once, in turn"]
    return rows, notes, rounds[-1][2], rounds[-1][3]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("--attn", help="path to the attn binary; without it only the peers run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=512, help="prompt tokens (prefill)")
    ap.add_argument("--gen", type=int, default=128, help="generated tokens (decode)")
    ap.add_argument("--model-dir", help="GPT-2 directory (default: the random 124M of "
                    "tools/check_gpt2_reference.py, made when missing)")
    ap.add_argument("--peers", default="eager,generate,llamacpp",
                    help="comma list of peers to run: eager, generate, llamacpp (default all; "
                    "llamacpp is skipped with a note when llama-cpp-python is not installed)")
    ap.add_argument("--llamacpp-gguf", metavar="PATH",
                    help="GGUF for the llama.cpp peer (made from --model-dir when missing; "
                    "default ~/.cache/attn/gguf/MODELDIR-DTYPE.gguf)")
    ap.add_argument("--llamacpp-dtype", choices=["f32", "f16"], default="f32",
                    help="outtype of the GGUF that is made when missing (default f32)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every engine this many times, in turn, and report medians (default 1)")
    ap.add_argument("--peer", choices=["eager", "generate", "llamacpp"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        return peer_main(args)

    if not args.model_dir:
        sys.path.insert(0, os.path.join(REPO, "tools"))
        import check_gpt2_reference as ref
        ref.quiet_hf()
        args.model_dir = ref.default_workdir("124M")
        if ref.read_marker(args.model_dir) is None:
            ref.prepare("124M", args.model_dir, args.threads)
    with open(os.path.join(args.model_dir, "config.json")) as f:
        cfg = json.load(f)
    if args.prompt + args.gen > cfg.get("n_positions", 1024):
        ap.error(f"--prompt + --gen must fit n_positions {cfg.get('n_positions')}")

    busy = busy_compilers()
    if busy:
        print(f"WARNING: {len(busy)} compiler processes running ({', '.join(sorted(set(busy)))}):"
              " timings will be low and noisy. Rerun when the machine is idle.", file=sys.stderr)

    t_start = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads),
               OPENBLAS_NUM_THREADS=str(args.threads), TRANSFORMERS_VERBOSITY="error",
               HF_HUB_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false")
    rounds = []
    for i in range(args.rounds):
        if args.rounds > 1:
            print(f"== round {i + 1} of {args.rounds}", file=sys.stderr, flush=True)
        rounds.append(one_round(args, env, ap))
    rows, notes, versions, llama_ver = merge_rounds(rounds)
    a = rows.get("attn")
    print(f"\nGPT-2 124M (random weights, float32), prompt {args.prompt} tokens, "
          f"{args.gen} generated, {args.threads} threads; {cpu_name()}, {os.cpu_count()} CPUs"
          + "".join(f"; {v}" for v in (versions, llama_ver) if v))
    print()
    print("| engine | prompt tok/s | gen tok/s | peak RSS MB | ratio attn/peer (prompt, gen) |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        if name == "attn":
            rat = "1.00x, 1.00x" if r["pp"] else "—"
        elif a is None:
            rat = "— (no --attn)"
        elif "e2e" in r:  # HF generate: compare end-to-end rates
            rat = f"—, {ratio(a.get('e2e'), r['e2e'])} (end-to-end)"
        else:
            rat = f"{ratio(a['pp'], r['pp'])}, {ratio(a['tg'], r['tg'])}"
        print(f"| {name} | {fmt(r['pp'])} | {fmt(r['tg'])} | {fmt(r['rss'], 0)} | {rat} |")
    print()
    if "HF generate (end-to-end)" in rows:
        e2e = f"; attn's own end-to-end rate is {fmt(a['e2e'])} tok/s" if a and a.get("e2e") else ""
        print(f"HF generate's gen tok/s is end to end: {args.gen} new tokens / the time of the "
              f"whole generate call, {args.prompt}-token prefill included{e2e}.")
    for n in notes:
        print(n)
    print(f"(whole run {time.perf_counter() - t_start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
