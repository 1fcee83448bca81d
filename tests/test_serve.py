#!/usr/bin/env python3
"""test_serve.py - drives a running `attn serve` the way its users do (tests/test_serve.sh starts it).

Parts (each chosen on the command line):
  api      every endpoint with the standard library's HTTP client: answers, streaming (server-sent
           events), determinism under batching, logprobs, stops, tokenize round trip
  abuse    malformed JSON, wrong types, unknown model and path, a prompt over the context, 413,
           a client leaving mid-stream (its slot freed), 200 concurrent connections (answers or
           503s, the server keeps serving), memory bounded
  auth     401 without or with a wrong key, 200 with the right one, the page and /health open
  bos      a tokenizer that adds BOS (--ref: llama.cpp's tiny LLaMA outputs): /tokenize's add_special,
           completions equal to llama.cpp's, one BOS for a chat template that writes <s>
  sdk      the official OpenAI Python SDK: completions and chat, streamed and not, errors
  browser  the web page in headless Chromium (playwright): Generate streams text, one chat turn,
           a screenshot
Prints one line per failed check and ends with "test_serve.py: N checks, M failed"; a part whose
tool is missing prints "SKIP: ..." (or fails with --strict, as CI wants)."""
import argparse
import http.client
import json
import os
import socket
import sys
import threading
import time

checks = failures = 0


def check(cond, what):
    global checks, failures
    checks += 1
    if not cond:
        failures += 1
        print(f"FAIL: {what}", flush=True)
    return cond


class Server:
    def __init__(self, url, key=None):
        host_port = url.split("//", 1)[1].rstrip("/")
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.url = url.rstrip("/")
        self.key = key

    def request(self, method, path, body=None, headers=None, raw=None, timeout=120):
        """(status, parsed JSON or text, response headers)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        if self.key:
            h["Authorization"] = "Bearer " + self.key
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode("utf-8")
        conn.close()
        try:
            return r.status, json.loads(text), dict(r.getheaders())
        except ValueError:
            return r.status, text, dict(r.getheaders())

    def post(self, path, body, **kw):
        return self.request("POST", path, body, **kw)

    def stream(self, path, body):
        """The events of a streamed answer (parsed), and whether it ended with [DONE]."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
        h = {"Content-Type": "application/json"}
        if self.key:
            h["Authorization"] = "Bearer " + self.key
        conn.request("POST", path, body=json.dumps(dict(body, stream=True)), headers=h)
        r = conn.getresponse()
        check(r.status == 200, f"stream {path}: status {r.status}")
        check(r.getheader("Content-Type", "") == "text/event-stream; charset=utf-8",  # else a browser's tools guess Latin-1
              f"stream content type: {r.getheader('Content-Type')!r}")
        events, done = [], False
        for block in r.read().decode("utf-8").split("\n\n"):
            if not block.strip():
                continue
            check(block.startswith("data: "), f"event framing: {block[:60]!r}")
            data = block[len("data: "):]
            if data == "[DONE]":
                done = True
            else:
                check(not done, "no event after [DONE]")
                events.append(json.loads(data))
        conn.close()
        return events, done

    def health(self):
        return self.request("GET", "/health")[1]


def is_error(status, body, want_status, param=None, code=None):
    """OpenAI's error shape with the expected status (and param / code when given)."""
    ok = isinstance(body, dict) and isinstance(body.get("error"), dict)
    e = body.get("error", {}) if ok else {}
    ok = ok and isinstance(e.get("message"), str) and e["message"] and isinstance(e.get("type"), str)
    ok = ok and "param" in e and "code" in e and status == want_status
    if param is not None:
        ok = ok and e.get("param") == param
    if code is not None:
        ok = ok and e.get("code") == code
    return ok


# ---- api -------------------------------------------------------------------------------------

def counts(usage):
    """A usage's token counts, without what the cache held (which depends on the requests before)."""
    return {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def test_api(s, model_id):
    st, h, _ = s.request("GET", "/health")
    check(st == 200 and h.get("status") == "ok" and h.get("slots", 0) >= 2, f"/health: {st} {h}")
    st, models, _ = s.request("GET", "/v1/models")
    check(st == 200 and models["object"] == "list" and models["data"][0]["id"] == model_id, f"/v1/models: {models}")
    st, page, hdr = s.request("GET", "/")
    check(st == 200 and hdr.get("Content-Type", "").startswith("text/html"), "GET / is html")
    check("Generate" in page and 'id="prompt"' in page, "the page has a prompt box and Generate")
    check('src="http' not in page and 'href="http' not in page and "@import" not in page, "no external assets")
    check("default-src 'none'" in hdr.get("Content-Security-Policy", ""), "the page forbids outside fetches")

    body = {"model": model_id, "prompt": "Hello there", "max_tokens": 12, "temperature": 1.0, "seed": 42}
    st, r, _ = s.post("/v1/completions", body)
    ok = check(st == 200 and r["object"] == "text_completion" and isinstance(r["choices"][0]["text"], str),
               f"completion: {st} {r}")
    if ok:
        u, c = r["usage"], r["choices"][0]
        n_prompt = len(s.post("/tokenize", {"content": "Hello there", "add_special": True})[1]["tokens"])
        check(u["completion_tokens"] <= 12 and u["prompt_tokens"] == n_prompt and
              u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], f"usage {u}")
        check(c["finish_reason"] in ("stop", "length") and
              (c["finish_reason"] != "length" or u["completion_tokens"] == 12), f"finish {c['finish_reason']}")
        st2, r2, _ = s.post("/v1/completions", body)
        check(r2["choices"][0]["text"] == c["text"], "the same seed gives the same text")
        events, done = s.stream("/v1/completions", dict(body, stream_options={"include_usage": True}))
        text = "".join(e["choices"][0]["text"] for e in events if e["choices"])
        check(done and text == c["text"], f"streamed text equals the whole answer: {text!r} vs {c['text']!r}")
        su = events[-1].get("usage") or {}
        check(events[-1]["choices"] == [] and counts(su) == counts(u), "the usage chunk comes last")
        # the same prompt again: all but its last position come from the slot's cache
        cached = [x.get("prompt_tokens_details", {}).get("cached_tokens") for x in (r2["usage"], su)]
        check(cached == [n_prompt - 1] * 2,
              f"usage names the prompt's positions taken from the cache: {cached} of {n_prompt}")
        check(events[-2]["choices"][0]["finish_reason"] == c["finish_reason"], "the finish reason is streamed")
        check(len(events) >= 3, f"text arrives in several events ({len(events)})")

    # several prompts at once (batched) give what each gives alone: greedy decoding is exact
    prompts = ["The cat", "A long time ago in a galaxy", "1 2 3 4", "zzz"]
    alone = [s.post("/v1/completions", {"prompt": p, "max_tokens": 16, "temperature": 0})[1] for p in prompts]
    together = [None] * len(prompts)

    def run(i):
        together[i] = s.post("/v1/completions", {"prompt": prompts[i], "max_tokens": 16, "temperature": 0})[1]
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(all(a["choices"][0]["text"] == b["choices"][0]["text"] for a, b in zip(alone, together)),
          "concurrent greedy requests equal sequential ones")

    test_score(s)

    # ignore_eos: a sampled EOS as the first token would leave a choice without logprobs to check
    st, r, _ = s.post("/v1/completions", {"prompt": ["ab", "cd"], "n": 2, "max_tokens": 4, "logprobs": 2,
                                          "echo": True, "ignore_eos": True})
    ok = check(st == 200 and [c["index"] for c in r["choices"]] == [0, 1, 2, 3], f"2 prompts x n=2: {st} {r}")
    if ok:
        c = r["choices"][2]
        lp = c["logprobs"]
        check(c["text"].startswith("cd"), "echo puts the prompt first")
        n_cd = len(s.post("/tokenize", {"content": "cd", "add_special": True})[1]["tokens"])
        check(len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"])
              == n_cd + 4 and lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
              and all(v <= 0 for v in lp["token_logprobs"][1:]) and all(len(t) <= 2 for t in lp["top_logprobs"][1:])
              and lp["text_offset"][n_cd] == 2, f"completion logprobs, echo's prompt first {lp}")
        n_prompt = sum(len(s.post("/tokenize", {"content": p, "add_special": True})[1]["tokens"]) for p in ("ab", "cd"))
        check(r["usage"]["prompt_tokens"] == n_prompt, f"each prompt counted once: {r['usage']}")

    chat = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi!"}],
            "max_tokens": 10, "seed": 3, "logprobs": True, "top_logprobs": 2}
    st, r, _ = s.post("/v1/chat/completions", chat)
    ok = check(st == 200 and r["object"] == "chat.completion" and r["choices"][0]["message"]["role"] == "assistant",
               f"chat: {st} {r}")
    if ok:
        content = r["choices"][0]["message"]["content"]
        lps = r["choices"][0]["logprobs"]["content"]
        check(len(lps) == r["usage"]["completion_tokens"] and all(len(x["top_logprobs"]) == 2 for x in lps)
              and all(isinstance(x["bytes"], list) for x in lps), "chat logprobs, one per token")
        events, done = s.stream("/v1/chat/completions", chat)
        check(done and events[0]["choices"][0]["delta"].get("role") == "assistant", "the first chunk names the role")
        check(all(e["object"] == "chat.completion.chunk" for e in events), "chunk objects")
        streamed = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
        check(streamed == content, f"streamed chat equals the whole answer: {streamed!r} vs {content!r}")
        check(events[-1]["choices"][0]["finish_reason"] == r["choices"][0]["finish_reason"], "chat finish reason")
    # content as an array of parts (OpenAI's newer form): text parts joined by newlines, as
    # llama-server and vLLM join them; any other part refused with its type named
    def parts_chat(content):
        return s.post("/v1/chat/completions", {"messages": [{"role": "user", "content": content}], "max_tokens": 4,
                                               "temperature": 0, "ignore_eos": True})
    st, r, _ = parts_chat([{"type": "text", "text": "Describe:"}, {"type": "text", "text": "the cat"}])
    st2, r2, _ = parts_chat("Describe:\nthe cat")
    check(st == 200 and st2 == 200 and counts(r["usage"]) == counts(r2["usage"]) and
          r["choices"][0]["message"] == r2["choices"][0]["message"],
          f"text parts are the text joined by newlines: {st} {r} vs {st2} {r2}")
    for part, named in (({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}, "image_url"),
                        ({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}, "input_audio"),
                        ({"type": "file", "text": "not text"}, "'file'"), ({"text": "no type"}, "type"),
                        ({"type": "text"}, "text"), ({"type": "text", "text": 5}, "text"), ("a string", "type")):
        st, r, _ = parts_chat([{"type": "text", "text": "What is this?"}, part])
        check(is_error(st, r, 400, param="messages") and "content[1]" in r["error"]["message"] and
              named in r["error"]["message"], f"content part {part}: {st} {r}")

    # a stop string: take a piece of a greedy answer and ask to stop there
    base = {"prompt": "Once upon a time", "max_tokens": 24, "temperature": 0, "ignore_eos": True}
    full = s.post("/v1/completions", base)[1]["choices"][0]["text"]
    if check(len(full) >= 8, f"greedy text long enough: {full!r}"):
        stop = full[4:6]
        cut = full[:full.index(stop)]
        for stops in (stop, [stop, "never-appears"]):
            r = s.post("/v1/completions", dict(base, stop=stops))[1]["choices"][0]
            check(r["text"] == cut and r["finish_reason"] == "stop", f"stop {stops!r}: {r} (want {cut!r})")
        # the logprobs of a cut answer are those of the tokens its text holds, streamed or not
        for stream in (False, True):
            body = dict(base, stop=stop, logprobs=1, stream=stream)
            if stream:
                toks = [t for e in s.stream("/v1/completions", body)[0] if e["choices"] and e["choices"][0]["logprobs"]
                        for t in e["choices"][0]["logprobs"]["tokens"]]
            else:
                toks = s.post("/v1/completions", body)[1]["choices"][0]["logprobs"]["tokens"]
            joined = "".join(toks)
            check(joined.startswith(cut) and len("".join(toks[:-1])) < len(cut) if cut else toks == [],
                  f"logprobs of an answer cut at {stop!r} (stream {stream}): {toks} for {cut!r}")

    # text held back as a possible stop string is still text when EOS ends the answer: find a
    # seed whose answer ends by EOS, then ask again with a stop string its last character starts
    for seed in range(1, 41):
        body = {"prompt": "Once upon a time", "max_tokens": 64, "temperature": 1.0, "seed": seed}
        c = s.post("/v1/completions", body)[1]["choices"][0]
        if c["finish_reason"] == "stop" and c["text"]:
            r = s.post("/v1/completions", dict(body, stop=c["text"][-1] + "\u2603\u2603"))[1]["choices"][0]
            check(r["text"] == c["text"], f"held-back text at EOS: {r['text']!r}, want {c['text']!r}")
            break
    else:
        print("note: no answer ended by EOS in 40 seeds: held-back text at EOS not checked")

    st, r, _ = s.post("/tokenize", {"content": "hello world", "with_pieces": True})
    ok = check(st == 200 and all("id" in t and "piece" in t for t in r["tokens"]), f"tokenize: {r}")
    if ok:
        ids = [t["id"] for t in r["tokens"]]
        check("".join(t["piece"] for t in r["tokens"]) == "hello world", "pieces spell the text")
        st, d, _ = s.post("/detokenize", {"tokens": ids})
        check(st == 200 and d["content"] == "hello world", f"detokenize round trip: {d}")


def test_score(s):
    """echo with logprobs scores the prompt (what lm-evaluation-harness's loglikelihood reads):
    a greedy continuation fed back as part of a prompt gets, token by token, the logprobs and
    alternatives it was generated with. The prompt is longer than a scoring chunk (64 rows), and
    another request decodes meanwhile, so the rows come from stacked batches."""
    text = ("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
            "foolishness, it was the epoch of belief")
    ids = s.post("/tokenize", {"content": text})[1]["tokens"]
    gen = s.post("/v1/completions", {"prompt": ids, "max_tokens": 40, "temperature": 0, "logprobs": 3,
                                     "ignore_eos": True})[1]["choices"][0]["logprobs"]
    gen_ids = s.post("/tokenize", {"content": "".join(gen["tokens"])})[1]["tokens"]
    if not check(len(gen_ids) == 40, f"the greedy tokens re-tokenize alone ({len(gen_ids)} of 40)"):
        return
    side = threading.Thread(target=lambda: s.post("/v1/completions", {"prompt": "zz", "max_tokens": 64,
                                                                      "ignore_eos": True}))
    side.start()
    full = ids + gen_ids
    body = {"prompt": full, "max_tokens": 0, "logprobs": 3, "echo": True}
    st, r, _ = s.post("/v1/completions", body)
    side.join()
    if not check(st == 200, f"scoring a prompt: {st} {r}"):
        return
    c = r["choices"][0]
    lp, n = c["logprobs"], len(ids)
    check(c["finish_reason"] == "length" and r["usage"]["completion_tokens"] == 0 and
          r["usage"]["prompt_tokens"] == len(full), f"max_tokens 0 only scores: {c['finish_reason']} {r['usage']}")
    check(c["text"] == s.post("/detokenize", {"tokens": full})[1]["content"], "a prompt of ids echoes their text")
    check(len(lp["tokens"]) == len(full) and lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None and
          None not in lp["token_logprobs"][1:], "one entry per prompt token, the first without logprobs")
    offs = [0]
    for t in lp["tokens"][:-1]:
        offs.append(offs[-1] + len(t.encode()))
    check(lp["text_offset"] == offs, f"text offsets count the prompt's bytes: {lp['text_offset'][:8]}...")
    worst = max(abs(a - b) for a, b in zip(lp["token_logprobs"][n:], gen["token_logprobs"]))
    same_top = all(set(a) == set(b) and all(abs(a[k] - b[k]) < 1e-3 for k in a)
                   for a, b in zip(lp["top_logprobs"][n:], gen["top_logprobs"]))
    check(worst < 1e-3 and same_top,
          f"scored as generated: worst |d logprob| {worst:.2g}, alternatives equal {same_top}")
    greedy = all(abs(v - max(t.values())) < 1e-6 for v, t in zip(lp["token_logprobs"][n:], lp["top_logprobs"][n:]))
    check(greedy, "each greedy token scores as its row's best")
    events, done = s.stream("/v1/completions", dict(body, max_tokens=2, temperature=0, ignore_eos=True))
    streamed = [x for e in events if e["choices"] and e["choices"][0]["logprobs"]
                for x in e["choices"][0]["logprobs"]["token_logprobs"]]
    check(done and len(streamed) == len(full) + 2 and streamed[0] is None and
          all(abs(x - y) < 1e-3 for x, y in zip(streamed[1:len(full)], lp["token_logprobs"][1:])),
          f"streamed, the prompt's logprobs come with its echo ({len(streamed)} entries)")
    # lm-evaluation-harness's local-completions: its loglikelihood request and its reading of the answer
    other = gen_ids[:5] + [t for t in ids if t != gen_ids[5]][:35]  # not greedy from its sixth token on
    st, r, _ = s.post("/v1/completions", {"prompt": [full, ids + other], "temperature": 0, "max_tokens": 1,
                                          "logprobs": 1, "seed": 1234, "echo": True})
    res = []
    for c in sorted(r.get("choices", []), key=lambda c: c["index"]):
        lps, tops = c["logprobs"]["token_logprobs"][n:-1], c["logprobs"]["top_logprobs"][n:-1]
        res.append((sum(lps), all(t == max(top.values()) for t, top in zip(lps, tops))))
    check(st == 200 and len(res) == 2 and abs(res[0][0] - sum(gen["token_logprobs"])) < 1e-2 and res[0][1]
          and not res[1][1] and res[1][0] < res[0][0],
          f"lm-eval's loglikelihood: greedy continuation {res[:1]} (generated {sum(gen['token_logprobs']):.4f}), "
          f"another {res[1:]}")
    st, r, _ = s.post("/v1/completions", {"prompt": full, "max_tokens": 0})
    check(is_error(st, r, 400, param="max_tokens"), f"max_tokens 0 without echo: {st} {r}")
    test_score_reuse(s)
    print(f"score: {len(full)} prompt tokens scored as generated (worst |d logprob| {worst:.2g})")


def dump_scored(s, path):
    """A fixed text scored (echo, logprobs, max_tokens 0); its logprobs to path, for test_serve.sh
    to compare servers started with different precisions."""
    text = ("Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. "
            "One day, she saw a big, red ball in the park.")
    st, r, _ = s.post("/v1/completions", {"prompt": text, "max_tokens": 0, "echo": True, "logprobs": 0})
    if check(st == 200, f"scoring for the dump: {st} {r}"):
        json.dump(r["choices"][0]["logprobs"]["token_logprobs"][1:], open(path, "w"))


def test_score_reuse(s):
    """Choices after one context (lm-evaluation-harness's multiple choice): the second is scored
    from the slot's kept logprobs up to where it differs, and says so in usage; asked for more
    alternatives than were kept, it is computed afresh, with the same numbers."""
    ctx = "Call me Ishmael. Some years ago, never mind how long precisely, having little money in my purse, "
    def score(text, top):
        st, r, _ = s.post("/v1/completions", {"prompt": text, "max_tokens": 0, "echo": True, "logprobs": top})
        return r["choices"][0]["logprobs"], r["usage"]["prompt_tokens_details"]["cached_tokens"], r["usage"]
    a, cached_a, _ = score(ctx + "I thought I would sail about.", 2)
    b, cached_b, ub = score(ctx + "and nothing in particular.", 2)
    fresh, cached_f, _ = score(ctx + "and nothing in particular.", 3)
    n_ctx = len(s.post("/tokenize", {"content": ctx, "add_special": True})[1]["tokens"])
    check(cached_b >= n_ctx - 1 and cached_f == 0,
          f"the second choice reused the context ({cached_b} of {ub['prompt_tokens']} positions, context "
          f"{n_ctx}); more alternatives than kept recompute ({cached_f})")
    same_ctx = a["token_logprobs"][:n_ctx] == b["token_logprobs"][:n_ctx] and a["tokens"][:n_ctx] == b["tokens"][:n_ctx]
    worst = max(abs(x - y) for x, y in zip(b["token_logprobs"][1:], fresh["token_logprobs"][1:]))
    tops = all(set(x) <= set(y) and len(x) == 2 for x, y in zip(b["top_logprobs"][1:], fresh["top_logprobs"][1:]))
    check(same_ctx and worst < 1e-3 and tops and len(b["tokens"]) == len(fresh["tokens"]),
          f"reused logprobs equal fresh ones: context kept {same_ctx}, worst |d| {worst:.2g}, alternatives {tops}")


# ---- abuse -----------------------------------------------------------------------------------

def test_bos(s, model_id, ref_path):
    """A tokenizer that adds BOS (llama.cpp's tiny LLaMA GGUF, served with --chat-template
    llama2): text prompts start with it as llama-server's do (/tokenize with add_special gives
    llama.cpp's prompt_ids, the completion is llama.cpp's greedy one), and a chat template that
    writes <s> itself gets no second one."""
    ref = json.load(open(ref_path))
    for i, p in enumerate(ref["prompts"]):
        st, r, _ = s.post("/tokenize", {"content": p["text"], "add_special": True, "parse_special": False})
        check(st == 200 and r["tokens"] == p["prompt_ids"], f"prompt {i}: /tokenize add_special gave {r}")
        st, r, _ = s.post("/tokenize", {"content": p["text"]})
        check(st == 200 and r["tokens"] == p["prompt_ids"][1:], f"prompt {i}: /tokenize added BOS unasked: {r}")
        st, r, _ = s.post("/v1/completions", {"model": model_id, "prompt": p["text"], "max_tokens": 32,
                                              "temperature": 0, "ignore_eos": True, "echo": True})
        # echoed, so a SentencePiece detokenizer's dropped first space matches
        st2, d, _ = s.post("/detokenize", {"tokens": p["prompt_ids"][1:] + p["greedy_ids"]})
        check(st == 200 and st2 == 200 and r["usage"]["prompt_tokens"] == len(p["prompt_ids"]) and
              r["choices"][0]["text"] == d["content"], f"prompt {i}: {r.get('usage')}, {r['choices'][0]['text']!r} "
              f"vs llama.cpp's {d.get('content')!r}")
        # scored: the BOS and SentencePiece's leading space are not in the echo, so offsets skip them
        st, r, _ = s.post("/v1/completions", {"model": model_id, "prompt": p["text"], "max_tokens": 2,
                                              "temperature": 0, "ignore_eos": True, "echo": True, "logprobs": 1})
        lp, n = r["choices"][0]["logprobs"], len(p["prompt_ids"])
        offs = lp["text_offset"]
        check(st == 200 and len(offs) == n + 2 and offs[0] == offs[1] == 0 and offs == sorted(offs) and
              offs[n] == len(p["text"].encode()) and lp["token_logprobs"][0] is None,
              f"prompt {i}: scored with BOS: offsets {offs} for {p['text']!r}")
    st, r, _ = s.post("/tokenize", {"content": "<s>[INST] hi [/INST]", "add_special": True})
    n_template = len(r["tokens"])
    check(st == 200 and r["tokens"][0] == 1 and r["tokens"][1] != 1, f"one BOS in the template's tokens: {r}")
    st, r, _ = s.post("/v1/chat/completions", {"model": model_id, "messages": [{"role": "user", "content": "hi"}],
                                               "max_tokens": 1})
    check(st == 200 and r["usage"]["prompt_tokens"] == n_template,
          f"chat: {r.get('usage')}, the llama2 template alone has {n_template} tokens")
    print(f"bos: 3 prompts as llama.cpp's, chat prompt {n_template} tokens with one BOS")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_stream_and_leave(s, body, read_events=1, raw_close=True):
    """Starts a request on a raw socket, reads a little, and closes the connection."""
    sock = socket.create_connection((s.host, s.port), timeout=30)
    data = json.dumps(body).encode()
    head = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n")
    if s.key:
        head += f"Authorization: Bearer {s.key}\r\n"
    sock.sendall(head.encode() + b"\r\n" + data)
    got = b""
    while body.get("stream") and got.count(b"data: ") < read_events:
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    if not body.get("stream"):
        time.sleep(0.3)
    sock.close()
    return got


def wait_idle(s, seconds):
    """True when no slot is busy and nothing is queued within `seconds`."""
    end = time.time() + seconds
    while time.time() < end:
        h = s.health()
        if h["slots_busy"] == 0 and h["queued"] == 0:
            return True
        time.sleep(0.05)
    return False


def test_disconnect(s, long_tokens):
    for stream in (True, False):
        before = s.health()
        body = {"prompt": "Tell me everything", "max_tokens": long_tokens, "ignore_eos": True, "stream": stream}
        got = start_stream_and_leave(s, body)
        check(not stream or b"data: " in got, "the stream started before the client left")
        check(wait_idle(s, 2.0), f"a client that left (stream={stream}) frees its slot at once")
        after = s.health()
        made = after["tokens_generated"] - before["tokens_generated"]
        check(after["requests_served"] == before["requests_served"] + 1 and made < long_tokens,
              f"the generation was cut short (stream={stream}): {made} of {long_tokens} tokens")


def test_errors(s, model_id, n_ctx):
    st, r, _ = s.request("POST", "/v1/completions", raw=b'{"prompt": "x", ')
    check(is_error(st, r, 400), f"malformed JSON: {st} {r}")
    st, r, _ = s.request("POST", "/v1/completions", raw=b'[1, 2]')
    check(is_error(st, r, 400), f"not an object: {st} {r}")
    st, r, _ = s.request("POST", "/v1/completions", raw=b'\xff\xfe{"prompt": 1}')
    check(is_error(st, r, 400), f"invalid UTF-8 body: {st} {r}")
    # jansson's message quotes the bytes near a syntax error: not UTF-8 here (the answer was lost)
    st, r, _ = s.request("POST", "/v1/completions", raw=b'{"prompt": "a\\\xd5\x98b"}')
    check(is_error(st, r, 400) and "not valid JSON" in r["error"]["message"], f"bad escape before bad UTF-8: {st} {r}")
    wrong = [({"prompt": "x", "temperature": "hot"}, "temperature"), ({"prompt": "x", "max_tokens": -1}, "max_tokens"),
             ({"prompt": "x", "max_tokens": 1.5}, "max_tokens"), ({"prompt": "x", "top_p": 3}, "top_p"),
             ({"prompt": "x", "stop": 5}, "stop"), ({"prompt": "x", "n": 0}, "n"), ({"prompt": "x", "stream": "yes"},
             "stream"), ({"prompt": "x", "seed": "s"}, "seed"), ({}, "prompt"), ({"prompt": {"a": 1}}, "prompt"),
             ({"prompt": [1, -5]}, "prompt"), ({"prompt": "x", "logprobs": 99}, "logprobs"),
             ({"prompt": "x", "presence_penalty": 9}, "presence_penalty"), ({"prompt": ""}, "prompt"),
             ({"prompt": "x", "logit_bias": {"50": 100}}, "logit_bias"), ({"prompt": "x", "best_of": 3}, "best_of"),
             ({"prompt": "def f(", "suffix": "\n    return x"}, "suffix"),
             ({"prompt": "x", "stream_options": {"include_usage": True}}, "stream_options")]
    for body, param in wrong:
        st, r, _ = s.post("/v1/completions", body)
        check(is_error(st, r, 400, param=param), f"wrong {param}: {st} {r}")
    neutral = {"prompt": "x", "max_tokens": 1, "logit_bias": {}, "best_of": 1, "tools": None, "suffix": "",
               "response_format": {"type": "text"}}
    st, r, _ = s.post("/v1/completions", neutral)
    check(st == 200, f"neutral values of unsupported parameters are accepted: {st} {r}")
    chat_wrong = [{"messages": "hi"}, {"messages": []}, {"messages": [{"content": "no role"}]},
                  {"messages": [{"role": "wizard", "content": "x"}]}, {"messages": [{"role": "user", "content": 7}]},
                  {"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2}, {"messages": [{"role": "user"}]},
                  {"messages": [{"role": "user", "content": None}]},
                  {"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]},
                  {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}]
    for body in chat_wrong:
        st, r, _ = s.post("/v1/chat/completions", body)
        check(is_error(st, r, 400), f"bad chat request {body}: {st} {r}")
    st, r, _ = s.request("POST", "/v1/completions", raw=b"[" * 200000)
    check(is_error(st, r, 400), f"deeply nested JSON: {st} {str(r)[:200]}")
    st, r, _ = s.post("/v1/completions", {"prompt": "x", "stop": "s" * 5000})
    check(is_error(st, r, 400, param="stop"), f"an overlong stop string: {st} {r}")
    st, r, _ = s.post("/v1/completions", {"prompt": "x", "n": 16, "max_tokens": 4000, "logprobs": 20})
    check(is_error(st, r, 400, param="logprobs"), f"logprobs beyond a request's bound: {st} {r}")
    st, r, _ = s.post("/v1/completions", {"prompt": "x", "model": "gpt-9"})
    check(is_error(st, r, 404, param="model", code="model_not_found"), f"unknown model: {st} {r}")
    st, r, _ = s.post("/v1/completions", {"prompt": "x", "model": model_id, "max_tokens": 1})
    check(st == 200, f"the served model's own name: {st}")
    st, r, _ = s.request("GET", "/v1/nowhere")
    check(is_error(st, r, 404, code="not_found"), f"unknown path: {st} {r}")
    for path in ("/health%00x", "/health%00", "/v1/models%00x", "/health/x", "/healthx"):  # a decoded NUL ends no path
        st, r, _ = s.request("GET", path)
        check(is_error(st, r, 404, code="not_found"), f"junk after a path ({path}): {st} {r}")
    st, r, _ = s.request("GET", "/v1/completions")
    check(is_error(st, r, 405), f"wrong method: {st} {r}")
    # a browser's preflight for OpenAI's JavaScript SDK, which adds headers of its own: each must
    # be allowed (by name, or by "*", which never covers Authorization) or the browser refuses
    sdk_headers = ["authorization", "content-type", "x-stainless-os", "x-stainless-lang", "x-stainless-retry-count",
                   "openai-organization"]
    st, _, hdr = s.request("OPTIONS", "/v1/chat/completions", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": ",".join(sdk_headers)})
    allowed = [h.strip().lower() for h in hdr.get("Access-Control-Allow-Headers", "").split(",")]
    check(st == 204 and hdr.get("Access-Control-Allow-Origin") == "*" and "authorization" in allowed and
          all(h in allowed or "*" in allowed for h in sdk_headers), f"CORS preflight for the JS SDK: {st} {hdr}")
    st, r, _ = s.post("/v1/completions", {"prompt": "word " * n_ctx})
    check(is_error(st, r, 400, code="context_length_exceeded"), f"prompt over the context: {st} {r}")
    big = b'{"prompt": "' + b"a" * (2 << 20) + b'"}'
    st, r, _ = s.request("POST", "/v1/completions", raw=big)
    check(is_error(st, r, 413), f"body over the limit: {st} {str(r)[:200]}")
    sock = socket.create_connection((s.host, s.port), timeout=30)  # announced, never sent: answered at once
    sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n")
    check(sock.recv(4096).startswith(b"HTTP/1.1 413"), "a huge announced body gets 413 before it is sent")
    sock.close()
    conn = http.client.HTTPConnection(s.host, s.port, timeout=30)  # no Content-Length: chunked upload
    conn.putrequest("POST", "/v1/completions")
    conn.putheader("Transfer-Encoding", "chunked")
    if s.key:
        conn.putheader("Authorization", "Bearer " + s.key)
    conn.endheaders()
    piece = b"a" * 65536
    try:
        for _ in range(40):
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
        r = conn.getresponse()
        check(r.status == 413, f"chunked body over the limit: {r.status}")
    except OSError:
        check(True, "the server closed a chunked upload over the limit")
    conn.close()
    st, r, _ = s.post("/v1/completions", {"prompt": "still there?", "max_tokens": 2})
    check(st == 200, f"the server serves after bad requests: {st}")


def test_slow_clients(s):
    """A client that sends its request in dribbles, and one that reads its stream late, are both
    served in full, and the others are served meanwhile."""
    data = json.dumps({"prompt": "slowly", "max_tokens": 8}).encode()
    req = (f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(data)}\r\nConnection: close\r\n"
           + (f"Authorization: Bearer {s.key}\r\n" if s.key else "") + "\r\n").encode() + data
    sock = socket.create_connection((s.host, s.port), timeout=30)
    for i in range(0, len(req), 8):  # about a second for the whole request
        sock.sendall(req[i:i + 8])
        time.sleep(0.1 if i == 0 else 0.005)
        if i == 0:
            st, _, _ = s.post("/v1/completions", {"prompt": "meanwhile", "max_tokens": 4})
            check(st == 200, "others are served while a client dribbles its request")
    got = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    sock.close()
    check(got.startswith(b"HTTP/1.1 200") and b'"completion_tokens"' in got, f"the slow sender is served: {got[:80]!r}")
    # a reader that waits: the server keeps generating into its buffer, then sends it all
    conn = http.client.HTTPConnection(s.host, s.port, timeout=30)
    h = {"Content-Type": "application/json", **({"Authorization": "Bearer " + s.key} if s.key else {})}
    conn.request("POST", "/v1/completions", body=json.dumps({"prompt": "late", "max_tokens": 200, "ignore_eos": True,
                                                             "stream": True, "stream_options": {"include_usage": True}}),
                 headers=h)
    r = conn.getresponse()
    time.sleep(1.0)
    text = r.read().decode()
    conn.close()
    usage = [json.loads(b[6:]) for b in text.split("\n\n") if b.startswith("data: {") and '"usage"' in b]
    check(text.rstrip().endswith("data: [DONE]") and usage and usage[-1]["usage"]["completion_tokens"] == 200,
          "a late reader gets the whole stream")


def test_load(s, pid, n=200, check_rss=True):
    """n connections at once: each gets an answer or a 503, then the server still serves."""
    rss_before = rss_kb(pid)
    statuses = []
    lock = threading.Lock()

    def one(i):
        try:
            st, r, hdr = s.post("/v1/completions", {"prompt": f"request {i}", "max_tokens": 32, "ignore_eos": True},
                                timeout=60)
            good = (st == 200 and r["usage"]["completion_tokens"] == 32) or \
                (is_error(st, r, 503, code="server_busy") and hdr.get("Retry-After") == "1")
            with lock:
                statuses.append(st if good else f"bad {st}")
        except Exception as e:  # a refused or reset connection counts as a failure
            with lock:
                statuses.append(f"error {e!r}")
    t0 = time.time()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    took = time.time() - t0
    ok = statuses.count(200) + statuses.count(503)
    check(ok == n, f"{n} concurrent requests: {ok} answered or refused; others: "
                   f"{[x for x in statuses if x not in (200, 503)][:5]}")
    check(statuses.count(503) >= 1, f"the bounded queue refuses some with 503 ({statuses.count(200)} served)")
    check(statuses.count(200) >= 4, f"and serves others ({statuses.count(200)})")
    check(took < 60, f"the load test stays bounded ({took:.1f} s)")
    check(wait_idle(s, 10), "the server drains its queue")
    st, r, _ = s.post("/v1/completions", {"prompt": "after the storm", "max_tokens": 4})
    check(st == 200, f"the server still serves after the load: {st}")
    if check_rss:
        time.sleep(0.5)  # connection threads exit
        grew = rss_kb(pid) - rss_before
        check(grew < 30 * 1024, f"memory stays bounded: RSS grew {grew} kB over the load")
    print(f"load: {n} connections in {took:.1f} s: {statuses.count(200)} served, {statuses.count(503)} got 503")


# ---- auth ------------------------------------------------------------------------------------

def test_auth(url, key):
    anon = Server(url)
    st, r, hdr = anon.post("/v1/completions", {"prompt": "x", "max_tokens": 1})
    check(is_error(st, r, 401, code="invalid_api_key") and "Bearer" in hdr.get("WWW-Authenticate", ""),
          f"no key: {st} {r}")
    for wrong in (key[:-1], key + "x", "x" * len(key), ""):
        st, r, _ = Server(url, wrong).post("/v1/completions", {"prompt": "x", "max_tokens": 1})
        check(is_error(st, r, 401), f"wrong key {wrong!r}: {st}")
    st, r, _ = anon.request("GET", "/v1/models")
    check(st == 401, f"models need the key: {st}")
    st, r, _ = Server(url, key).post("/v1/completions", {"prompt": "x", "max_tokens": 2})
    check(st == 200 and json.dumps(r), f"the right key: {st} {r}")
    st, r, _ = anon.post("/v1/completions", {"prompt": "x", "max_tokens": 1}, headers={"Authorization": "bearer " + key})
    check(st == 200, f"the scheme in lower case: {st} {r}")
    check(anon.request("GET", "/health")[0] == 200 and anon.request("GET", "/")[0] == 200,
          "the page and /health need no key")
    for pair in ((key, "wrong"), ("wrong", key), (key, key)):  # http.client would merge a dict's two
        st, r = raw_request(url, b"GET /v1/models HTTP/1.1\r\nHost: x\r\n" +
                            b"".join(b"Authorization: Bearer " + k.encode() + b"\r\n" for k in pair))
        check(is_error(st, r, 401, code="invalid_api_key"), f"two Authorization headers {pair}: {st} {r}")


def raw_request(url, head):
    """(status, parsed JSON body) of a request written byte for byte: HEAD's lines, then the end."""
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + b"Connection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    try:
        return int(status_line.split()[1]), json.loads(body)
    except ValueError:
        return int(status_line.split()[1]), body


def test_any_bytes(s):
    """A byte-level random model emits invalid UTF-8: answers stay valid JSON (U+FFFD)."""
    st, r, _ = s.post("/v1/completions", {"prompt": "x", "max_tokens": 64, "temperature": 2, "seed": 1,
                                          "ignore_eos": True})
    check(st == 200 and isinstance(r["choices"][0]["text"], str), f"any bytes: {st}")
    events, done = s.stream("/v1/completions", {"prompt": "x", "max_tokens": 64, "temperature": 2, "seed": 1,
                                               "ignore_eos": True})
    check(done and "".join(e["choices"][0]["text"] for e in events if e["choices"]) == r["choices"][0]["text"],
          "streamed bytes equal the whole answer")
    # a character split over byte tokens: each piece as its byte values, so none is lost
    st, r, _ = s.post("/tokenize", {"content": "\u00e9", "with_pieces": True})
    pieces = [t["piece"] for t in r.get("tokens", [])] if st == 200 else []
    joined = b"".join(bytes(p) if isinstance(p, list) else p.encode() for p in pieces)
    check(joined == "\u00e9".encode() and any(isinstance(p, list) for p in pieces),
          f"partial UTF-8 pieces keep their bytes: {st} {r}")


# ---- sdk -------------------------------------------------------------------------------------

def test_sdk(url, model_id, key):
    import openai
    client = openai.OpenAI(base_url=url + "/v1", api_key=key or "none", max_retries=0)
    r = client.completions.create(model=model_id, prompt="Once upon a time", max_tokens=8, seed=1)
    check(isinstance(r.choices[0].text, str) and r.usage.completion_tokens <= 8, f"SDK completion: {r}")
    parts = [c.choices[0].text for c in client.completions.create(model=model_id, prompt="Once upon a time",
                                                                  max_tokens=8, seed=1, stream=True) if c.choices]
    check("".join(parts) == r.choices[0].text, f"SDK streamed completion: {parts} vs {r.choices[0].text!r}")
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    c = client.chat.completions.create(model=model_id, messages=msgs, max_tokens=16, temperature=0)
    check(c.choices[0].message.role == "assistant" and isinstance(c.choices[0].message.content, str),
          f"SDK chat: {c}")
    chunks = client.chat.completions.create(model=model_id, messages=msgs, max_tokens=16, temperature=0, stream=True)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    check(text == c.choices[0].message.content, f"SDK streamed chat: {text!r} vs {c.choices[0].message.content!r}")
    models = client.models.list()
    check(model_id in [m.id for m in models.data], "SDK lists the model")
    try:
        client.chat.completions.create(model="no-such-model", messages=msgs, max_tokens=4)
        check(False, "SDK: an unknown model raises")
    except openai.NotFoundError as e:
        check(e.status_code == 404 and "no-such-model" in str(e), f"SDK NotFoundError: {e}")
    try:
        client.completions.create(model=model_id, prompt="x", temperature=5)
        check(False, "SDK: a bad temperature raises")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and "temperature" in str(e), f"SDK BadRequestError: {e}")
    if key:
        try:
            openai.OpenAI(base_url=url + "/v1", api_key="wrong", max_retries=0).models.list()
            check(False, "SDK: a wrong key raises")
        except openai.AuthenticationError as e:
            check(e.status_code == 401, f"SDK AuthenticationError: {e}")
    print(f"sdk: openai {openai.__version__}: completion {r.choices[0].text!r}; chat {c.choices[0].message.content!r}")


# ---- browser ---------------------------------------------------------------------------------

def wait_js(page, expr, timeout=60):
    """Polls a JS expression through the DevTools protocol (exempt from the page's CSP, which
    forbids the eval that playwright's wait_for_function uses)."""
    end = time.time() + timeout
    while time.time() < end:
        if page.evaluate(expr):
            return True
        time.sleep(0.05)
    return False


def test_browser(url, screenshot, chromium, real_model):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)  # CSP violations too
        page.goto(url + "/")
        check(wait_js(page, "document.getElementById('model-name').textContent !== 'connecting...'", 10),
              "the page names the model")
        page.fill("#max-tokens", "60")
        page.fill("#prompt", "The meaning of life is")
        # count the changes to the output, not the observer's calls: a busy 2-core host can hand the
        # renderer the whole stream in one read, and one call then carries every change
        page.evaluate("""() => { window.updates = 0;
            new MutationObserver((records) => window.updates += records.length).observe(document.getElementById('output'),
                {childList: true, subtree: true, characterData: true}); }""")
        with page.expect_response(lambda r: r.url.endswith("/v1/completions")) as reply:
            page.click("#generate")
        check(wait_js(page, "document.querySelector('#output .gen') && "
                            "document.querySelector('#output .gen').textContent.length > 0"), "streamed text appears")
        check(wait_js(page, "!document.getElementById('generate').disabled"), "the generation ends")
        gen = page.inner_text("#output .gen")
        check(len(gen) > 0 and page.inner_text("#output .prompt") == "The meaning of life is",
              f"the page shows the prompt and the continuation: {gen[:80]!r}")
        info = page.inner_text("#write-info")
        check("tok/s" in info, f"speed shown: {info!r}")
        # the server sends what was generated since its last send as one event, so how many events
        # a stream has depends on the host's timing; that the page shows each as it comes does not
        events = [json.loads(line[6:]) for line in reply.value.text().split("\n") if line.startswith("data: {")]
        texts = [e["choices"][0]["text"] for e in events if e.get("choices") and e["choices"][0]["text"]]
        changes = page.evaluate("window.updates") - 3  # the emptied output and its two spans
        # a tiny random model may write all 60 tokens before the server's first send
        check(len(texts) >= (2 if real_model else 1) and changes >= len(texts),
              f"text arrived in steps ({changes} changes for {len(texts)} events)")
        check("".join(texts) == page.text_content("#output .gen"), "the page shows the stream's text as sent")
        os.makedirs(os.path.dirname(screenshot) or ".", exist_ok=True)
        page.screenshot(path=screenshot)
        page.click("#tab-chat")
        page.fill("#chat-input", "Hello! What is the capital of France?")
        page.click("#send")
        check(wait_js(page, "document.querySelector('.msg.assistant') && "
                            "document.querySelector('.msg.assistant').textContent.length > 0"), "the answer appears")
        check(wait_js(page, "!document.getElementById('send').disabled"), "the answer ends")
        answer = page.inner_text(".msg.assistant")
        check(page.inner_text(".msg.user") == "Hello! What is the capital of France?" and len(answer) > 0,
              f"one chat turn: {answer[:80]!r}")
        page.screenshot(path=screenshot.replace(".png", "-chat.png"))
        check(not errors, f"no script errors: {errors}")
        browser.close()
        print(f"browser: wrote {screenshot}; {len(texts)} events shown in {changes} steps: {gen[:60]!r}; "
              f"chat answer {answer[:60]!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", default=None)
    ap.add_argument("--model-id", required=True)
    ap.add_argument("--pid", type=int, default=0)
    ap.add_argument("--n-ctx", type=int, default=256)
    ap.add_argument("--long-tokens", type=int, default=2000, help="a generation too long to finish in a second")
    ap.add_argument("--parts", default="api,abuse")
    ap.add_argument("--screenshot", default="build/serve-page.png")
    ap.add_argument("--real-model", action="store_true", help="a model slow enough to stream in several events")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--no-rss", action="store_true", help="skip the RSS check (sanitizers hold freed memory)")
    ap.add_argument("--ref", default=None, help="part bos: llamacpp-ref/refs/tiny-llama-f32.json")
    ap.add_argument("--strict", action="store_true", help="a missing tool fails instead of skipping (CI)")
    ap.add_argument("--dump", default=None, help="part scored: where to write the prompt's logprobs (JSON)")
    a = ap.parse_args()
    s = Server(a.url, a.key)
    parts = a.parts.split(",")

    def missing(what):
        if a.strict:
            check(False, f"{what} (required when CI=true)")
        else:
            print(f"SKIP: {what}")

    if "api" in parts:
        test_api(s, a.model_id)
    if "bytes" in parts:
        test_any_bytes(s)
    if "abuse" in parts:
        test_errors(s, a.model_id, a.n_ctx)
        test_disconnect(s, a.long_tokens)
        test_slow_clients(s)
        test_load(s, a.pid, check_rss=not a.no_rss)
    if "auth" in parts:
        test_auth(a.url, a.key)
    if "bos" in parts:
        test_bos(s, a.model_id, a.ref)
    if "scored" in parts:
        dump_scored(s, a.dump)
    if "sdk" in parts:
        try:
            import openai  # noqa: F401
            test_sdk(a.url, a.model_id, a.key)
        except ImportError:
            missing("the openai package is not installed (pip install openai)")
    if "browser" in parts:
        try:
            import playwright  # noqa: F401
            if os.access(a.chromium, os.X_OK):
                test_browser(a.url, a.screenshot, a.chromium, a.real_model)
            else:
                missing(f"no Chromium at {a.chromium} (apt-get install chromium)")
        except ImportError:
            missing("the playwright package is not installed (pip install playwright)")
    print(f"test_serve.py [{a.parts}]: {checks} checks, {failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
