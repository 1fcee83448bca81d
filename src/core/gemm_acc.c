/* gemm_acc.c - the accumulating products of backward passes, as attn_gemm_run calls. */
#include "gemm_acc.h"

#include "gemm.h"

int attn_matmul_acc(float *y, const float *x, int64_t M, const attn_weight *w) {
    attn_gemm g = {.c = y, .M = M, .N = w->n_out, .K = w->n_in, .a = x, .lda = w->n_in, .b = w};
    return attn_gemm_run(&g);
}

int attn_matmul_tn(float *c, const float *a, const float *b, int64_t M, int64_t R, int64_t N, bool add) {
    attn_weight bw = {.data = b, .dtype = ATTN_F32, .n_in = M, .n_out = N, .in_major = true};
    attn_gemm g = {.c = c, .M = R, .N = N, .K = M, .a = a, .lda = R, .a_trans = true, .b = &bw, .overwrite = !add};
    return attn_gemm_run(&g);
}
