//! Output formats shared by every report: one enum, and the small helpers the renderers share.

use serde::Serialize;

/// How a report is written: for people (text, HTML, Markdown) or for programs (JSON, CSV).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Csv,
    Html,
    Markdown,
}

/// `words` joined by spaces and wrapped so no line is longer than `width` characters (a longer
/// word stands on its own line); lines after the first start with `indent`.
pub fn wrap_words<'a>(words: impl Iterator<Item = &'a str>, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut col = 0;
    for word in words {
        let n = word.chars().count();
        if col > 0 && col + 1 + n > width {
            out.push('\n');
            out.push_str(indent);
            col = indent.len();
        } else if col > 0 {
            out.push(' ');
            col += 1;
        }
        out.push_str(word);
        col += n;
    }
    out
}

/// Pretty JSON with a final newline.
pub fn json<T: Serialize>(v: &T) -> Result<String, OutputError> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("cannot write CSV: {0}")]
    Csv(String),
    #[error("{0}")]
    Fmt(#[from] std::fmt::Error),
    #[error("cannot render a template: {0}")]
    Template(String),
}

impl From<csv::Error> for OutputError {
    fn from(e: csv::Error) -> Self {
        OutputError::Csv(e.to_string())
    }
}

impl<W> From<csv::IntoInnerError<W>> for OutputError {
    fn from(e: csv::IntoInnerError<W>) -> Self {
        OutputError::Csv(e.to_string())
    }
}

impl From<std::string::FromUtf8Error> for OutputError {
    fn from(e: std::string::FromUtf8Error) -> Self {
        OutputError::Csv(e.to_string())
    }
}

/// Renders an HTML template with auto-escaping: every value is escaped as [`esc`] does, unless
/// the template marks it safe. Block tags on their own lines leave no blank line.
pub fn render_html(template: &str, ctx: minijinja::Value) -> Result<String, OutputError> {
    let mut env = html_environment();
    env.set_keep_trailing_newline(true);
    env.render_str(template, ctx).map_err(|e| OutputError::Template(e.to_string()))
}

/// The environment [`render_html`] renders in (the portal loads its pages into one too): every
/// value escaped as [`esc`] does unless marked safe; block tags on their own lines leave no
/// blank line.
pub fn html_environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_formatter(|out, state, value| {
        if state.auto_escape() == minijinja::AutoEscape::None || value.is_safe() {
            write!(out, "{value}").map_err(minijinja::Error::from)
        } else {
            write!(out, "{}", esc(&value.to_string())).map_err(minijinja::Error::from)
        }
    });
    env
}
