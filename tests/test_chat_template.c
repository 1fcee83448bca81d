/* test_chat_template.c - attn's chat templates against the models' own Jinja templates:
 * tests/fixtures/chat_templates.json (tools/make_chat_template_fixtures.py) holds conversations
 * rendered by transformers; every one must come out byte for byte the same (or fail where the
 * Jinja raised). detect() must recognise each fixture's Jinja source, variants of it, and
 * SmolLM2's from its GGUF when $ATTN_SMOLLM2_GGUF is set; it must refuse templates it has no
 * C version of. A model keeps its checkpoint's template (GGUF metadata, HF files beside the
 * weights) in attn_model_info.chat_template. */
#include <jansson.h>
#include <unistd.h>
#include "test.h"
#include <attn/chat.h>
#include "core/common.h"
#include "format/fileio.h"
#include "format/gguf.h"
#include "model/gpt2_init.h"
#include "model/model.h"

#define FIXTURE "tests/fixtures/chat_templates.json"

/* Renders one fixture case; a template with a default system prompt gets it first, as the
 * Jinja inserts it when the conversation has none. */
static char *render_case(const attn_chat_template *t, const char *default_system, json_t *messages, bool gen) {
    size_t n = json_array_size(messages);
    attn_chat_message *msgs = calloc(n + 1, sizeof *msgs);
    int k = 0;
    const char *first_role = n ? json_string_value(json_object_get(json_array_get(messages, 0), "role")) : "";
    if (default_system && strcmp(first_role, "system") != 0) msgs[k++] = (attn_chat_message){"system", default_system};
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(messages, i);
        msgs[k++] = (attn_chat_message){json_string_value(json_object_get(m, "role")),
                                        json_string_value(json_object_get(m, "content"))};
    }
    char *out = attn_chat_render(t, msgs, k, gen);
    free(msgs);
    return out;
}

static void check_template(json_t *entry) {
    const char *name = json_string_value(json_object_get(entry, "name"));
    const char *model = json_string_value(json_object_get(entry, "model"));
    const char *jinja = json_string_value(json_object_get(entry, "jinja"));
    const char *want_default = json_string_value(json_object_get(entry, "default_system"));
    const attn_chat_template *t = attn_chat_template_by_name(name);
    CHECK(t != NULL, "no template '%s'", name);
    if (!t) return;
    CHECK(attn_chat_template_detect(jinja) == t, "%s's template detected as %s", model,
          attn_chat_template_detect(jinja) ? attn_chat_template_name(attn_chat_template_detect(jinja)) : "nothing");
    char *default_system = attn_chat_template_default_system(t, jinja);
    CHECK(want_default ? default_system && strcmp(default_system, want_default) == 0 : default_system == NULL,
          "%s: default system prompt '%s', want '%s'", model, default_system ? default_system : "(none)",
          want_default ? want_default : "(none)");
    json_t *cases = json_object_get(entry, "cases");
    for (size_t i = 0; i < json_array_size(cases); i++) {
        json_t *c = json_array_get(cases, i);
        const char *expected = json_string_value(json_object_get(c, "expected"));
        char *got = render_case(t, default_system, json_object_get(c, "messages"),
                                json_is_true(json_object_get(c, "add_generation_prompt")));
        if (expected)
            CHECK(got && strcmp(got, expected) == 0, "%s case %zu:\n got  [%s]\n want [%s]%s%s", model, i,
                  got ? got : "NULL", expected, got ? "" : "\n error: ", got ? "" : attn_last_error());
        else
            CHECK(!got && attn_last_error()[0], "%s case %zu: Jinja raised (%s) but attn rendered [%s]", model, i,
                  json_string_value(json_object_get(c, "error")), got ? got : "");
        free(got);
    }
    free(default_system);
}

/* Templates of the same families written differently, and ones attn has no C version of. */
static void test_detect_variants(void) {
    static const struct {
        const char *jinja, *want;
    } cases[] = {
        /* Qwen2.5-style ChatML with its own default system prompt and a tools branch */
        {"{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
         "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a "
         "helpful assistant.<|im_end|>\\n' }}{%- endif %}",
         "chatml"},
        /* Mistral-7B-Instruct-v0.1: no system prompt, no leading space before [INST] */
        {"{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
         "message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token "
         "+ ' ' }}{% endif %}{% endfor %}",
         "mistral"},
        /* Llama 3.1's header format, spelled with double quotes */
        {"{{- \"<|start_header_id|>\" + message['role'] + \"<|end_header_id|>\\n\\n\" }}", "llama3"},
        /* Phi-3-mini's first template: the assistant header after every user turn */
        {"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\\n' + "
         "message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}{% endif %}{% endfor %}",
         "phi3"},
        /* Gemma and phi-4 (ChatML tokens, another layout): no C version, so nothing */
        {"{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}", NULL},
        {"{{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|>'}}", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const attn_chat_template *t = attn_chat_template_detect(cases[i].jinja);
        const char *got = t ? attn_chat_template_name(t) : NULL;
        CHECK(cases[i].want ? got && strcmp(got, cases[i].want) == 0 : got == NULL, "variant %zu detected as %s",
              i, got ? got : "nothing");
    }
    CHECK(attn_chat_template_detect(NULL) == NULL, "NULL source");
    char *qwen = attn_chat_template_default_system(attn_chat_template_by_name("chatml"), cases[0].jinja);
    CHECK(qwen && strcmp(qwen, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.") == 0,
          "Qwen's default system prompt: %s", qwen ? qwen : "(none)");
    free(qwen);
}

/* Every name in names() is a template, with a stop string; bad input fails with a message. */
static void test_names_and_errors(void) {
    const char *names = attn_chat_template_names();
    int count = 0;
    for (const char *p = names; *p;) {
        size_t len = strcspn(p, ", ");
        char name[32] = {0};
        memcpy(name, p, len < sizeof name ? len : sizeof name - 1);
        const attn_chat_template *t = attn_chat_template_by_name(name);
        CHECK(t && strcmp(attn_chat_template_name(t), name) == 0, "'%s' from names() is not a template", name);
        int n_stops = 0;
        const char *const *stops = t ? attn_chat_template_stops(t, &n_stops) : NULL;
        CHECK(n_stops >= 1 && stops[0][0], "%s has no stop string", name);
        count++;
        p += len;
        p += strspn(p, ", ");
    }
    CHECK(count == 7, "names() lists %d templates", count);
    CHECK(attn_chat_template_by_name("gemma") == NULL && attn_chat_template_by_name(NULL) == NULL, "unknown name");

    const attn_chat_template *chatml = attn_chat_template_by_name("chatml");
    attn_chat_message tool[] = {{"user", "hi"}, {"tool", "42"}};
    attn_clear_error();
    CHECK(attn_chat_render(chatml, tool, 2, true) == NULL && strstr(attn_last_error(), "unknown role"),
          "a 'tool' role: %s", attn_last_error());
    CHECK(attn_chat_render(chatml, tool, 0, true) == NULL && strstr(attn_last_error(), "no messages"),
          "no messages: %s", attn_last_error());
    attn_chat_message no_content[] = {{"user", NULL}};
    CHECK(attn_chat_render(chatml, no_content, 1, true) == NULL, "a message without content");
    attn_chat_message order[] = {{"user", "a"}, {"user", "b"}};
    CHECK(attn_chat_render(attn_chat_template_by_name("llama2"), order, 2, true) == NULL &&
              strstr(attn_last_error(), "alternate"),
          "llama2 order: %s", attn_last_error());
}

/* The real model's template, read from its GGUF: the fixture holds the same string. */
static void test_smollm2_gguf(const char *path, json_t *fixture) {
    attn_gguf *g = attn_gguf_open(path);
    CHECK(g != NULL, "%s: %s", path, attn_last_error());
    const char *jinja = NULL;
    if (!g || attn_gguf_get_str(g, "tokenizer.chat_template", &jinja, NULL) != 0) {
        CHECK(0, "no tokenizer.chat_template: %s", attn_last_error());
        attn_gguf_close(g);
        return;
    }
    const attn_chat_template *t = attn_chat_template_detect(jinja);
    CHECK(t && strcmp(attn_chat_template_name(t), "chatml") == 0, "SmolLM2's template detected as %s",
          t ? attn_chat_template_name(t) : "nothing");
    json_t *entries = json_object_get(fixture, "templates");
    bool in_fixture = false;
    for (size_t i = 0; i < json_array_size(entries); i++)
        in_fixture |= strcmp(json_string_value(json_object_get(json_array_get(entries, i), "jinja")), jinja) == 0;
    CHECK(in_fixture, "SmolLM2's GGUF template is not the fixture's copy");
    attn_model *m = attn_model_load(path);
    CHECK(m && attn_model_get_info(m)->chat_template &&
              strcmp(attn_model_get_info(m)->chat_template, jinja) == 0,
          "the model's info.chat_template is not the GGUF's");
    attn_model_free(m);
    attn_gguf_close(g);
}

static const char *model_template(const char *dir) {
    static char copy[256];
    attn_model *m = attn_model_load(dir);
    CHECK(m != NULL, "%s: %s", dir, attn_last_error());
    const char *t = m ? attn_model_get_info(m)->chat_template : NULL;
    snprintf(copy, sizeof copy, "%s", t ? t : "(none)");
    attn_model_free(m);
    return copy;
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(attn_write_file_atomic(path, text, strlen(text)) == 0, "%s: %s", path, attn_last_error());
}

/* HF checkpoints: chat_template.jinja first, else tokenizer_config.json's string or the
 * "default" of its list of named templates. */
static void test_hf_checkpoint_template(void) {
    char dir[200];
    snprintf(dir, sizeof dir, "/tmp/attn-test-chat-template-%d", (int)getpid());
    attn_gpt2_config cfg;
    attn_gpt2_config_defaults(&cfg);
    cfg.n_layer = 1, cfg.n_head = 2, cfg.n_embd = 8, cfg.n_ctx = 16, cfg.vocab = 32, cfg.dtype = ATTN_F32;
    CHECK(attn_gpt2_write_random(dir, &cfg, 1) == 0, "%s", attn_last_error());
    CHECK(strcmp(model_template(dir), "(none)") == 0, "no template files, yet '%s'", model_template(dir));
    write_text(dir, "tokenizer_config.json", "{\"eos_token\": \"x\", \"chat_template\": \"{{ 'plain' }}\"}");
    CHECK(strcmp(model_template(dir), "{{ 'plain' }}") == 0, "string form: %s", model_template(dir));
    write_text(dir, "tokenizer_config.json",
               "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}, "
               "{\"name\": \"default\", \"template\": \"D\"}]}");
    CHECK(strcmp(model_template(dir), "D") == 0, "list form: %s", model_template(dir));
    write_text(dir, "chat_template.jinja", "{{ 'from the jinja file' }}\n");
    CHECK(strcmp(model_template(dir), "{{ 'from the jinja file' }}\n") == 0, "jinja file: %s", model_template(dir));
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

int main(void) {
    json_error_t err;
    json_t *fixture = json_load_file(FIXTURE, 0, &err);
    CHECK(fixture != NULL, "%s: %s", FIXTURE, err.text);
    if (!fixture) return test_finish("test_chat_template");
    json_t *entries = json_object_get(fixture, "templates");
    CHECK(json_array_size(entries) >= 8, "fixture has %zu templates", json_array_size(entries));
    for (size_t i = 0; i < json_array_size(entries); i++) check_template(json_array_get(entries, i));
    test_detect_variants();
    test_names_and_errors();
    test_hf_checkpoint_template();
    const char *gguf = getenv("ATTN_SMOLLM2_GGUF");
    if (gguf && *gguf) test_smollm2_gguf(gguf, fixture);
    else printf("note: ATTN_SMOLLM2_GGUF unset, SmolLM2's GGUF template not checked\n");
    json_decref(fixture);
    return test_finish("test_chat_template");
}
