// test_api_cxx.cpp - the public headers from C++ (what `extern "C"` promises): they compile as
// C++11 with warnings as errors, and the C symbols link and answer.
#include <attn/attn.h>
#include <cstdio>
#include <cstring>

int main() {
    int failures = 0;
    if (std::strcmp(attn_version(), ATTN_VERSION_STRING) != 0) failures++, std::puts("FAIL version");
    if (attn_model_load("tests/fixtures/no-such-model") != nullptr) failures++, std::puts("FAIL missing model loaded");
    if (std::strstr(attn_last_error(), "no-such-model") == nullptr) failures++, std::puts("FAIL error text");
    attn_sampler_params p;
    attn_sampler_defaults(&p);
    p.temperature = 0;
    attn_sampler *greedy = attn_sampler_new(&p, 4);
    float logits[4] = {0.0f, 3.0f, 1.0f, -1.0f};
    if (!greedy || attn_sampler_sample(greedy, logits) != 1) failures++, std::puts("FAIL greedy sample");
    attn_sampler_free(greedy);
    std::printf("test_api_cxx: 4 checks, %d failed\n", failures);
    return failures ? 1 : 0;
}
