/* attn/chat.h - chat templates: a conversation (system, user and assistant messages) turned into
 * the one text a chat model was trained on, exactly as the model's own Jinja template renders
 * it through Hugging Face's apply_chat_template(tokenize=False): the same system prompt
 * handling, BOS/EOS text, spacing and newlines (checked case by case against transformers by
 * tests/test_chat_template.c). attn does not run Jinja: each known template is written in C, and
 * attn_chat_template_detect() recognises a model's Jinja source by its markers.
 *
 * Templates (name: the model whose template it reproduces):
 *   chatml  teknium/OpenHermes-2.5-Mistral-7B (also SmolLM2, Qwen: see default_system below)
 *   llama2  meta-llama/Llama-2-7b-chat-hf     llama3  meta-llama/Meta-Llama-3-8B-Instruct
 *   mistral mistralai/Mistral-7B-Instruct-v0.2 (2024 template, system prompt in the first [INST])
 *   zephyr  HuggingFaceH4/zephyr-7b-beta      phi3    microsoft/Phi-3.5-mini-instruct
 *   alpaca  Stanford Alpaca's prompt as text-generation-webui's multi-turn template writes it
 * BOS and EOS appear as text ("<s>", "<|begin_of_text|>"): encode the result with
 * parse_special so they become their tokens. */
#ifndef ATTN_PUBLIC_CHAT_H
#define ATTN_PUBLIC_CHAT_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content; /* NUL-terminated UTF-8 */
} attn_chat_message;

typedef struct attn_chat_template attn_chat_template;

/* A template by its name ("chatml"...); NULL if unknown (no error set). */
const attn_chat_template *attn_chat_template_by_name(const char *name);
/* Recognises a model's Jinja chat template (GGUF tokenizer.chat_template, tokenizer_config.json
 * "chat_template") by the markers its family writes (<|im_start|>, [INST] and <<SYS>>...), so
 * variants in spacing or extra branches are still recognised. NULL when none fits (or jinja is
 * NULL). */
const attn_chat_template *attn_chat_template_detect(const char *jinja);
const char *attn_chat_template_name(const attn_chat_template *t);
/* "chatml, llama2, ..." for --help and error messages. */
const char *attn_chat_template_names(void);

/* The whole conversation as the model sees it; add_assistant appends what opens the assistant's
 * answer (the generation prompt). Malloc'd, NUL-terminated. NULL with attn_error when there are
 * no messages, a role is not one of the three, or the model's template refuses the order (llama2
 * and mistral want user/assistant turns alternating after an optional first system message). */
char *attn_chat_render(const attn_chat_template *t, const attn_chat_message *msgs, int n, bool add_assistant);

/* Strings that end an assistant turn (e.g. "<|im_end|>"), to stop generation on; *n gets the
 * count. Valid for the life of the program. */
const char *const *attn_chat_template_stops(const attn_chat_template *t, int *n);

/* The system prompt a model's Jinja template inserts when the conversation has none (SmolLM2:
 * "You are a helpful AI assistant named SmolLM, trained by Hugging Face"), found as a string
 * literal holding this template's whole system turn; malloc'd, or NULL when there is none. A
 * caller that wants the model's own rendering starts the conversation with it. */
char *attn_chat_template_default_system(const attn_chat_template *t, const char *jinja);

#ifdef __cplusplus
}
#endif

#endif
