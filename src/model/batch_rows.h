/* batch_rows.h - how a model family runs a batch (src/model/ only). The items' tokens are
 * stacked into passes of at most max_rows rows (the family's prefill chunk), so every weight
 * matrix is read once per pass for all of them; a segment is the rows of one item in a pass,
 * and attention runs per segment against its sequence's cache. An item longer than the room
 * left in a pass continues in the next one. */
#ifndef ATTN_MODEL_BATCH_ROWS_H
#define ATTN_MODEL_BATCH_ROWS_H

#include <stdbool.h>
#include <stdint.h>
#include "core/matmul.h"
#include "model.h"
#include "nn/attention.h"

/* Rows of final logits computed per matmul at most (families size their buffer by it). */
#define ATTN_BATCH_LOGIT_ROWS 16

typedef struct attn_batch_segment {
    int seq;
    const int32_t *tokens;
    int64_t row, n, pos; /* rows [row, row+n) of the pass hold positions pos.. of sequence seq */
    float *logits;       /* where its last row's logits go, or NULL; with `all`, every row's [n][vocab] */
    bool all;
} attn_batch_segment;

typedef struct {
    attn_batch_segment *segs; /* the model's (one per sequence) */
    int n_segs;
    int64_t rows;
    int item;     /* where the next pass starts: item, and its tokens already run */
    int64_t done;
} attn_batch_pass;

/* Fills p (zeroed before the first call) with the next pass; false once every row has run.
 * The segments go to the model's array unless p->segs was set before the first call (to room
 * for n_items segments). */
bool attn_batch_next_pass(attn_batch_pass *p, const attn_model *m, const attn_batch_item *items, int n_items,
                          int64_t max_rows);

/* Causal self-attention of layer `layer` for every segment of the pass: each segment's new
 * keys and values (rows of k and v, stride kv_ld) go into its sequence's cache, then all
 * segments' queries (rows of q, stride q_ld) attend as one parallel job into att (stride
 * att_ld). */
void attn_batch_attend(const attn_batch_pass *p, const attn_kv_cache *cache, int layer, float *att, int64_t att_ld,
                       const float *q, int64_t q_ld, const float *k, const float *v, int64_t kv_ld,
                       const attn_attention_shape *shape);

/* A family's final norm: rows of x into out. */
typedef void (*attn_final_norm)(const void *family, float *out, const float *x, int64_t rows);

/* The logits the pass owes, from its final hidden rows x [rows][dim]: the rows wanted are
 * normed into h (room for the pass's rows) and multiplied by head. A segment owing all its
 * rows' gets them straight in place; last rows go ATTN_BATCH_LOGIT_ROWS at a time through buf
 * [ATTN_BATCH_LOGIT_ROWS][vocab], and a lone one straight to its place. */
int attn_batch_logits(const attn_batch_pass *p, const float *x, int64_t dim, float *h, const attn_weight *head,
                      attn_final_norm norm, const void *family, float *buf);

#endif
