"""Writes test/unit/Frontend/Inputs/chat_templates.json, the reference of
ChatTemplateTest: chat templates of real model families (copied from the
tokenizer_config.json files their vendors publish; SOURCES names each one's
model repository and licence, and says which is an excerpt) rendered over
a set of conversations, and small templates that pin down one Jinja rule
each, all rendered by jinja2 in transformers' own environment
(transformers.utils.chat_template_utils: ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks and loopcontrols, its raise_exception, tojson,
strftime_now and namespace). The C++ renderer must reproduce every text
byte for byte, and fail where jinja2 fails with an error of the same
category (ERROR_CATEGORIES: the exception's type).

strftime_now is pinned to 2025-03-14 15:09:26 (the test gives the renderer
the same time). Dicts keep the order they are written in here: the
fixture holds each case's messages and variables as JSON text
("messages_json", "variables_json"), which the C++ side reads in order
(ChatTemplate::renderJson), as transformers passes them.

usage: bench/.venv-hf/bin/python bench/conformance/make_chat_fixtures.py
       [OUT.json]   (jinja2 >= 3.1.6 and transformers 5)
"""
import datetime as _dt
import json
import os
import sys

import jinja2
from transformers.utils import chat_template_utils as ctu

NOW = _dt.datetime(2025, 3, 14, 15, 9, 26)


class _FixedDatetime:
    @staticmethod
    def now():
        return NOW


ctu.datetime = _FixedDatetime  # strftime_now reads the module's datetime

# ---------------------------------------------------------------------------
# Templates of real model families.
# ---------------------------------------------------------------------------

TEMPLATES = {}

# Where each template comes from and under which licence its model (and so
# the template text) is published; the texts below are copied from those
# tokenizer_config.json files (as of the models' releases) for testing
# only. "excerpt" marks a template that is not the whole published text.
SOURCES = {
    "chatml": {"source": "ChatML as fine-tunes ship it, e.g. teknium/OpenHermes-2.5-Mistral-7B",
               "license": "Apache-2.0"},
    "qwen2.5": {"source": "Qwen/Qwen2.5-7B-Instruct", "license": "Apache-2.0"},
    "llama3.1": {"source": "meta-llama/Llama-3.1-8B-Instruct",
                 "license": "Llama 3.1 Community License Agreement"},
    "llama3.2-excerpt": {"source": "meta-llama/Llama-3.2-1B-Instruct",
                         "license": "Llama 3.2 Community License Agreement",
                         "excerpt": "the date logic and the message loop only; "
                                    "the published template also has Llama 3.1's tool branches"},
    "llama2": {"source": "meta-llama/Llama-2-7b-chat-hf",
               "license": "Llama 2 Community License Agreement"},
    "gemma2": {"source": "google/gemma-2-2b-it", "license": "Gemma Terms of Use"},
    "gemma3": {"source": "google/gemma-3-1b-it", "license": "Gemma Terms of Use"},
    "mistral-v3": {"source": "mistralai/Mistral-7B-Instruct-v0.3", "license": "Apache-2.0"},
    "phi3": {"source": "microsoft/Phi-3-mini-4k-instruct", "license": "MIT"},
    "phi3.5": {"source": "microsoft/Phi-3.5-mini-instruct", "license": "MIT"},
    "zephyr": {"source": "HuggingFaceH4/zephyr-7b-beta", "license": "MIT"},
    "deepseek-r1": {"source": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", "license": "MIT"},
}

# ChatML as many fine-tunes ship it (OpenHermes, Dolphin, ...).
TEMPLATES["chatml"] = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}")

# Qwen2.5 Instruct, with its tool branch.
TEMPLATES["qwen2.5"] = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

# Llama 3.1 Instruct (builtin and custom tools, the fixed date).
TEMPLATES["llama3.1"] = r"""{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

# An excerpt of Llama 3.2 Instruct's template (SOURCES): its date logic,
# strftime_now when the environment has it (transformers does), and its
# message loop, without the tool branches it shares with Llama 3.1.
TEMPLATES["llama3.2-excerpt"] = r"""{{- bos_token }}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{{- system_message }}
{{- "<|eot_id|>" }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""

# Llama 2 chat: <<SYS>> in the first user turn, alternation checks.
TEMPLATES["llama2"] = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}")

# Gemma 2: no system role, strict alternation.
TEMPLATES["gemma2"] = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}"
    "{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + "
    "'<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}")

# Gemma 3: the system text joins the first user turn; content may be a
# list of typed parts.
TEMPLATES["gemma3"] = r"""{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
"""

# Mistral 7B Instruct v0.3: [INST], tools, tool-call id checks.
TEMPLATES["mistral-v3"] = r"""{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""

# Phi-3 mini 4k: system turns ignored, every user turn opens the reply.
TEMPLATES["phi3"] = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}"
    "{{'<|user|>' + '\n' + message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}"
    "{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\n'}}{% endif %}"
    "{% endfor %}")

# Phi-3.5 / Phi-3 medium: system turns and the generation prompt.
TEMPLATES["phi3.5"] = (
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
    "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}")

# Zephyr: one tag per line, where trim_blocks and lstrip_blocks decide the
# newlines.
TEMPLATES["zephyr"] = """{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>\\n' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>\\n' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>\\n'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}"""

# DeepSeek-R1 distills: a namespace of flags, the reasoning cut from
# earlier assistant turns.
TEMPLATES["deepseek-r1"] = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{% set ns.system_prompt = message['content'] %}{%- endif %}{%- endfor %}{{bos_token}}{{ns.system_prompt}}"
    "{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
    "{{'<\uff5cUser\uff5c>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}"
    "{%- if ns.is_tool %}{{'<\uff5ctool\u2581outputs\u2581end\uff5c>' + message['content'] + "
    "'<\uff5cend\u2581of\u2581sentence\uff5c>'}}{%- set ns.is_tool = false -%}{%- else %}"
    "{% set content = message['content'] %}{% if '</think>' in content %}"
    "{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<\uff5cAssistant\uff5c>' + content + '<\uff5cend\u2581of\u2581sentence\uff5c>'}}{%- endif %}{%- endif %}"
    "{%- endfor -%}{% if add_generation_prompt and not ns.is_tool %}{{'<\uff5cAssistant\uff5c><think>\\n'}}{% endif %}")

# ---------------------------------------------------------------------------
# Conversations.
# ---------------------------------------------------------------------------

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
USER = {"role": "user", "content": "Hello, how are you?"}
ASSISTANT = {"role": "assistant", "content": "I'm doing great. How can I help you today?"}
USER2 = {"role": "user", "content": "  Write a haiku about \"quotes\" & <tags>.\n"}
UNICODE = {"role": "user", "content": "Caf\u00e9 \u4e2d\u6587 \U0001f600 \u00fcber\ttab \\ backslash"}

CONVERSATIONS = {
    "user": [USER],
    "system+user": [SYSTEM, USER],
    "multi-turn": [SYSTEM, USER, ASSISTANT, USER2],
    "no-system-multi-turn": [USER, ASSISTANT, USER2],
    "unicode": [SYSTEM, UNICODE],
    "ends-with-assistant": [USER, ASSISTANT],
    "double-user": [USER, USER2],
    "reasoning": [USER, {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nFine."}, USER2],
}

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city"}},
                   "required": ["city"]}}}]
TOOL_CALL = {"role": "assistant", "content": "",
             "tool_calls": [{"id": "call12345", "type": "function",
                             "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]}
TOOL_RESULT = {"role": "tool", "content": "{\"temperature\": 21}", "tool_call_id": "call12345"}

GEMMA_PARTS = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " Describe it. "}]}]

SPECIAL = {
    "chatml": {"bos_token": "<s>", "eos_token": "<|im_end|>"},
    "qwen2.5": {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    "llama3.1": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama3.2-excerpt": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "llama2": {"bos_token": "<s>", "eos_token": "</s>"},
    "gemma2": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "gemma3": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "mistral-v3": {"bos_token": "<s>", "eos_token": "</s>"},
    "phi3": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "phi3.5": {"bos_token": "<s>", "eos_token": "<|endoftext|>"},
    "zephyr": {"bos_token": "<s>", "eos_token": "</s>"},
    "deepseek-r1": {"bos_token": "<\uff5cbegin\u2581of\u2581sentence\uff5c>",
                    "eos_token": "<\uff5cend\u2581of\u2581sentence\uff5c>"},
}

# Extra cases: (template, name, messages, extra variables).
EXTRA_CASES = [
    ("qwen2.5", "tools", [USER], {"tools": TOOLS}),
    ("qwen2.5", "tool-call-and-result", [SYSTEM, USER, TOOL_CALL, TOOL_RESULT, TOOL_RESULT], {"tools": TOOLS}),
    ("llama3.1", "custom-tools", [SYSTEM, USER], {"tools": TOOLS}),
    ("llama3.1", "tools-in-system", [SYSTEM, USER], {"tools": TOOLS, "tools_in_user_message": False}),
    ("llama3.1", "tool-call", [USER, TOOL_CALL, TOOL_RESULT], {}),
    ("llama3.1", "builtin-tools", [USER, {"role": "assistant", "content": "",
                                          "tool_calls": [{"function": {"name": "brave_search",
                                                                       "arguments": {"query": "tok"}}}]}],
     {"builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"]}),
    ("llama3.1", "no-user-for-tools", [SYSTEM], {"tools": TOOLS}),
    ("llama3.1", "date-string", [USER], {"date_string": "01 Jan 2030"}),
    ("mistral-v3", "tools", [SYSTEM, USER, TOOL_CALL, TOOL_RESULT, ASSISTANT, USER2], {"tools": TOOLS}),
    ("mistral-v3", "bad-tool-id", [USER, {"role": "assistant", "tool_calls": [
        {"id": "short", "function": {"name": "f", "arguments": {}}}]}], {}),
    ("gemma3", "content-parts", GEMMA_PARTS, {}),
]

# ---------------------------------------------------------------------------
# Small templates, one rule each: (name, source, variables).
# ---------------------------------------------------------------------------

SNIPPETS = [
    ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nafter", {}),
    ("lstrip_blocks", "a\n    {% if true %}\n    b\n    {% endif %}\nc", {}),
    ("lstrip_not_for_output", "a\n    {{ 'x' }}\nb", {}),
    ("lstrip_comment", "a\n  {# note #}\nb", {}),
    ("plus_disables_lstrip", "a\n  {%+ if true %}b{% endif %}", {}),
    ("plus_disables_trim", "{% if true +%}\nb{% endif %}", {}),
    ("minus_strips", "a  \n  {%- if true -%}  \n  b  {{- ' c ' -}}  \n d{% endif %}", {}),
    ("comment_minus", "a   {#- c -#}   b", {}),
    ("trailing_newline", "x\n", {}),
    ("crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", {}),
    ("raw", "{% raw %}{{ not evaluated }}{% endraw %}", {}),
    ("raw_strip", "a {%- raw -%}  {{ x }}  {%- endraw -%} b", {}),
    ("for_loop_vars", "{% for x in items %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}"
                      "{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}|{% endfor %}", {"items": ["a", "b", "c"]}),
    ("loop_prev_next", "{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }};{% endfor %}", {}),
    ("for_else", "{% for x in [] %}x{% else %}empty{% endfor %}", {}),
    ("for_filter", "{% for x in range(10) if x % 3 == 0 %}{{ x }}{{ loop.length }} {% endfor %}", {}),
    ("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", {"d": {"a": 1, "b": [1, 2]}}),
    ("for_dict_keys", "{% for k in d %}{{ k }}{% endfor %}", {"d": {"x": 1, "y": 2}}),
    ("for_string", "{% for c in 'h\u00e9!' %}[{{ c }}]{% endfor %}", {}),
    ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}"
                       "{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}", {}),
    ("loop_scope", "{% set x = 'top' %}{% for i in [1, 2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}", {}),
    ("if_scope", "{% if true %}{% set y = 5 %}{% endif %}{{ y }}", {}),
    ("namespace", "{% set ns = namespace(found=false, n=0) %}{% for m in [1, 2, 3] %}"
                  "{% if m == 2 %}{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + m %}{% endfor %}"
                  "{{ ns.found }} {{ ns.n }}", {}),
    ("set_block", "{% set greeting %}Hello {{ name }}!{% endset %}[{{ greeting | upper }}]", {"name": "Ann"}),
    ("set_tuple", "{% set a, b = 1, 2 %}{{ a }}{{ b }}", {}),
    ("macro", "{% macro tag(name, body='-') %}<{{ name }}>{{ body }}</{{ name }}>{% endmacro %}"
              "{{ tag('a') }}{{ tag('b', 'x') }}{{ tag(body='y', name='c') }}", {}),
    ("print_values", "{{ none }} {{ true }} {{ false }} {{ 42 }} {{ -7 }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e20 }} "
                     "{{ 1.5e-7 }} {{ 10 / 4 }} {{ 2 ** 10 }} {{ 123456789.0 * 1000000000 }}", {}),
    ("print_containers", "{{ [1, 'a', none, true, 1.5, {'k': 'v'}] }} {{ (1,) }} {{ (1, 'b') }} {{ {} }} {{ [] }}"
                         " {{ [\"it's\", 'say \"hi\"', 'tab\\there', '\u00e9'] }}", {}),
    ("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} "
                   "{{ 3 * 'ab' }} {{ [1] * 3 }} {{ 'a' + 'b' }} {{ [1] + [2] }} {{ 2 * 3 + 4 }} {{ 2 + 3 * 4 }} "
                   "{{ (2 + 3) * 4 }} {{ -2 ** 2 }} {{ 1 - - 1 }} {{ true + 1 }}", {}),
    ("concat", "{{ 'a' ~ 1 ~ none ~ undefined_thing ~ [1] }}", {}),
    ("comparisons", "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} "
                    "{{ 1 != '1' }} {{ none == none }} {{ 2 >= 2 }} {{ 'b' <= 'a' }}", {}),
    ("logic", "{{ 0 or 'x' }} {{ 'a' and 'b' }} {{ not '' }} {{ none or [] }} {{ 1 and 0 }} "
              "{{ not 1 == 2 }} {{ 'x' if 0 else 'y' }} [{{ 'x' if 0 }}]", {}),
    ("in_operator", "{{ 'a' in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'z' not in 'cat' }} "
                    "{{ 'tool_calls' in m }} {{ 'x' in undefined_thing }}", {"m": {"role": "user"}}),
    ("tests", "{{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ none is none }} {{ 'a' is string }} "
              "{{ 1 is number }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ d is mapping }} "
              "{{ [] is iterable }} {{ 'a' is iterable }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} "
              "{{ 9 is divisibleby(4) }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ 1 is eq 1 }} {{ 2 is gt 1 }} "
              "{{ x is not none }} {{ 1 is in [1] }} {{ true is true }} {{ 1 is true }} {{ none is sameas none }}",
     {"x": 1, "d": {}}),
    ("undefined_is_falsy", "[{{ missing }}][{% if missing %}yes{% else %}no{% endif %}]"
                           "[{{ missing | length }}][{% for x in missing %}x{% endfor %}][{{ missing | default('d') }}]"
                           "[{{ missing == missing }}][{{ missing | string }}]", {}),
    ("default_filter", "{{ none | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} "
                       "{{ x | d('alias') }} {{ 0 | default('z', boolean=true) }}", {}),
    ("string_filters", "{{ '  pad  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'MiXed' | lower }}|{{ 'MiXed' | upper }}|"
                       "{{ 'hello wORLD' | capitalize }}|{{ 'hello wORLD-foo (bar)' | title }}|"
                       "{{ 'aaa' | replace('a', 'b', 2) }}|{{ 'abc' | replace('', '-') }}|{{ 'h\u00e9llo' | length }}|"
                       "{{ 'abc' | reverse }}|{{ 'abc' | first }}{{ 'abc' | last }}|{{ 42 | string ~ '!' }}|"
                       "{{ '<a href=\"x\">&' | e }}", {}),
    ("list_filters", "{{ [3, 1, 2] | first }} {{ [3, 1, 2] | last }} {{ [1, 2, 3] | join(', ') }} {{ [1, 2] | join }} "
                     "{{ [1, 2, 3] | length }} {{ 'abc' | list }} {{ [1, 2, 3] | reverse | list }} "
                     "{{ d | items | list }} {{ d | list }} {{ [] | first }}", {"d": {"b": 1, "a": 2}}),
    ("select_filters", "{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join('/') }} "
                       "{{ msgs | rejectattr('role', 'equalto', 'user') | list | length }} "
                       "{{ [0, 1, 2, 3] | select('odd') | list }} {{ [0, 1, '', 'a'] | select | list }} "
                       "{{ [1, 2, 3, 4] | reject('even') | list }} {{ msgs | selectattr('content') | list | length }} "
                       "{{ ['a', 'b'] | map('upper') | join }}",
     {"msgs": [{"role": "user", "content": "u1"}, {"role": "assistant", "content": ""},
               {"role": "user", "content": "u2"}]}),
    ("number_filters", "{{ '42' | int + 1 }} {{ 'x' | int }} {{ '3.5' | float }} {{ 3.7 | int }} {{ -3 | abs }} "
                       "{{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 'x' | float(1.5) }}", {}),
    ("tojson", "{{ d | tojson }}|{{ 'caf\u00e9 \"q\" <b> \\n' | tojson }}|{{ [1, 2.5, none, true] | tojson }}|"
               "{{ d | tojson(indent=2) }}|{{ {'b': 1, 'a': {}} | tojson(sort_keys=true) }}|{{ [] | tojson(indent=2) }}",
     {"d": {"a": [1, {"b": "c"}], "e": None}}),
    ("indent_filter", "{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(first=true) }}|{{ 'x\n\ny' | indent('> ', blank=true) }}", {}),
    ("string_methods", "{{ '  x  '.strip() }}|{{ '--x--'.strip('-') }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|"
                       "{{ 'abc'.startswith('ab') }}|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'a b  c'.split() }}|"
                       "{{ 'a,b,,c'.split(',') }}|{{ 'a,b,c'.split(',', 1) }}|{{ 'MiX'.upper() }}{{ 'MiX'.lower() }}|"
                       "{{ 'hello world-foo'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'aXbXc'.replace('X', '-') }}|"
                       "{{ 'h\u00e9llo'.find('l') }}|{{ 'banana'.count('a') }}|{{ '-'.join(['a', 'b']) }}|"
                       "{{ 'a\nb\r\nc'.splitlines() }}|{{ '123'.isdigit() }}|{{ 'x</think>y'.split('</think>')[-1] }}",
     {}),
    ("dict_methods", "{{ d.get('a') }} {{ d.get('zz') }} {{ d.get('zz', 'dflt') }} {{ d.keys() | list }} "
                     "{{ d.values() | list }} {{ d.items() | list }} {{ d.a }} {{ d['a'] }} [{{ d.missing }}]",
     {"d": {"a": 1, "b": "two"}}),
    ("subscripts", "{{ xs[0] }} {{ xs[-1] }} {{ xs[1:] }} {{ xs[:-1] }} {{ xs[::2] }} {{ xs[::-1] }} {{ xs[5:] }} "
                   "{{ 'h\u00e9llo'[1] }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} [{{ xs[10] }}] {{ xs.0 }} "
                   "{{ m['role'] }} {{ m.role }} {{ m.content | length }}",
     {"xs": [1, 2, 3, 4], "m": {"role": "user", "content": "hi"}}),
    ("literals", "{{ 'single' }} {{ \"double\" }} {{ 'adj' 'acent' }} {{ 'esc\\'aped\\n\\t\\u00e9\\x41' }} "
                 "{{ 1_000 }} {{ 0.5 }} {{ True }} {{ None }} {{ [1, 2,] }} {{ {'a': 1,} }}", {}),
    ("filter_precedence", "{{ -3 | abs }} {{ 'a' ~ 'b' | upper }} {{ 'x' ~ 1 + 2 }} {{ not true | string }}"
                          " {{ [1, 2] | length > 1 }}", {}),
    ("range_fn", "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(5, 0, -2) | list }} {{ range(0) | list }}",
     {}),
    ("dict_fn", "{{ dict(a=1, b='x') }}", {}),
    ("strftime", "{{ strftime_now('%Y-%m-%d %H:%M:%S %a %b %d') }}", {}),
    ("generation_block", "{% for m in ms %}{% generation %}[{{ m }}]{% endgeneration %}{% endfor %}", {"ms": ["a", "b"]}),
    ("whitespace_mix", "{%- for m in ms -%}\n  {{ m }}\n{%- endfor %}\n{# done #}\nend", {"ms": ["a", "b"]}),
    ("nested_namespace_in_loop", "{% set ns = namespace(last='') %}{% for m in ms %}{% for c in m %}"
                                 "{% set ns.last = c %}{% endfor %}{% endfor %}{{ ns.last }}", {"ms": ["ab", "cd"]}),
    ("round_filter", "{{ 2.675 | round(2) }} {{ 1.15 | round(1) }} {{ 7 | round }} {{ 7 | round(2) }} "
                     "{{ 0.0 | round(400) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ -2.5 | round }} {{ -0.4 | round }} "
                     "{{ 0.125 | round(2) }} {{ 12345.678 | round(-2) }} {{ 15 | round(-1) }} {{ 25 | round(-1) }} "
                     "{{ 7 | round(1, 'floor') }} {{ 2.675 | round(2, 'ceil') }} {{ 2.5 | round(0, 'floor') }} "
                     "{{ -2.5 | round(method='ceil') }} {{ true | round }} {{ 5e-324 | round(400) }} {{ 1e22 | round(2) }} "
                     "{{ 1e300 | round(-400) }} {{ 123 | round(-5) }} {{ 0.5 | round }} {{ 1.5 | round }}", {}),
    ("indent_lines", "{{ 'a\u2028b\x0cc' | indent(2) }}|{{ '\nx' | indent(2, true) }}|{{ '' | indent(2, true) }}|"
                     "{{ 'a\r\nb\rc\x85d' | indent(1) }}|{{ 'a\n' | indent(2, true, true) }}|{{ 'x\n\ny\n' | indent(3) }}", {}),
    ("repr_escapes", "{{ ['a\u2028b', 'nb\xa0sp', '\x01', '\x7f', '\x1b[0m', '\u0085', '\U0001f600', '\u200b', '\ue000', "
                     "'caf\u00e9', '\U000e0001', '\u3000', 'tab\there', \"it's\"] }} {{ {'k\u2029': '\x00'} }}", {}),
    ("int_filter", "{{ '0x10' | int }} {{ '0x10' | int(base=16) }} {{ ' 12 ' | int }} {{ '1_000' | int }} {{ '3.9' | int }} "
                   "{{ '-0b11' | int }} {{ '1e3' | int }} {{ 'inf' | int }} {{ 'nan' | int }} {{ '1__0' | int }} "
                   "{{ '12' | int(base=40) }} {{ 'z' | int(0, 36) }} {{ '010' | int(0, 0) }} {{ '0o17' | int(base=0) }} "
                   "{{ none | int }} {{ 2.9 | int }} {{ -2.9 | int }} {{ '_1' | int(7) }} {{ '0x_1f' | int(0, 16) }} "
                   "{{ '1e400' | int }} {{ [1] | int }} {{ true | int }}", {}),
    ("float_filter", "{{ '1_000.5' | float }} {{ ' -Infinity ' | float }} {{ '0x10' | float }} {{ 'nan' | float }} "
                     "{{ '.5' | float }} {{ '5.' | float }} {{ '1e5' | float }} {{ 'e5' | float }} {{ true | float }} "
                     "{{ '1_e5' | float }} {{ '+1.5E-3' | float }} {{ '' | float(2) }} {{ none | float }} {{ 3 | float }}", {}),
    ("splitlines_all", "{{ 'a\u2028b\x1cc\x1dd\x1ee\x85f\x0bg\x0ch\u2029i\r\nj\rk\n'.splitlines() }} "
                       "{{ ''.splitlines() }} {{ '\n'.splitlines() }} {{ 'x\n\ny'.splitlines() }}", {}),
    ("range_max", "{{ range(0, 200000, 2) | length }} {{ range(100000) | last }} {{ range(-5, 99995) | first }}", {}),
    ("dict_order", "{{ messages[0] | tojson }} {{ messages[0] }} {{ messages[0].items() | list }} "
                   "{% for k in d %}{{ k }}{% endfor %} {{ d | list }} {{ d.values() | list }} "
                   "{{ {'z': 1, 'a': 2} }} {{ dict(y=1, b=2) | tojson }}",
     {"messages": [{"role": "user", "content": "hi", "name": "x", "a": 1}], "d": {"z": 1, "a": 2, "m": 3}}),
    # Errors.
    ("error_syntax", "{% if %}x{% endif %}", {}),
    ("error_range_too_big", "{{ range(100001) | length }}", {}),
    ("error_round_method", "{{ 2.5 | round(0, 'nope') }}", {}),
    ("error_round_string", "{{ 'x' | round }}", {}),
    ("error_round_precision", "{{ 1.5 | round(1.5) }}", {}),
    ("error_round_overflow", "{{ 1.7e308 | round(-308) }}", {}),
    ("error_int_undefined", "{{ missing | int }}", {}),
    ("error_modulo_zero", "{{ 5 % 0 }}", {}),
    ("error_raise", "{% if true %}{{ raise_exception('Custom: ' ~ 42) }}{% endif %}", {}),
    ("error_attr_of_undefined", "{{ missing.role }}", {}),
    ("error_item_of_undefined", "{{ missing['role'] }}", {}),
    ("error_index_then_attr", "{{ xs[3].role }}", {"xs": []}),
    ("error_add_undefined", "{{ missing + 1 }}", {}),
    ("error_add_types", "{{ 'a' + 1 }}", {}),
    ("error_tojson_undefined", "{{ missing | tojson }}", {}),
    ("error_call_undefined", "{{ missing() }}", {}),
    ("error_not_iterable", "{% for x in 5 %}{% endfor %}", {}),
    ("error_division", "{{ 1 / 0 }}", {}),
    ("error_unpack", "{% for a, b in [[1, 2, 3]] %}{% endfor %}", {}),
    ("error_set_attr", "{% set x = 1 %}{% set x.y = 2 %}", {}),
]


# The error categories of ChatTemplateError (chatTemplateErrcName), by the
# type of the exception jinja2 raises.
ERROR_CATEGORIES = {
    "TemplateSyntaxError": "syntax",
    "TemplateError": "raise",  # raise_exception
    "UndefinedError": "undefined",
    "TemplateRuntimeError": "runtime",
    "FilterArgumentError": "runtime",
    "TypeError": "type",
    "ValueError": "value",
    "ZeroDivisionError": "zero-division",
    "OverflowError": "overflow",
}


def error_entry(exc):
    kind = type(exc).__name__
    if kind not in ERROR_CATEGORIES:
        raise SystemExit(f"no error category for {kind}: {exc}")
    # raise_exception's and Undefined's messages are the renderer's too.
    message = str(exc) if kind in ("TemplateError", "UndefinedError") else ""
    return {"error": {"category": ERROR_CATEGORIES[kind], "exception": kind, "message": message}}


def to_json(value):
    return json.dumps(value, ensure_ascii=False)


def render_chat(template, messages, add_generation_prompt, extra):
    special = {k: v for k, v in SPECIAL[template].items() if v is not None}
    variables = dict(special)
    variables.update(extra)
    case = {"template": template, "messages_json": to_json(messages),
            "add_generation_prompt": add_generation_prompt, "variables_json": to_json(variables)}
    try:
        rendered, _ = ctu.render_jinja_template(
            conversations=[messages], tools=extra.get("tools"),
            chat_template=TEMPLATES[template], add_generation_prompt=add_generation_prompt,
            **{k: v for k, v in variables.items() if k != "tools"})
        case["expected"] = rendered[0]
    except Exception as exc:  # TemplateError, TypeError, ...
        case.update(error_entry(exc))
    return case


def main():
    assert set(SOURCES) == set(TEMPLATES), "every template needs a source and licence"
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "..", "test", "unit", "Frontend", "Inputs", "chat_templates.json")
    cases = []
    for template in TEMPLATES:
        for conv_name, messages in CONVERSATIONS.items():
            for agp in (True, False):
                case = render_chat(template, messages, agp, {})
                case["name"] = f"{template}/{conv_name}/{'gen' if agp else 'nogen'}"
                cases.append(case)
    for template, name, messages, extra in EXTRA_CASES:
        case = render_chat(template, messages, True, extra)
        case["name"] = f"{template}/{name}"
        cases.append(case)
    snippets = []
    for name, source, variables in SNIPPETS:
        entry = {"name": name, "source": source, "variables_json": to_json(variables)}
        try:
            entry["expected"] = ctu._compile_jinja_template(source).render(**variables)
        except Exception as exc:  # TemplateError, TypeError, ZeroDivisionError, ...
            entry.update(error_entry(exc))
        snippets.append(entry)
    doc = {
        "generator": "bench/conformance/make_chat_fixtures.py",
        "jinja2": jinja2.__version__,
        "now": NOW.isoformat(),
        "sources": SOURCES,
        "templates": TEMPLATES,
        "cases": cases,
        "snippets": snippets,
    }
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    errors = sum(1 for c in cases + snippets if "error" in c)
    print(f"{out}: {len(cases)} chat cases, {len(snippets)} snippets ({errors} errors)")


if __name__ == "__main__":
    main()
