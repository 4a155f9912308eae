//! Chat templates: rendering `tokenizer.chat_template` with minijinja.
//!
//! Models ship a Hugging Face Jinja template in their GGUF metadata that turns a
//! conversation into the prompt text the model was trained on. [`ChatTemplate`]
//! compiles such a template and renders it the way Hugging Face transformers (and
//! llama.cpp, which follows it) do:
//!
//! - blocks trim the newline after them and the indentation before them
//!   (`trim_blocks` and `lstrip_blocks`), and a trailing newline is dropped;
//! - the context holds `messages` (objects with `role` and `content`),
//!   `add_generation_prompt`, `bos_token`, `eos_token`, `tools` and `documents`
//!   (both none), and llama.cpp's `date_string` (`26 Jul 2024` style) and `datetime`
//!   (`Jul 26 2024` style);
//! - the helpers HF adds: `raise_exception(message)`, `strftime_now(format)` and a
//!   `tojson` filter that writes Python's `json.dumps` text (non-ASCII kept);
//! - Python methods on strings, dicts and lists (`.strip()`, `.split()`,
//!   `.startswith()`, `.items()`, `.get()`, …), and `append`/`pop` on lists stored
//!   in a `namespace()`;
//! - HF's `{% generation %}` block (which only marks assistant text for training
//!   masks) renders its body.
//!
//! Dates are UTC: only the standard library is used to read the clock.

mod json;
mod methods;
mod time;

use std::fmt;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};

use self::time::DateTime;

/// The name the template source is registered under (it shows in error messages).
const TEMPLATE_NAME: &str = "chat_template";

/// ChatML, the fallback llama.cpp uses when a model has no template.
const CHATML: &str = "{%- for message in messages -%}\n\
    {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n\
    {%- endfor -%}\n\
    {%- if add_generation_prompt -%}\n\
    {{- '<|im_start|>assistant\\n' -}}\n\
    {%- endif -%}";

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// Who speaks: `system`, `user`, `assistant` (or whatever else the template knows).
    pub role: String,
    /// The text of the message.
    pub content: String,
}

impl Message {
    /// A message from `role` with `content`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }

    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }

    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }

    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// Why a chat template could not be compiled or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template source is not valid Jinja (for minijinja).
    #[error("chat template does not compile{}: {message}", LineSuffix(*line))]
    Syntax {
        /// The 1-based line of the template the problem is on, where known.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// The template called `raise_exception(message)`, rejecting the conversation
    /// (e.g. "System role not supported").
    #[error("chat template rejected the conversation: {message}")]
    Raised {
        /// The message the template raised.
        message: String,
    },
    /// Rendering failed for another reason (a bad operation, an unknown method…).
    #[error("chat template failed to render{}: {message}", LineSuffix(*line))]
    Render {
        /// The 1-based line of the template the problem is on, where known.
        line: Option<usize>,
        /// What went wrong.
        message: String,
    },
}

/// Writes ` at line N` when the line is known.
struct LineSuffix(Option<usize>);

impl fmt::Display for LineSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(line) => write!(f, " at line {line}"),
            None => Ok(()),
        }
    }
}

/// The error `raise_exception` returns, found again in the error chain after rendering.
#[derive(Debug)]
struct RaisedException(String);

impl fmt::Display for RaisedException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RaisedException {}

/// The text of a minijinja error: its kind, its detail, and the errors it wraps.
fn describe(err: &minijinja::Error) -> String {
    let mut message = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}

fn compile_error(err: &minijinja::Error) -> TemplateError {
    TemplateError::Syntax {
        line: err.line(),
        message: describe(err),
    }
}

fn render_error(err: &minijinja::Error) -> TemplateError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(inner) = source {
        if let Some(raised) = inner.downcast_ref::<RaisedException>() {
            return TemplateError::Raised {
                message: raised.0.clone(),
            };
        }
        source = inner.source();
    }
    TemplateError::Render {
        line: err.line(),
        message: describe(err),
    }
}

/// `raise_exception(message)`: stops rendering with `message`.
fn raise_exception(message: Option<Value>) -> Result<Value, minijinja::Error> {
    let message = match message {
        Some(v) if v.as_str().is_some() => v.as_str().unwrap_or_default().to_string(),
        Some(v) => v.to_string(),
        None => "the template raised an exception".to_string(),
    };
    Err(
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message.clone())
            .with_source(RaisedException(message)),
    )
}

/// `strftime_now(format)`: the current (UTC) time formatted like Python's `strftime`.
fn strftime_now(format: &str) -> String {
    DateTime::now().format(format)
}

/// Rewrites HF's `{% generation %}` / `{% endgeneration %}` into `{% if true %}` /
/// `{% endif %}`, keeping whitespace control and line numbers.
fn rewrite_generation_blocks(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{%") {
        out.push_str(&rest[..start]);
        let tag = &rest[start..];
        match parse_generation_tag(tag) {
            Some((len, lead, is_end, trail)) => {
                out.push_str("{%");
                out.push_str(lead);
                out.push_str(if is_end { " endif " } else { " if true " });
                out.push_str(trail);
                out.push_str("%}");
                rest = &tag[len..];
            }
            None => {
                out.push_str("{%");
                rest = &tag[2..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses `{%[-+] generation|endgeneration [-+]%}` at the start of `tag`:
/// (length, leading modifier, whether it ends the block, trailing modifier).
fn parse_generation_tag(tag: &str) -> Option<(usize, &str, bool, &str)> {
    let body = tag.strip_prefix("{%")?;
    let lead_len = usize::from(body.starts_with(['-', '+']));
    let (lead, body) = body.split_at(lead_len);
    let end = body.find("%}")?;
    let inner = &body[..end];
    let (inner, trail) = match inner.strip_suffix(['-', '+']) {
        Some(stripped) => (stripped, &inner[stripped.len()..]),
        None => (inner, ""),
    };
    let is_end = match inner.trim() {
        "generation" => false,
        "endgeneration" => true,
        _ => return None,
    };
    if inner.contains('\n') {
        return None;
    }
    Some((2 + lead_len + end + 2, lead, is_end, trail))
}

/// A model's way of turning a conversation into prompt tokens: its template
/// (ChatML when it has none) and its BOS/EOS texts.
#[derive(Debug, Clone)]
pub struct ChatFormat {
    template: ChatTemplate,
    bos: String,
    eos: String,
    from_model: bool,
}

impl ChatFormat {
    /// The format of `model`: `tokenizer.chat_template` from its metadata, else
    /// ChatML.
    pub fn of(model: &crate::Model) -> Result<Self, crate::EngineError> {
        let source = model
            .file()
            .metadata()
            .get_opt::<&str>("tokenizer.chat_template")?;
        let (template, from_model) = match source {
            Some(source) => (ChatTemplate::new(source)?, true),
            None => (ChatTemplate::chatml(), false),
        };
        let tokenizer = &model.tokenizer;
        let text_of = |id: Option<u32>| {
            id.and_then(|id| tokenizer.token_text(id).ok())
                .unwrap_or("")
                .to_owned()
        };
        Ok(Self {
            template,
            bos: text_of(tokenizer.bos()),
            eos: text_of(tokenizer.eos()),
            from_model,
        })
    }

    /// Whether the template came from the model (false: the ChatML fallback).
    pub fn from_model(&self) -> bool {
        self.from_model
    }

    /// The prompt text of `messages`, ending with the assistant's turn opened.
    pub fn render(&self, messages: &[Message]) -> Result<String, TemplateError> {
        self.template.render(messages, true, &self.bos, &self.eos)
    }

    /// The prompt tokens of `messages`: the rendered text, with special tokens
    /// parsed and a BOS added where the model wants one and the template did not
    /// write it.
    pub fn tokens(
        &self,
        tokenizer: &rocmforge_tokenizer::Tokenizer,
        messages: &[Message],
    ) -> Result<Vec<u32>, TemplateError> {
        let text = self.render(messages)?;
        let add_bos = tokenizer.add_bos() && !(self.bos.is_empty() || text.starts_with(&self.bos));
        Ok(tokenizer.encode(&text, add_bos, true))
    }
}

/// A compiled chat template.
#[derive(Debug, Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
}

impl ChatTemplate {
    /// Compiles a template source; errors name the template problem (line) clearly.
    pub fn new(source: &str) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_unknown_method_callback(methods::unknown_method);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_function("namespace", methods::namespace);
        env.add_filter("tojson", json::tojson);
        env.add_test("iterable", methods::is_iterable);
        env.add_test("sequence", methods::is_sequence);
        env.add_template_owned(TEMPLATE_NAME, rewrite_generation_blocks(source))
            .map_err(|e| compile_error(&e))?;
        Ok(Self { env })
    }

    /// The fallback when a model has no template: ChatML
    /// (`<|im_start|>role\ncontent<|im_end|>\n`), as llama.cpp uses.
    pub fn chatml() -> Self {
        // CHATML is a fixed, tested source; should it ever fail to compile, an
        // environment without the template reports that at render time.
        Self::new(CHATML).unwrap_or_else(|_| Self {
            env: Environment::new(),
        })
    }

    /// Renders the conversation. `bos_token`/`eos_token` are the model's token texts
    /// (empty if none).
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<String, TemplateError> {
        self.render_with_vars(messages, add_generation_prompt, bos_token, eos_token, &[])
    }

    /// Renders the conversation with further template variables, e.g.
    /// `enable_thinking` or a template's own inputs; they override the standard ones.
    pub fn render_with_vars(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        bos_token: &str,
        eos_token: &str,
        vars: &[(&str, serde_json::Value)],
    ) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| render_error(&e))?;
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                context! {
                    role => m.role.as_str(),
                    content => m.content.as_str(),
                }
            })
            .collect();
        let now = DateTime::now();
        let mut ctx: Vec<(&str, Value)> = vec![
            ("messages", Value::from(messages)),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(bos_token)),
            ("eos_token", Value::from(eos_token)),
            ("tools", Value::from(())),
            ("documents", Value::from(())),
            ("date_string", Value::from(now.format("%d %b %Y"))),
            ("datetime", Value::from(now.format("%b %d %Y"))),
        ];
        for (name, value) in vars {
            let value = Value::from_serialize(value);
            match ctx.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value,
                None => ctx.push((name, value)),
            }
        }
        template
            .render(Value::from_iter(ctx))
            .map_err(|e| render_error(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::{ChatTemplate, parse_generation_tag, rewrite_generation_blocks};

    #[test]
    fn templates_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<ChatTemplate>();
    }

    #[test]
    fn generation_tags_are_rewritten() {
        assert_eq!(
            rewrite_generation_blocks("a{%- generation -%}b{% endgeneration %}c{% if x %}"),
            "a{%- if true -%}b{% endif %}c{% if x %}"
        );
        assert_eq!(
            rewrite_generation_blocks("{%+generation+%}{%endgeneration%}{%"),
            "{%+ if true +%}{% endif %}{%"
        );
        assert!(parse_generation_tag("{% generations %}").is_none());
        assert!(parse_generation_tag("{% set generation = 1 %}").is_none());
    }
}
