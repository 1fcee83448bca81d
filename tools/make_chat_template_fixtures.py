#!/usr/bin/env python3
"""make_chat_template_fixtures.py - renders conversations with the models' own Jinja chat
templates through transformers' renderer (the code behind apply_chat_template(tokenize=False):
a sandboxed Jinja environment with trim_blocks, lstrip_blocks and raise_exception), so
tests/test_chat_template.c can check that attn's C templates give the same text byte for byte.

    tools/make_chat_template_fixtures.py > tests/fixtures/chat_templates.json

The template strings are copied from each model's tokenizer_config.json "chat_template" (or,
for SmolLM2, its GGUF's tokenizer.chat_template, which is the same string); the source is named
beside each. No network: they are written here once. Where a template raises (roles that do
not alternate, a system message a template refuses), the case's "expected" is null and attn's
renderer must fail too. Tested with transformers 5.24.0, jinja2 3.1.6."""
import json
import sys

from transformers.utils.chat_template_utils import render_jinja_template

# (attn template, source model, bos_token, eos_token, Jinja source)
TEMPLATES = [
    ("chatml", "teknium/OpenHermes-2.5-Mistral-7B", "<s>", "<|im_end|>",
     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' "
     "+ '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"),
    # ChatML with a default system prompt when the conversation has none (HF repo and GGUF agree)
    ("chatml", "HuggingFaceTB/SmolLM2-135M-Instruct", "<|im_start|>", "<|im_end|>",
     "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
     "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
     "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"),
    ("llama2", "meta-llama/Llama-2-7b-chat-hf", "<s>", "</s>",
     "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
     "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
     "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
     "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
     "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + "
     "'\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
     "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
     "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"),
    ("llama3", "meta-llama/Meta-Llama-3-8B-Instruct", "<|begin_of_text|>", "<|eot_id|>",
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
     "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
     "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
     "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"),
    # The template Mistral put in the v0.2 repo in 2024 (system prompt joined to the first [INST])
    ("mistral", "mistralai/Mistral-7B-Instruct-v0.2", "<s>", "</s>",
     "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n"
     "    {%- set loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n"
     "{{- bos_token }}\n{%- for message in loop_messages %}\n"
     "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
     "        {{- raise_exception('After the optional system message, conversation roles must alternate "
     "user/assistant/user/assistant/...') }}\n    {%- endif %}\n    {%- if message['role'] == 'user' %}\n"
     "        {%- if loop.first and system_message is defined %}\n"
     "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n"
     "        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n        {%- endif %}\n"
     "    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + message['content'] + eos_token}}\n"
     "    {%- else %}\n        {{- raise_exception('Only user and assistant roles are supported, with the exception "
     "of an initial optional system message!') }}\n    {%- endif %}\n{%- endfor %}\n"),
    ("zephyr", "HuggingFaceH4/zephyr-7b-beta", "<s>", "</s>",
     "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
     "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
     "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n"
     "{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"),
    # Alpaca fine-tunes ship no template of their own; this is text-generation-webui's
    # instruction-templates/Alpaca.yaml (Stanford Alpaca's prompt, multi-turn)
    ("alpaca", "text-generation-webui Alpaca (tatsu-lab/stanford_alpaca prompt)", "<s>", "</s>",
     "{%- set ns = namespace(found=false) -%}\n{%- for message in messages -%}\n"
     "    {%- if message['role'] == 'system' -%}\n        {%- set ns.found = true -%}\n    {%- endif -%}\n"
     "{%- endfor -%}\n{%- if not ns.found -%}\n    {{- '' + 'Below is an instruction that describes a task. "
     "Write a response that appropriately completes the request.' + '\\n\\n' -}}\n{%- endif %}\n"
     "{%- for message in messages %}\n    {%- if message['role'] == 'system' -%}\n"
     "        {{- '' + message['content'] + '\\n\\n' -}}\n    {%- else -%}\n"
     "        {%- if message['role'] == 'user' -%}\n            {{-'### Instruction:\\n' + message['content'] + "
     "'\\n\\n'-}}\n        {%- else -%}\n            {{-'### Response:\\n' + message['content'] + '\\n\\n' -}}\n"
     "        {%- endif -%}\n    {%- endif -%}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n"
     "    {{-'### Response:\\n'-}}\n{%- endif -%}"),
    ("phi3", "microsoft/Phi-3.5-mini-instruct", "<s>", "<|endoftext|>",
     "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}{{'<|system|>\n' + "
     "message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + "
     "'<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}"
     "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}"
     "{% endif %}"),
]


def conv(*pairs):
    return [{"role": r, "content": c} for r, c in pairs]


# The system prompt a template inserts when the conversation has none (attn reads it out of the
# Jinja source: attn_chat_template_default_system)
DEFAULT_SYSTEM = {"HuggingFaceTB/SmolLM2-135M-Instruct": "You are a helpful AI assistant named SmolLM, trained by Hugging Face"}

SYS = ("system", "You are a helpful assistant.")
# Whitespace Python's str.strip() removes (and Jinja's trim): ASCII, NBSP, ideographic space...
PADDED = " \t\u00a0Hi there!\u3000\n "
CONVERSATIONS = [
    (conv(("user", "Hello")), True),
    (conv(("user", "Hello")), False),
    (conv(SYS, ("user", "What is 2+2?")), True),
    (conv(SYS, ("user", "Hi"), ("assistant", "Hello! How can I help?"), ("user", "Tell me a joke.")), True),
    (conv(("user", "One"), ("assistant", "1"), ("user", "Two"), ("assistant", "2"), ("user", "Three")), True),
    (conv(SYS, ("user", "Hi"), ("assistant", "Hello!")), False),
    (conv(("system", "Tu es un assistant 🤖 — réponds en français."), ("user", "Ça va ? 日本語で答えて。"),
          ("assistant", "  Très bien, merci !  "), ("user", "Et toi ?\n")), True),
    (conv(("user", PADDED), ("assistant", "\n  ok \u2003"), ("user", "  x")), True),
    (conv(("system", ""), ("user", "Empty system prompt")), True),
    (conv(("system", "Only a system prompt")), True),
    # errors in the templates that check the order
    (conv(("user", "a"), ("user", "b")), True),
    (conv(("assistant", "I speak first"), ("user", "ok")), True),
    (conv(("user", "a"), ("assistant", "b"), ("system", "late system"), ("user", "c")), True),
]


def render(jinja, bos, eos, messages, gen):
    try:
        out, _ = render_jinja_template([messages], chat_template=jinja, add_generation_prompt=gen,
                                       bos_token=bos, eos_token=eos)
        return out[0]
    except Exception as e:  # TemplateError from raise_exception, or Jinja's own errors
        return e


def main():
    fixture = {"note": "made by tools/make_chat_template_fixtures.py with transformers' Jinja renderer",
               "templates": []}
    for name, model, bos, eos, jinja in TEMPLATES:
        cases = []
        for messages, gen in CONVERSATIONS:
            out = render(jinja, bos, eos, messages, gen)
            case = {"messages": messages, "add_generation_prompt": gen,
                    "expected": None if isinstance(out, Exception) else out}
            if isinstance(out, Exception):
                case["error"] = str(out)
            cases.append(case)
        fixture["templates"].append({"name": name, "model": model, "bos_token": bos, "eos_token": eos,
                                     "jinja": jinja, "default_system": DEFAULT_SYSTEM.get(model), "cases": cases})
    json.dump(fixture, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
