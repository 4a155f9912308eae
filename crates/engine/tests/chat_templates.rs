//! Chat templates: the helpers HF templates use, exact output for known formats,
//! and every real template of llama.cpp's `models/templates/` (from the model cache).

use rocmforge_engine::chat::{ChatTemplate, Message, TemplateError};

mod common;

use std::path::PathBuf;

use common::cached;

fn render(source: &str, messages: &[Message], add_generation_prompt: bool) -> String {
    ChatTemplate::new(source)
        .unwrap_or_else(|e| panic!("{e}"))
        .render(messages, add_generation_prompt, "<s>", "</s>")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn render_one(source: &str) -> String {
    render(source, &[Message::user("hi")], false)
}

const SYSTEM: &str = "You are a helpful assistant.";
const USER: &str = "What is the capital of France? Answer briefly, s'il vous plaît.";
const ASSISTANT: &str = "Paris.";

fn conversation(with_system: bool) -> Vec<Message> {
    let mut messages = Vec::new();
    if with_system {
        messages.push(Message::system(SYSTEM));
    }
    messages.push(Message::user(USER));
    messages.push(Message::assistant(ASSISTANT));
    messages
}

/// Template inputs some templates read unconditionally, beyond HF's standard ones.
///
/// firefunction-v2 appends `functions` (its JSON list of functions) to its system
/// prompt; Jinja (HF transformers) fails on the undefined variable just as minijinja
/// does, while llama.cpp concatenates undefined as empty text. It gets that text here.
const TEMPLATE_VARS: &[(&str, &str, &str)] = &[(
    "fireworks-ai-llama-3-firefunction-v2.jinja",
    "functions",
    "",
)];

/// Renders `messages`; if the template rejects system messages, again without them.
/// Returns the text and whether the system message had to go.
fn render_allowing_no_system(
    template: &ChatTemplate,
    messages: &[Message],
    add_generation_prompt: bool,
    vars: &[(&str, serde_json::Value)],
) -> Result<(String, bool), TemplateError> {
    match template.render_with_vars(messages, add_generation_prompt, "<s>", "</s>", vars) {
        Ok(text) => Ok((text, false)),
        Err(TemplateError::Raised { message })
            if messages.iter().any(|m| m.role == "system")
                && message.to_lowercase().contains("system") =>
        {
            let without: Vec<Message> = messages
                .iter()
                .filter(|m| m.role != "system")
                .cloned()
                .collect();
            template
                .render_with_vars(&without, add_generation_prompt, "<s>", "</s>", vars)
                .map(|text| (text, true))
        }
        Err(e) => Err(e),
    }
}

#[test]
fn llama_cpp_templates_all_render() {
    let Some(dir) = cached("llama.cpp-templates", "llama_cpp_templates_all_render") else {
        return;
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jinja"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no templates in {}", dir.display());

    let mut failures = Vec::new();
    let mut failed_templates = 0;
    let mut no_system = Vec::new();
    for path in &paths {
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let template = match ChatTemplate::new(&source) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                failed_templates += 1;
                continue;
            }
        };
        let vars: Vec<(&str, serde_json::Value)> = TEMPLATE_VARS
            .iter()
            .filter(|(template, _, _)| *template == name)
            .map(|(_, var, value)| (*var, serde_json::Value::from(*value)))
            .collect();
        let failures_before = failures.len();
        let cases = [
            (conversation(true), false),
            (conversation(true), true),
            (vec![Message::user(USER)], true),
        ];
        for (messages, add_generation_prompt) in &cases {
            match render_allowing_no_system(&template, messages, *add_generation_prompt, &vars) {
                Ok((text, dropped_system)) => {
                    if dropped_system && !no_system.contains(&name) {
                        no_system.push(name.clone());
                    }
                    if !text.contains(USER) {
                        failures.push(format!(
                            "{name} ({} messages): the user's text is missing from {text:?}",
                            messages.len()
                        ));
                    }
                }
                Err(e) => failures.push(format!("{name} ({} messages): {e}", messages.len())),
            }
        }
        failed_templates += usize::from(failures.len() > failures_before);
    }
    eprintln!(
        "{} of {} chat templates rendered; {} without a system message (they reject it): {}",
        paths.len() - failed_templates,
        paths.len(),
        no_system.len(),
        no_system.join(", ")
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn chatml_conversation_exact() {
    let messages = [
        Message::system("Be brief."),
        Message::user("Hi"),
        Message::assistant("Hello!"),
        Message::user("Bye"),
    ];
    let chatml = ChatTemplate::chatml();
    assert_eq!(
        chatml.render(&messages, true, "", "").unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
         <|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n\
         <|im_start|>assistant\n"
    );
    assert_eq!(
        chatml.render(&messages[1..2], false, "", "").unwrap(),
        "<|im_start|>user\nHi<|im_end|>\n"
    );
}

/// Gemma 3's `tokenizer.chat_template`.
const GEMMA3: &str = r#"{{ bos_token }}
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
"#;

#[test]
fn gemma3_conversation_exact() {
    let template = ChatTemplate::new(GEMMA3).unwrap();
    let messages = [
        Message::system("Be brief."),
        Message::user("Hi "),
        Message::assistant("Hello!"),
        Message::user("Bye"),
    ];
    assert_eq!(
        template.render(&messages, true, "<bos>", "<eos>").unwrap(),
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n\
         <start_of_turn>model\nHello!<end_of_turn>\n\
         <start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
    );
    assert_eq!(
        template
            .render(&messages[1..2], false, "<bos>", "<eos>")
            .unwrap(),
        "<bos><start_of_turn>user\nHi<end_of_turn>\n"
    );
    // Roles out of order: the template raises, and the message comes back.
    let err = template
        .render(&[Message::assistant("x")], true, "<bos>", "")
        .unwrap_err();
    assert_eq!(
        err,
        TemplateError::Raised {
            message: "Conversation roles must alternate user/assistant/user/assistant/..."
                .to_string()
        }
    );
}

/// Gemma 2's template (from the cache), rendered as llama.cpp renders it.
#[test]
fn gemma2_template_matches_llama_cpp() {
    let Some(path) = cached(
        "llama.cpp-templates/google-gemma-2-2b-it.jinja",
        "gemma2_template_matches_llama_cpp",
    ) else {
        return;
    };
    let template = ChatTemplate::new(&std::fs::read_to_string(path).unwrap()).unwrap();
    let messages = [
        Message::user("Hello there"),
        Message::assistant("Hi."),
        Message::user("Bye"),
    ];
    assert_eq!(
        template.render(&messages, true, "<bos>", "<eos>").unwrap(),
        "<bos><start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\nHi.<end_of_turn>\n\
         <start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
    );
    let err = template
        .render(
            &[Message::system("s"), Message::user("u")],
            true,
            "<bos>",
            "<eos>",
        )
        .unwrap_err();
    assert_eq!(
        err,
        TemplateError::Raised {
            message: "System role not supported".to_string()
        }
    );
}

#[test]
fn raise_exception_returns_the_message() {
    let template = ChatTemplate::new(
        "{% if messages|length == 0 %}{{ raise_exception('No messages: ' ~ 0) }}{% endif %}ok",
    )
    .unwrap();
    assert_eq!(
        template
            .render(&[Message::user("x")], false, "", "")
            .unwrap(),
        "ok"
    );
    let err = template.render(&[], false, "", "").unwrap_err();
    assert_eq!(
        err.to_string(),
        "chat template rejected the conversation: No messages: 0"
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let err = ChatTemplate::new("line one\n{% for m in messages %}\n{{ m.content }\n{% endfor %}")
        .unwrap_err();
    match &err {
        TemplateError::Syntax { line, message } => {
            assert_eq!(*line, Some(3), "{err}");
            assert!(message.contains("syntax error"), "{message}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(err.to_string().contains("at line 3"), "{err}");
    let err = ChatTemplate::new("{% if x %}never closed").unwrap_err();
    assert!(matches!(err, TemplateError::Syntax { .. }), "{err}");
}

#[test]
fn render_errors_name_the_line() {
    let template = ChatTemplate::new("a\n{{ messages[0].content.nosuchmethod() }}").unwrap();
    let err = template
        .render(&[Message::user("x")], false, "", "")
        .unwrap_err();
    match &err {
        TemplateError::Render { line, .. } => assert_eq!(*line, Some(2), "{err}"),
        other => panic!("expected a render error, got {other:?}"),
    }
}

#[test]
fn strftime_now_and_date_variables() {
    let out = render_one(
        "{{ strftime_now('%Y-%m-%d') }}|{{ strftime_now('%d %b %Y') }}|{{ date_string }}|\
         {{ strftime_now('%B %d, %Y %H:%M') }}",
    );
    let parts: Vec<&str> = out.split('|').collect();
    assert_eq!(parts.len(), 4, "{out}");
    let iso = parts[0];
    assert_eq!(iso.len(), 10, "{out}");
    assert!(
        iso.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 {
            c == '-'
        } else {
            c.is_ascii_digit()
        }),
        "{out}"
    );
    let year = &iso[..4];
    let day = &iso[8..];
    // `%d %b %Y`, as llama.cpp's date_string.
    assert!(
        parts[1].starts_with(day) && parts[1].ends_with(year),
        "{out}"
    );
    let month = parts[1].split(' ').nth(1).unwrap();
    assert_eq!(month.len(), 3, "{out}");
    assert_eq!(parts[1], parts[2], "{out}");
    assert!(
        parts[3].starts_with(month) && parts[3].contains(&format!(" {day}, {year} ")),
        "{out}"
    );
}

#[test]
fn tojson_writes_python_json() {
    let source =
        r#"{% set x = {"b": 1, "a": [1, 2.5, "é<&>'\"\n"], "c": none, "d": true, "e": {}} %}"#;
    let render_x = |expr: &str| render_one(&format!("{source}{{{{ {expr} }}}}"));
    assert_eq!(
        render_x("x | tojson"),
        r#"{"b": 1, "a": [1, 2.5, "é<&>'\"\n"], "c": null, "d": true, "e": {}}"#
    );
    assert_eq!(
        render_x("x | tojson(indent=2)"),
        "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2.5,\n    \"é<&>'\\\"\\n\"\n  ],\n  \
         \"c\": null,\n  \"d\": true,\n  \"e\": {}\n}"
    );
    assert_eq!(
        render_x("x | tojson(separators=(',', ':'), sort_keys=true)"),
        r#"{"a":[1,2.5,"é<&>'\"\n"],"b":1,"c":null,"d":true,"e":{}}"#
    );
    assert_eq!(
        render_x("x.a[2] | tojson(ensure_ascii=true)"),
        r#""\u00e9<&>'\"\n""#
    );
    assert_eq!(
        render_x("x.a | tojson(false, 1)"),
        "[\n 1,\n 2.5,\n \"é<&>'\\\"\\n\"\n]"
    );
    assert_eq!(
        render_one("{{ messages | tojson }}"),
        r#"[{"role": "user", "content": "hi"}]"#
    );
}

#[test]
fn loop_controls() {
    let messages = [
        Message::system("s"),
        Message::user("u1"),
        Message::assistant("a1"),
        Message::user("u2"),
    ];
    let out = render(
        "{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}\
         {% if loop.index > 3 %}{% break %}{% endif %}{{ m.content }};{% endfor %}",
        &messages,
        false,
    );
    assert_eq!(out, "u1;a1;");
}

#[test]
fn python_string_methods() {
    let cases = [
        ("{{ '  a b  '.strip() }}|", "a b|"),
        (
            "{{ 'xxaxx'.lstrip('x') }}|{{ 'xxaxx'.rstrip('x') }}",
            "axx|xxa",
        ),
        ("{{ 'a,b,,c'.split(',') | join('+') }}", "a+b++c"),
        ("{{ ' a  b '.split() | length }}", "2"),
        ("{{ '<think>x</think>y'.split('</think>')[-1] }}", "y"),
        (
            "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith(('x', 'lo')) }}",
            "True True",
        ),
        (
            "{{ 'MiXed'.upper() }} {{ 'MiXed'.lower() }} {{ 'hello world'.title() }}",
            "MIXED mixed Hello World",
        ),
        (
            "{{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }}",
            "a+b+c ab-c",
        ),
        ("{{ '{} and {}'.format('x', 1) }}", "x and 1"),
        ("{{ 'a/b/c'.rsplit('/', 1) | join(' ') }}", "a/b c"),
        ("{{ 'prefix-rest'.removeprefix('prefix-') }}", "rest"),
        (
            "{% set d = {'k': 'v', 'a': 1} %}{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
            "k=v;a=1;",
        ),
        (
            "{% set d = {'k': 'v'} %}{{ d.get('k') }} {{ d.get('z', 'dflt') }} {{ d.get('z') is none }}",
            "v dflt True",
        ),
        (
            "{{ [1, 2, 1].count(1) }} {{ ['a', 'b'].index('b') }}",
            "2 1",
        ),
        (
            "{{ none is iterable }} {{ 'x' is iterable }} {{ [1] is sequence }} {{ 'x' is string }}",
            "False True True True",
        ),
        (
            "{{ none }}|{{ undefined_name }}|{{ [1, none, true] }}",
            "None||[1, None, True]",
        ),
        (
            "{{ tools is none }} {{ tools is defined }} {{ documents is none }}",
            "True True True",
        ),
    ];
    for (source, expected) in cases {
        assert_eq!(render_one(source), expected, "{source}");
    }
}

#[test]
fn namespaces_and_mutable_lists() {
    let out = render_one(
        "{% set ns = namespace(ids=[], count=0) %}\
         {% for m in ['a', 'b', 'c'] %}{% set _ = ns.ids.append(m) %}{% set ns.count = ns.count + 1 %}{% endfor %}\
         {{ ns.count }} {{ ns.ids | length }} {{ ns.ids.pop(0) }} {{ ns.ids | join(',') }} {{ ns.ids[-1] }}",
    );
    assert_eq!(out, "3 3 a b,c c");
}

#[test]
fn whitespace_like_hf() {
    // trim_blocks and lstrip_blocks on, the final newline dropped.
    let source = "{% for m in messages %}\n    {% if m.role == 'user' %}\n  [{{ m.content }}]\n    {% endif %}\n{% endfor %}\n";
    assert_eq!(render_one(source), "  [hi]\n");
    assert_eq!(render_one("{{ bos_token }}x\n"), "<s>x");
}

#[test]
fn generation_blocks_render_their_body() {
    let out = render_one(
        "{% for m in messages %}{%- generation -%}\n<{{ m.content }}>\n{%- endgeneration -%}{% endfor %}",
    );
    assert_eq!(out, "<hi>");
}

#[test]
fn extra_variables_override() {
    let template = ChatTemplate::new(
        "{% if enable_thinking is defined and not enable_thinking %}/no_think {% endif %}\
         {{ messages[-1].content }}",
    )
    .unwrap();
    let messages = [Message::user("q")];
    assert_eq!(template.render(&messages, true, "", "").unwrap(), "q");
    assert_eq!(
        template
            .render_with_vars(
                &messages,
                true,
                "",
                "",
                &[("enable_thinking", false.into())]
            )
            .unwrap(),
        "/no_think q"
    );
}

/// Real templates rendered as llama.cpp's `llama-completion --jinja --verbose-prompt`
/// renders them (system "You are terse.", user "Hello there", with the generation
/// prompt, and `enable_thinking` true as llama.cpp passes by default).
#[test]
fn real_templates_match_llama_cpp() {
    let Some(dir) = cached("llama.cpp-templates", "real_templates_match_llama_cpp") else {
        return;
    };
    let expected = [
        (
            "Qwen-Qwen2.5-7B-Instruct",
            "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHello there<|im_end|>\n\
             <|im_start|>assistant\n",
        ),
        (
            "microsoft-Phi-3.5-mini-instruct",
            "<|system|>\nYou are terse.<|end|>\n<|user|>\nHello there<|end|>\n<|assistant|>\n",
        ),
        (
            "mistralai-Mistral-Nemo-Instruct-2407",
            "<bos>[INST]You are terse.\n\nHello there[/INST]",
        ),
        (
            "ibm-granite-granite-3.3-2B-Instruct",
            "<|start_of_role|>system<|end_of_role|>You are terse.<|end_of_text|>\n\
             <|start_of_role|>user<|end_of_role|>Hello there<|end_of_text|>\n\
             <|start_of_role|>assistant<|end_of_role|>",
        ),
        (
            "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B",
            "<bos>You are terse.<｜User｜>Hello there<｜Assistant｜><think>\n",
        ),
        (
            "GLM-4.6",
            "[gMASK]<sop><|system|>\nYou are terse.<|user|>\nHello there<|assistant|>",
        ),
        (
            "NVIDIA-Nemotron-Nano-v2",
            "<SPECIAL_10>System\nYou are terse.\n\n<SPECIAL_11>User\nHello there\n\
             <SPECIAL_11>Assistant\n<think>\n",
        ),
    ];
    let messages = [
        Message::system("You are terse."),
        Message::user("Hello there"),
    ];
    for (name, want) in expected {
        let path = dir.join(format!("{name}.jinja"));
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let template = ChatTemplate::new(&source).unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = template
            .render_with_vars(
                &messages,
                true,
                "<bos>",
                "<eos>",
                &[("enable_thinking", true.into())],
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}
