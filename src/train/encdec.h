/* encdec.h - the 2017 Transformer ("Attention Is All You Need"): an encoder-decoder for
 * sequence-to-sequence tasks (translation), trainable on the tape (tape.h), with greedy
 * and beam-search decoding.
 *
 * The model, as in the paper:
 *   - one vocabulary shared by source and target, and one embedding matrix E [vocab][d]
 *     used three ways: source embedding, target embedding and output projection
 *     (logits = h · Eᵀ); embeddings are multiplied by sqrt(d_model) and added to fixed
 *     sinusoidal position encodings (PE[p][2i] = sin(p / 10000^(2i/d)), PE[p][2i+1] = cos);
 *   - N encoder layers (self-attention, ReLU feed-forward) and N decoder layers (causal
 *     self-attention, cross-attention over the encoder output, feed-forward);
 *   - post-LN residuals (x = LN(x + dropout(sublayer(x)))) by default, pre-LN
 *     (x = x + dropout(sublayer(LN(x))), with a final LayerNorm after each stack) as an
 *     option;
 *   - dropout on the embedding sums and on every sub-layer output (the paper's two places;
 *     PyTorch's nn.Transformer also drops attention weights and the ReLU output: not here);
 *   - label-smoothed cross-entropy (0.1), mean over the target tokens.
 *
 * Parameter names and layouts are PyTorch nn.Transformer's state dict
 * (nn.TransformerEncoderLayer / nn.TransformerDecoderLayer, batch_first or not):
 *   shared.weight                                    E [vocab][d] (the tied embedding; HF BART/T5's name)
 *   encoder.layers.N.self_attn.in_proj_weight       [3d][d] (q, k, v rows), in_proj_bias [3d]
 *   encoder.layers.N.self_attn.out_proj.weight/bias [d][d], [d]
 *   encoder.layers.N.linear1.weight/bias            [d_ff][d], linear2 [d][d_ff]
 *   encoder.layers.N.norm1, norm2 .weight/.bias      (norm1 after/before self-attention)
 *   decoder.layers.N.self_attn.*, multihead_attn.*   (multihead_attn: cross-attention)
 *   decoder.layers.N.linear1, linear2, norm1, norm2, norm3
 *   encoder.norm, decoder.norm .weight/.bias         pre-LN only (the paper's post-LN has none)
 * All matrices are nn.Linear [out][in]. attn_encdec_save writes config.json (attn's own
 * "attn-encdec" keys) and model.safetensors (F32).
 *
 * Batches hold sequences of mixed lengths padded to S (source) and T (target) with
 * per-row lengths; padding positions are masked (never attended to, never counted in the
 * loss). Token conventions: the source is x followed by EOS; the decoder reads BOS y and
 * predicts y EOS (attn_encdec_batch_build lays this out). */
#ifndef ATTN_TRAIN_ENCDEC_H
#define ATTN_TRAIN_ENCDEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "optim.h"

typedef struct {
    int64_t vocab, d_model, n_heads, d_ff;
    int64_t n_encoder_layers, n_decoder_layers;
    int64_t max_len;  /* positions (the sinusoid table): longest source + EOS, or BOS + target */
    bool pre_ln;      /* false: post-LN, the paper's */
    float eps;        /* LayerNorm epsilon */
    int32_t pad_id, bos_id, eos_id;
} attn_encdec_config;

/* The paper's base model: d 512, 8 heads, d_ff 2048, 6 + 6 layers, post-LN, eps 1e-5,
 * max_len 256, pad 0, bos 1, eos 2 (vocab must be set). */
void attn_encdec_config_defaults(attn_encdec_config *c);

typedef struct {
    float dropout;         /* paper: 0.1 */
    float label_smoothing; /* paper: 0.1 */
    bool training;         /* false: dropout off */
    uint64_t seed;         /* dropout masks; each training forward uses it, then advances it */
} attn_encdec_opts;

/* B sequence pairs. src [B][S], tgt_in and tgt_out [B][T], row-major; positions at or past a
 * row's length are ignored (any value). tgt_out may be NULL: logits only, no loss. */
typedef struct {
    int64_t B, S, T;
    const int32_t *src, *src_len;
    const int32_t *tgt_in, *tgt_out, *tgt_len;
} attn_encdec_batch;

typedef struct attn_encdec attn_encdec;

/* A random model: xavier_uniform matrices (as nn.Transformer), E ~ N(0, d^-1/2) (fairseq),
 * zero biases, unit LayerNorms. Memory is planned for batches of B pairs padded to S and
 * T; a later batch (b, s, t) fits when b <= B, b·s <= B·S and b·t <= B·T (so token-count
 * batches of few long or many short rows share one plan), and s, t <= max_len. */
attn_encdec *attn_encdec_new(const attn_encdec_config *c, uint64_t seed, int64_t B, int64_t S, int64_t T);
/* From a folder written by attn_encdec_save (or by tools/make_encdec_fixtures.py). */
attn_encdec *attn_encdec_load(const char *dir, int64_t B, int64_t S, int64_t T);
int attn_encdec_save(const attn_encdec *m, const char *dir);
void attn_encdec_free(attn_encdec *m);

const attn_encdec_config *attn_encdec_get_config(const attn_encdec *m);
attn_encdec_opts *attn_encdec_options(attn_encdec *m);
const attn_param *attn_encdec_params(const attn_encdec *m, int *n);
const attn_param *attn_encdec_find(const attn_encdec *m, const char *name);
int64_t attn_encdec_numel(const attn_encdec *m);
float *attn_encdec_grad(attn_encdec *m);
void attn_encdec_zero_grad(attn_encdec *m);
/* As attn_gpt2_train_discard_grad: the next backward writes the gradients afresh. */
void attn_encdec_discard_grad(attn_encdec *m);
size_t attn_encdec_bytes(const attn_encdec *m);

/* Runs the batch; *loss = the label-smoothed mean cross-entropy over target tokens. */
int attn_encdec_forward(attn_encdec *m, const attn_encdec_batch *b, float *loss);
/* Logits [B][T][vocab] of the last forward (a backward overwrites them with their gradient). */
const float *attn_encdec_logits(const attn_encdec *m);
/* Adds scale · d loss / d param into the gradients. Needs a forward with targets just before. */
int attn_encdec_backward(attn_encdec *m, float scale);

/* The paper's learning rate (its eq. 3): d^-0.5 · min(step^-0.5, step · warmup^-1.5), step
 * counted from 1, times factor (1 in the paper). */
float attn_encdec_noam_lr(int64_t d_model, int64_t step, int64_t warmup, float factor);

/* ---- Batches from token lists ---- */

/* Owned arrays of a padded batch; zero-initialise, reuse across calls, then free. */
typedef struct {
    attn_encdec_batch b;
    int32_t *mem;
    size_t cap;
} attn_encdec_batch_buf;

/* Lays out n pairs: source row i = src[i] EOS (src_n[i] ids), tgt_in = BOS tgt[i],
 * tgt_out = tgt[i] EOS; padding pad_id (and -1 in tgt_out). tgt may be NULL (sources
 * only: T = 0). */
int attn_encdec_batch_build(attn_encdec_batch_buf *buf, const attn_encdec_config *c, int n,
                            const int32_t *const *src, const int32_t *src_n, const int32_t *const *tgt,
                            const int32_t *tgt_n);
void attn_encdec_batch_free(attn_encdec_batch_buf *buf);

/* Batches by token count (fairseq's --max-tokens): the pairs, sorted by source then target
 * length, are cut into runs of neighbours whose padded size, count x (longest source + 1
 * or BOS + longest target, whichever is more), stays within max_tokens, and count within
 * max_sentences; similar lengths share a batch, so little is padding. The runs come out in
 * an order shuffled by seed. order[n] receives the pair indices batch after batch,
 * starts[0..*n_batches] (room for n + 1) where each batch begins. A model planned with
 * B = max_sentences and S = T = ceil(max_tokens / max_sentences) fits every batch whose
 * lengths stay within max_len. A pair wider than max_tokens is an error. */
int attn_encdec_token_batches(int n, const int32_t *src_n, const int32_t *tgt_n, int64_t max_tokens,
                              int max_sentences, uint64_t seed, int *order, int *starts, int *n_batches);

/* Averages the parameters of n checkpoints of one shape (the paper averages the last 5 or
 * 20) into out_dir, written as attn_encdec_save does; the mean is taken in double. */
int attn_encdec_average(const char *const *dirs, int n, const char *out_dir);

/* ---- Decoding ---- */

/* Beam search as in the paper (GNMT's length penalty): hypotheses are ranked by
 * log P(y) / lp(y), lp = ((5 + |y|) / 6)^alpha, |y| counting the EOS; each step keeps the
 * `beam` best live hypotheses (fairseq's rule: an EOS ends a hypothesis only when it is
 * among the `beam` best candidates of its sentence); a sentence is done when `beam`
 * hypotheses have ended and no live one can still score better (its log-probability over
 * the length penalty at the limit; fairseq stops at the count alone, which lets poor
 * beams that end early crowd out the best one), or at its length limit: min(source length + max_extra, out_cap,
 * max_len - 1) tokens. The paper: beam 4, alpha 0.6, max_extra 50. */
typedef struct {
    int beam;
    float alpha;
    int max_extra;
} attn_encdec_search;

attn_encdec_search attn_encdec_search_defaults(void); /* 4, 0.6, 50 */

/* Translates n sources (ids without EOS). Row i of out (stride out_cap) receives the output
 * ids without BOS or EOS, out_n[i] how many; score (may be NULL) the hypothesis' length-
 * normalised log-probability. The encoder runs once per sentence batch and every decoder
 * step feeds only the newest token (keys and values of the prefix are cached). Sentences
 * go through in batches that fit the model's plan. Discards the last training forward. */
int attn_encdec_greedy(attn_encdec *m, int n, const int32_t *const *src, const int32_t *src_n, int max_extra,
                       int32_t *out, int64_t out_cap, int32_t *out_n);
int attn_encdec_beam(attn_encdec *m, int n, const int32_t *const *src, const int32_t *src_n,
                     const attn_encdec_search *s, int32_t *out, int64_t out_cap, int32_t *out_n, float *score);

/* Teacher-forced logits through the incremental decoder (for tests: they must equal the
 * training forward's): batch b's targets are ignored, logits [B][T][vocab]. */
int attn_encdec_decoder_logits(attn_encdec *m, const attn_encdec_batch *b, float *logits);

#endif
