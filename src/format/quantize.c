/* quantize.c - `attn quantize` (see quantize.h): the type names, llama.cpp's per-tensor type
 * policy, the GGUF input, and the driver that converts each tensor and writes the file.
 * The policy is llama.cpp's llama_tensor_get_type (src/llama-quant.cpp at c392e50) for the
 * types attn writes; MoE models (expert_count > 1) are refused rather than half-followed. */
#include "quantize.h"
#include "fileio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/common.h"
#include "core/threadpool.h"
#include "quantize_src.h"

/* ---- type names -------------------------------------------------------------------- */

/* llama.cpp's llama_ftype numbers for the types attn writes. */
enum {
    FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9, FT_Q2_K = 10,
    FT_Q3_K_S = 11, FT_Q3_K_M = 12, FT_Q3_K_L = 13, FT_Q4_K_S = 14, FT_Q4_K_M = 15, FT_Q5_K_S = 16,
    FT_Q5_K_M = 17, FT_Q6_K = 18, FT_BF16 = 32,
};

static const attn_quant_ftype ftypes[] = {
    {"f32", FT_F32, ATTN_QT_F32},       {"f16", FT_F16, ATTN_QT_F16},       {"bf16", FT_BF16, ATTN_QT_BF16},
    {"q8_0", FT_Q8_0, ATTN_QT_Q8_0},    {"q4_0", FT_Q4_0, ATTN_QT_Q4_0},    {"q4_1", FT_Q4_1, ATTN_QT_Q4_1},
    {"q5_0", FT_Q5_0, ATTN_QT_Q5_0},    {"q5_1", FT_Q5_1, ATTN_QT_Q5_1},    {"q2_k", FT_Q2_K, ATTN_QT_Q2_K},
    {"q3_k_s", FT_Q3_K_S, ATTN_QT_Q3_K}, {"q3_k_m", FT_Q3_K_M, ATTN_QT_Q3_K}, {"q3_k_l", FT_Q3_K_L, ATTN_QT_Q3_K},
    {"q4_k_s", FT_Q4_K_S, ATTN_QT_Q4_K}, {"q4_k_m", FT_Q4_K_M, ATTN_QT_Q4_K}, {"q5_k_s", FT_Q5_K_S, ATTN_QT_Q5_K},
    {"q5_k_m", FT_Q5_K_M, ATTN_QT_Q5_K}, {"q6_k", FT_Q6_K, ATTN_QT_Q6_K},
};

/* llama-quantize's aliases. */
static const struct {
    const char *alias, *name;
} aliases[] = {{"q3_k", "q3_k_m"}, {"q4_k", "q4_k_m"}, {"q5_k", "q5_k_m"}};

const attn_quant_ftype *attn_quant_ftype_find(const char *name) {
    for (size_t i = 0; name && i < sizeof aliases / sizeof *aliases; i++)
        if (strcasecmp(name, aliases[i].alias) == 0) name = aliases[i].name;
    for (size_t i = 0; name && i < sizeof ftypes / sizeof *ftypes; i++)
        if (strcasecmp(name, ftypes[i].name) == 0) return &ftypes[i];
    return NULL;
}

const char *attn_quant_ftype_names(void) {
    return "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k_s, q3_k_m (q3_k), q3_k_l, q4_k_s, "
           "q4_k_m (q4_k), q5_k_s, q5_k_m (q5_k), q6_k";
}

static bool is_block_type(attn_qtype t) { return attn_qtype_get((int)t)->block > 1; }

/* ---- which tensors, which type ----------------------------------------------------- */

/* llama-quantize converts 2-D+ "...weight" tensors except these. */
static bool convertible(const qsrc_tensor *t) {
    static const char *const kept[] = {"_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight",
                                       "time_mix_first.weight", "attn_rel_b.weight"};
    if (!attn_ends_with(t->name, "weight") || t->n_dims < 2) return false;
    if (strcmp(t->name, "position_embd.weight") == 0 || strcmp(t->name, "token_types.weight") == 0) return false;
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        if (strstr(t->name, kept[i])) return false;
    return true;
}

typedef struct {
    const qsrc *src;
    int ftype;
    bool has_output, is_70b, falcon;
    int n_attn_wv, i_attn_wv, i_ffn_down;
} policy;

static void policy_init(policy *p, const qsrc *s, int ftype) {
    *p = (policy){.src = s, .ftype = ftype, .falcon = strcmp(s->arch, "falcon") == 0};
    /* LLM_TYPE_70B: an 80-layer llama with grouped-query attention */
    p->is_70b = strcmp(s->arch, "llama") == 0 && s->n_layer == 80 && s->n_head != s->n_head_kv;
    for (int i = 0; i < s->n; i++) {
        const char *name = s->t[i].name;
        if (strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight") || strstr(name, "attn_kv_b.weight"))
            p->n_attn_wv++;
        else if (strcmp(name, "output.weight") == 0)
            p->has_output = true;
    }
}

/* More bits for the first and last eighth of the layers and every third one between. */
static bool use_more_bits(int i, int64_t n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static attn_qtype attn_v_type(policy *p, attn_qtype t) {
    const int ft = p->ftype, i = p->i_attn_wv++;
    const int64_t gqa = p->src->n_head_kv > 0 ? p->src->n_head / p->src->n_head_kv : 1;
    if (ft == FT_Q2_K) t = gqa >= 4 ? ATTN_QT_Q4_K : ATTN_QT_Q3_K;
    else if (ft == FT_Q3_K_M) t = i < 2 ? ATTN_QT_Q5_K : ATTN_QT_Q4_K;
    else if (ft == FT_Q3_K_L) t = ATTN_QT_Q5_K;
    else if ((ft == FT_Q4_K_M || ft == FT_Q5_K_M) && use_more_bits(i, p->n_attn_wv)) t = ATTN_QT_Q6_K;
    else if (ft == FT_Q4_K_S && i < 4) t = ATTN_QT_Q5_K;
    /* 70B's 8 heads share each attn_v row block: more bits cost little there */
    if (p->is_70b && (t == ATTN_QT_Q3_K || t == ATTN_QT_Q4_K)) t = ATTN_QT_Q5_K;
    return t;
}

static attn_qtype ffn_down_type(policy *p, attn_qtype t) {
    const int ft = p->ftype, i = p->i_ffn_down++;
    const int64_t n = p->src->n_layer;
    if (ft == FT_Q2_K) t = ATTN_QT_Q3_K;
    else if (ft == FT_Q3_K_M)
        t = i < n / 16 ? ATTN_QT_Q5_K : !p->falcon || use_more_bits(i, n) ? ATTN_QT_Q4_K : ATTN_QT_Q3_K;
    else if (ft == FT_Q3_K_L) t = p->falcon ? ATTN_QT_Q4_K : ATTN_QT_Q5_K;
    else if (ft == FT_Q4_K_M && p->falcon)
        t = i < n / 16 ? ATTN_QT_Q6_K : use_more_bits(i, n) ? ATTN_QT_Q5_K : ATTN_QT_Q4_K;
    else if (ft == FT_Q4_K_M) t = use_more_bits(i, n) ? ATTN_QT_Q6_K : t;
    else if (ft == FT_Q5_K_M && use_more_bits(i, n)) t = ATTN_QT_Q6_K;
    else if (ft == FT_Q4_K_S && !p->falcon && i < n / 8) t = ATTN_QT_Q5_K;
    return t;
}

static attn_qtype attn_output_type(const policy *p, attn_qtype t) {
    const int ft = p->ftype;
    if (p->falcon) return ft == FT_Q3_K_L ? ATTN_QT_Q4_K : t;
    if (ft == FT_Q2_K) return ATTN_QT_Q3_K;
    if (ft == FT_Q3_K_M) return ATTN_QT_Q4_K;
    if (ft == FT_Q3_K_L) return ATTN_QT_Q5_K;
    return t;
}

static attn_qtype attn_qkv_type(const policy *p, attn_qtype t) {
    const int ft = p->ftype;
    if (ft == FT_Q3_K_M || ft == FT_Q3_K_L) return ATTN_QT_Q4_K;
    if (ft == FT_Q4_K_M) return ATTN_QT_Q5_K;
    if (ft == FT_Q5_K_M) return ATTN_QT_Q6_K;
    return t;
}

/* llama_tensor_get_type, before its row-length fallback. Tensors must come in output order
 * (the attn_v and ffn_down counters follow it). */
static attn_qtype policy_type(policy *p, const qsrc_tensor *t, attn_qtype base) {
    const char *name = t->name;
    if (strcmp(name, "output.weight") == 0 || (!p->has_output && strcmp(name, "token_embd.weight") == 0)) {
        if (p->falcon || t->ne[0] % ATTN_QK_K != 0) return ATTN_QT_Q8_0;
        return base != ATTN_QT_Q8_0 ? ATTN_QT_Q6_K : base;
    }
    if (strcmp(name, "token_embd.weight") == 0) return base;
    if (strstr(name, "attn_v.weight")) return attn_v_type(p, base);
    if (strstr(name, "ffn_down")) return ffn_down_type(p, base);
    if (strstr(name, "attn_output.weight")) return attn_output_type(p, base);
    if (strstr(name, "attn_qkv.weight")) return attn_qkv_type(p, base);
    return base;
}

/* A type whose block does not divide the row length is replaced as llama.cpp does; *note
 * says what happened. */
static attn_qtype fit_rows(attn_qtype t, int64_t ne0, char *note, size_t cap) {
    const attn_qtype asked = t;
    if (ne0 % attn_qtype_get((int)t)->block == 0) return t;
    switch (t) {
    case ATTN_QT_Q2_K:
    case ATTN_QT_Q3_K: t = ATTN_QT_Q4_0; break; /* llama.cpp: IQ4_NL, which attn cannot write */
    case ATTN_QT_Q4_K: t = ATTN_QT_Q5_0; break;
    case ATTN_QT_Q5_K: t = ATTN_QT_Q5_1; break;
    case ATTN_QT_Q6_K: t = ATTN_QT_Q8_0; break;
    default: t = ATTN_QT_F16; break;
    }
    if (ne0 % attn_qtype_get((int)t)->block != 0) t = ATTN_QT_F16;
    snprintf(note, cap, "rows of %lld are not whole %s blocks of %d: %s instead%s", (long long)ne0,
             attn_qtype_name((int)asked), attn_qtype_get((int)asked)->block, attn_qtype_name((int)t),
             asked == ATTN_QT_Q2_K || asked == ATTN_QT_Q3_K ? " (llama.cpp would write iq4_nl)" : "");
    return t;
}

static attn_qtype target_type(policy *p, const qsrc_tensor *t, const attn_quant_params *prm, char *note,
                              size_t cap) {
    note[0] = 0;
    if (!convertible(t)) return t->type;
    attn_qtype to = prm->ftype->base;
    if (!prm->pure && is_block_type(to)) to = policy_type(p, t, to);
    return fit_rows(to, t->ne[0], note, cap);
}

/* ---- the GGUF input ---------------------------------------------------------------- */

static int gguf_put_meta(const qsrc *s, attn_gguf_writer *w) {
    const attn_gguf *g = s->impl;
    for (int i = 0; i < attn_gguf_kv_count(g); i++) {
        const char *key = attn_gguf_kv_key(g, i);
        if (strcmp(key, "general.file_type") == 0 || strcmp(key, "general.quantization_version") == 0) continue;
        if (attn_gguf_set_value(w, key, attn_gguf_kv_value(g, i)) != 0) return -1;
    }
    return 0;
}

static int gguf_to_f32(const qsrc *s, int i, float *dst) {
    const attn_gguf *g = s->impl;
    return attn_gguf_dequantize(g, attn_gguf_find_tensor(g, s->t[i].name), dst);
}

static void gguf_close(qsrc *s) {
    attn_gguf_close(s->impl);
    free(s->t);
    free(s);
}

/* "<arch>.<key>" as an integer, `def` when absent. */
static int arch_int(const attn_gguf *g, const char *arch, const char *key, int64_t def, int64_t *out) {
    char full[96];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    *out = def;
    return attn_gguf_find(g, full) ? attn_gguf_get_int(g, full, out) : 0;
}

static int gguf_hparams(qsrc *s, const attn_gguf *g) {
    const char *arch = "";
    if (attn_gguf_find(g, "general.architecture") && attn_gguf_get_str(g, "general.architecture", &arch, NULL))
        return -1;
    snprintf(s->arch, sizeof s->arch, "%s", arch);
    if (arch_int(g, arch, "block_count", 0, &s->n_layer) || arch_int(g, arch, "attention.head_count", 0, &s->n_head) ||
        arch_int(g, arch, "attention.head_count_kv", s->n_head, &s->n_head_kv) ||
        arch_int(g, arch, "expert_count", 0, &s->n_expert))
        return -1;
    if (s->n_expert > 1)
        return attn_error("%s: a mixture-of-experts model (%s.expert_count = %lld) is not supported", s->path, arch,
                          (long long)s->n_expert);
    return 0;
}

static qsrc *qsrc_open_gguf(const char *path) {
    attn_gguf *g = attn_gguf_open(path);
    qsrc *s = g ? calloc(1, sizeof *s) : NULL;
    int n = g ? attn_gguf_tensor_count(g) : 0;
    if (s) s->t = calloc((size_t)n + 1, sizeof *s->t);
    if (g && (!s || !s->t)) {
        attn_error("out of memory reading %s", path);
        free(s);
        attn_gguf_close(g);
        return NULL;
    }
    if (!g) return NULL;
    *s = (qsrc){.path = attn_gguf_path(g), .t = s->t, .n = n, .put_meta = gguf_put_meta, .to_f32 = gguf_to_f32,
                .close = gguf_close, .impl = g};
    for (int i = 0; i < n; i++) {
        const attn_gguf_tensor *t = attn_gguf_tensor_at(g, i);
        qsrc_tensor *q = &s->t[i];
        snprintf(q->name, sizeof q->name, "%s", t->name);
        if (strlen(t->name) > ATTN_GGUF_MAX_NAME) {
            attn_error("%s: tensor name '%s' is longer than %d bytes", path, t->name, ATTN_GGUF_MAX_NAME);
            gguf_close(s);
            return NULL;
        }
        q->n_dims = t->n_dims, q->n_elements = t->n_elements, q->type = t->type, q->raw = t->data;
        q->nbytes = t->nbytes;
        memcpy(q->ne, t->ne, sizeof q->ne);
    }
    if (gguf_hparams(s, g) != 0) {
        gguf_close(s);
        return NULL;
    }
    return s;
}

/* ---- the driver -------------------------------------------------------------------- */

/* llama.cpp's loader order: tensors outside the layers first, then layer by layer; by name
 * within each. */
static int tensor_layer(const char *name) {
    int layer = -1;
    if (strncmp(name, "blk.", 4) == 0) layer = atoi(name + 4);
    return layer;
}

static int by_layer_then_name(const void *a, const void *b) {
    const qsrc_tensor *x = *(const qsrc_tensor *const *)a, *y = *(const qsrc_tensor *const *)b;
    int lx = tensor_layer(x->name), ly = tensor_layer(y->name);
    if (lx != ly) return lx < ly ? -1 : 1;
    return strcmp(x->name, y->name);
}

typedef struct {
    attn_qtype type;
    const float *src;
    uint8_t *dst;
    int64_t ne0;
    size_t row_bytes;
} quant_job;

static void quant_rows(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const quant_job *j = ctx;
    attn_quantize_row(j->type, j->src + begin * j->ne0, j->dst + (size_t)begin * j->row_bytes, (end - begin) * j->ne0);
}

/* The converted bytes of tensor i (malloc'd), through f32. */
static uint8_t *convert(const qsrc *s, int i, attn_qtype to, float *f32, size_t *nbytes) {
    const qsrc_tensor *t = &s->t[i];
    if (s->to_f32(s, i, f32) != 0) return NULL;
    const size_t row_bytes = attn_quant_row_bytes(to, t->ne[0]);
    *nbytes = row_bytes * (size_t)(t->n_elements / t->ne[0]);
    uint8_t *out = malloc(*nbytes + 1);
    if (!out) {
        attn_error("out of memory converting tensor '%s'", t->name);
        return NULL;
    }
    quant_job job = {.type = to, .src = f32, .dst = out, .ne0 = t->ne[0], .row_bytes = row_bytes};
    attn_parallel_for(t->n_elements / t->ne[0], 1, quant_rows, &job);
    return out;
}

typedef struct {
    qsrc *src;
    attn_gguf_writer *w;
    int *order;
    uint8_t **bufs;
    float *f32;
} run_state;

static void run_free(run_state *r) {
    for (int i = 0; r->bufs && r->src && i < r->src->n; i++) free(r->bufs[i]);
    free(r->bufs), free(r->order), free(r->f32);
    attn_gguf_writer_free(r->w);
    if (r->src) r->src->close(r->src);
}

static int run_alloc(run_state *r) {
    const qsrc *s = r->src;
    int64_t most = 1;
    for (int i = 0; i < s->n; i++) most = ATTN_MAX(most, s->t[i].n_elements);
    r->w = attn_gguf_writer_new();
    r->order = calloc((size_t)s->n + 1, sizeof *r->order);
    r->bufs = calloc((size_t)s->n + 1, sizeof *r->bufs);
    r->f32 = malloc((size_t)most * sizeof(float));
    if (!r->w || !r->order || !r->bufs || !r->f32) return attn_error("out of memory quantizing %s", s->path);
    const qsrc_tensor **sorted = calloc((size_t)s->n + 1, sizeof *sorted);
    if (!sorted) return attn_error("out of memory quantizing %s", s->path);
    for (int i = 0; i < s->n; i++) sorted[i] = &s->t[i];
    qsort(sorted, (size_t)s->n, sizeof *sorted, by_layer_then_name);
    for (int i = 0; i < s->n; i++) r->order[i] = (int)(sorted[i] - s->t);
    free(sorted);
    return 0;
}

/* Decides, converts (or references) and adds tensor order[k]. */
static int add_one(run_state *r, policy *pol, int k, const attn_quant_params *p, attn_quant_stats *st) {
    const qsrc *s = r->src;
    const int i = r->order[k];
    const qsrc_tensor *t = &s->t[i];
    if (t->ne[0] <= 0 || t->n_elements <= 0) /* its rows would have no values: a damaged file */
        return attn_error("%s: tensor '%s' has an empty shape [%lld, %lld, %lld, %lld]", s->path, t->name,
                          (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
    char note[200];
    const attn_qtype to = target_type(pol, t, p, note, sizeof note);
    const void *data = t->raw;
    size_t nbytes = t->nbytes;
    if (to != t->type || !t->raw) {
        if (!attn_qtype_get((int)t->type)->dequant)
            return attn_error("%s: tensor '%s' is %s, which attn cannot convert", s->path, t->name,
                              attn_qtype_name((int)t->type));
        if (!(data = r->bufs[i] = convert(s, i, to, r->f32, &nbytes))) return -1;
        st->n_converted += to != t->type;
    }
    st->n_fallback += note[0] != 0;
    st->bytes_in += t->nbytes, st->bytes_out += nbytes;
    if (attn_gguf_add_tensor(r->w, t->name, to, t->n_dims, t->ne, data) != 0) return -1;
    if (p->progress) {
        attn_quant_progress pr = {.index = k + 1, .count = s->n, .name = t->name, .n_dims = t->n_dims, .ne = t->ne,
                                  .from = t->type, .to = to, .bytes_in = t->nbytes, .bytes_out = nbytes,
                                  .note = note[0] ? note : NULL};
        p->progress(p->user, &pr);
    }
    return 0;
}

static bool is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int attn_quantize_model(const char *in, const char *out, const attn_quant_params *p, attn_quant_stats *stats) {
    attn_quant_stats local = {0};
    attn_quant_stats *st = stats ? stats : &local;
    *st = (attn_quant_stats){0};
    if (!in || !out || !p || !p->ftype) return attn_error("quantize: missing input, output or type");
    struct stat sb;
    if (stat(in, &sb) != 0) return attn_error("%s: cannot read: no such file or directory", in);
    if (attn_output_path_check(out) || attn_output_not_input(out, in)) return -1; /* before converting anything */
    if (p->vocab && !is_dir(in))
        return attn_error("%s: --vocab is for Hugging Face checkpoint folders; a GGUF keeps its own tokenizer", in);
    run_state r = {.src = is_dir(in) ? qsrc_open_hf(in, p->vocab) : qsrc_open_gguf(in)};
    if (!r.src) return -1;
    policy pol;
    policy_init(&pol, r.src, p->ftype->ftype);
    int rc = run_alloc(&r);
    if (rc == 0) rc = r.src->put_meta(r.src, r.w);
    if (rc == 0)
        rc = attn_gguf_set_u32(r.w, "general.quantization_version", 2) ||
             attn_gguf_set_u32(r.w, "general.file_type", (uint32_t)p->ftype->ftype);
    st->n_tensors = r.src->n;
    st->no_tokenizer = r.src->no_tokenizer;
    for (int k = 0; rc == 0 && k < r.src->n; k++) rc = add_one(&r, &pol, k, p, st);
    if (rc == 0) rc = attn_gguf_writer_write(r.w, out);
    run_free(&r);
    return rc ? -1 : 0;
}
