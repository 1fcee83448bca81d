/* attn/attn.h - libattn's public C API, all of it: #include <attn/attn.h> and link
 * build/libattn.a (what `make` builds) with -lutf8proc -ljansson -lm -pthread. The headers
 * are C11 and C++-safe.
 *
 *   attn/core.h       version, errors, thread count, weight element types
 *   attn/model.h      load a checkpoint (GGUF, safetensors, llama2.c), run tokens, read
 *                     logits; several sequences in one batched forward
 *   attn/tokenizer.h  the model's tokenizer: text to ids and back
 *   attn/sampler.h    logits to the next token (penalties, top-k/p, min-p, temperature, seed)
 *   attn/generate.h   the whole loop: prompt in, streamed text out, stop strings
 *   attn/chat.h       chat templates (ChatML, Llama 2/3, Mistral, Zephyr, Phi-3, Alpaca)
 *
 * Conventions: every name starts with attn_; objects are opaque handles made by a _load or
 * _new function and released by the matching _free (which accepts NULL); a function that
 * fails returns -1 or NULL and attn_last_error() says why; nothing prints or exits. Memory a
 * function hands out (token arrays, text) is malloc'd and the caller free()s it.
 *
 * The shortest program (examples/simple.c is this, with its error checks):
 *
 *     attn_model *m = attn_model_load("SmolLM2-135M-Instruct.Q4_1.gguf");
 *     attn_tokenizer *tok = attn_tokenizer_load_for_model("SmolLM2-135M-Instruct.Q4_1.gguf");
 *     int32_t *ids; int n;
 *     attn_tokenizer_encode_prompt(tok, "Once upon a time", 16, false, &ids, &n);
 *     attn_generate_params p;
 *     attn_generate_defaults(&p);
 *     p.max_tokens = 64, p.on_text = print_text;   // called as text becomes final
 *     attn_generate_result r;
 *     attn_generate(m, tok, ids, n, &p, &r);
 *     attn_generate_result_free(&r), free(ids), attn_tokenizer_free(tok), attn_model_free(m);
 */
#ifndef ATTN_PUBLIC_ATTN_H
#define ATTN_PUBLIC_ATTN_H

#include <attn/core.h>
#include <attn/model.h>
#include <attn/tokenizer.h>
#include <attn/sampler.h>
#include <attn/generate.h>
#include <attn/chat.h>

#endif
