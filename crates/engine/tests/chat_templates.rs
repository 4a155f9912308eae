//! Chat templates: the helpers HF templates use, exact output for known formats,
//! and every real template of llama.cpp's `models/templates/` (from the model cache).

use std::path::PathBuf;

use rocmforge_engine::chat::{ChatTemplate, Message, TemplateError};

/// The model cache of `cargo xtask fetch-models`.
fn models_dir() -> Option<PathBuf> {
    std::env::var_os("ROCMFORGE_MODELS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rocmforge/models"))
        })
}

/// A file or folder of the model cache; `None` (with a message) when it is not there.
/// On CI a missing one is a failure: CI fetches the models first.
fn cached(relative: &str, test: &str) -> Option<PathBuf> {
    let path = models_dir()
        .map(|dir| dir.join(relative))
        .filter(|p| p.exists());
    if path.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must fetch the models first (cargo xtask fetch-models): {relative} is missing"
        );
        eprintln!(
            "SKIPPED {test}: {relative} is not in the model cache; run `cargo xtask fetch-models`"
        );
    }
    path
}

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
const TEMPLATE_VARS: &[(&str, &str, &str)] =
    &[("fireworks-ai-llama-3-firefunction-v2.jinja", "functions", "")];

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
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
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
