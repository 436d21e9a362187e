//! A small reader over spanned YAML nodes that collects every problem instead of stopping at the
//! first one.
//!
//! Why not serde: `serde_yaml` reports a position only for syntax and type errors and stops at the
//! first. A plan check must name file, line and column for semantic problems too (a duplicate wave
//! id, a legacy code mapped twice) and report them all at once. `marked-yaml` keeps a span on every
//! node; this module turns nodes into values and records a [`Problem`] for each one that does not fit.

use super::Problem;
use crate::domain::Decimal;
use chrono::NaiveDate;
use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::{Node, Span};
use std::collections::HashSet;
use std::str::FromStr;

/// Where a node starts: (line, column), 1-based.
pub fn pos(span: &Span) -> (usize, usize) {
    span.start().map_or((1, 1), |m| (m.line(), m.column()))
}

/// A syntax error's position and message. The scanner reports a tab inside a plain scalar's
/// indentation at the scalar's start, lines above the tab: the tab itself is named, with where
/// the scalar began. The scanner's own "at byte … line … column …" is left out (the problem's
/// prefix says where).
fn scan_error(text: &str, at: marked_yaml::Marker, info: &str) -> (marked_yaml::Marker, String) {
    if info.ends_with("found a tab")
        && let Some((i, line, col)) = indenting_tab(text, at.character(), at.line())
    {
        return (
            marked_yaml::Marker::new(at.source(), i, line, col),
            format!(
                "YAML syntax error: a tab in the indentation (indent with spaces); the value it continues \
                 starts at line {} column {}",
                at.line(),
                at.column()
            ),
        );
    }
    if (info.contains("flow sequence") || info.contains("flow mapping"))
        && let Some((i, line, col, open)) = unclosed_bracket(text, at.character())
    {
        let close = if open == '[' { ']' } else { '}' };
        return (
            marked_yaml::Marker::new(at.source(), i, line, col),
            format!(
                "YAML syntax error: this `{open}` is not closed: a `{close}` is missing before line {} column {} \
                 ({info})",
                at.line(),
                at.column()
            ),
        );
    }
    (at, format!("YAML syntax error: {info}"))
}

/// The innermost `[` or `{` still open at char `to`: its char index, line, column (1-based) and
/// itself. Brackets inside quotes and comments do not count, nor one inside a plain value
/// (`a[1]`): an opening bracket starts a value.
fn unclosed_bracket(text: &str, to: usize) -> Option<(usize, usize, usize, char)> {
    let (mut open, mut quote, mut comment) = (Vec::new(), None, false);
    let (mut line, mut col, mut starts_value) = (1, 0, true);
    let mut prev = '\n';
    for (i, c) in text.chars().enumerate().take(to) {
        col += 1;
        match (quote, c) {
            (_, '\n') => {
                (line, col, comment, starts_value) = (line + 1, 0, false, true);
                // A quoted value may run over lines; a comment ends with its line.
            }
            _ if comment => {}
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '#') if prev.is_whitespace() => comment = true,
            (None, '"' | '\'') if starts_value => quote = Some(c),
            (None, '[' | '{') if starts_value => open.push((i, line, col, c)),
            (None, ']' | '}') if !open.is_empty() => {
                open.pop();
            }
            _ => {}
        }
        if quote.is_none() && !comment && !c.is_whitespace() {
            starts_value = matches!(c, ':' | '-' | ',' | '[' | '{');
        }
        prev = c;
    }
    open.pop()
}

/// The first tab indenting a line that holds something (not only blanks or a comment), after the
/// line of char `from` (which is on line `line`): its char index, line and column (1-based).
fn indenting_tab(text: &str, from: usize, line: usize) -> Option<(usize, usize, usize)> {
    let mut chars = text.chars().enumerate().skip(from).peekable();
    // The rest of the scalar's own line: a tab there is not indentation.
    chars.by_ref().find(|&(_, c)| c == '\n')?;
    let mut line = line + 1;
    loop {
        let (mut col, mut tab) = (1, None);
        while let Some(&(i, c)) = chars.peek() {
            if c != ' ' && c != '\t' {
                break;
            }
            if c == '\t' && tab.is_none() {
                tab = Some((i, line, col));
            }
            col += 1;
            chars.next();
        }
        let holds_something = chars.peek().is_some_and(|&(_, c)| !matches!(c, '\n' | '\r' | '#'));
        if holds_something && tab.is_some() {
            return tab;
        }
        chars.by_ref().find(|&(_, c)| c == '\n')?;
        line += 1;
    }
}

/// Collects problems for one file.
pub struct Reader<'a> {
    pub file: &'a str,
    pub problems: &'a mut Vec<Problem>,
}

impl Reader<'_> {
    pub fn error(&mut self, span: &Span, message: impl Into<String>) {
        let (line, col) = pos(span);
        self.problems.push(Problem::error(self.file, line, col, message));
    }

    pub fn warning(&mut self, span: &Span, message: impl Into<String>) {
        let (line, col) = pos(span);
        self.problems.push(Problem::warning(self.file, line, col, message));
    }

    /// Parses a whole file; a syntax error is reported at its position.
    pub fn parse(&mut self, text: &str) -> Option<Node> {
        use marked_yaml::LoadError as E;
        let opts = marked_yaml::LoaderOptions::default().error_on_duplicate_keys(true);
        match marked_yaml::parse_yaml_with_options(0, text, opts) {
            Ok(node) => Some(node),
            Err(e) => {
                let (marker, msg) = match &e {
                    E::TopLevelMustBeMapping(m) => (*m, "the file must be a mapping".to_string()),
                    E::TopLevelMustBeSequence(m) => (*m, "the file must be a sequence".to_string()),
                    E::UnexpectedAnchor(m) => (*m, "anchors are not supported".to_string()),
                    E::MappingKeyMustBeScalar(m) => (*m, "mapping keys must be plain".to_string()),
                    E::UnexpectedTag(m) => (*m, "tags are not supported".to_string()),
                    E::ScanError(m, s) => scan_error(text, *m, s.info()),
                    E::DuplicateKey(d) => {
                        let m = d.key.span().start().copied().unwrap_or(marked_yaml::Marker::new(0, 0, 1, 1));
                        (m, format!("duplicate key `{}`", d.key.as_str()))
                    }
                };
                self.problems.push(Problem::error(self.file, marker.line(), marker.column(), msg));
                None
            }
        }
    }

    pub fn mapping<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedMappingNode> {
        let m = node.as_mapping();
        if m.is_none() {
            self.error(node.span(), format!("{what} must be a mapping"));
        }
        m
    }

    pub fn sequence<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match node {
            Node::Sequence(s) => Some(s.as_slice()),
            _ => {
                self.error(node.span(), format!("{what} must be a list"));
                None
            }
        }
    }

    pub fn scalar<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n MarkedScalarNode> {
        let s = node.as_scalar();
        if s.is_none() {
            self.error(node.span(), format!("{what} must be a single value"));
        }
        s
    }

    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        let s = self.scalar(node, what)?;
        if s.as_str().trim().is_empty() || is_null(node) {
            self.error(node.span(), format!("{what} must not be empty"));
            return None;
        }
        Some(s.as_str().to_string())
    }

    pub fn parsed<T: FromStr>(&mut self, node: &Node, what: &str, expected: &str) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        let s = self.scalar(node, what)?;
        match s.as_str().parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                let detail = e.to_string();
                let detail = if detail.contains('`') { detail } else { expected.to_string() };
                self.error(node.span(), format!("{what}: `{}` is not {detail}", s.as_str()));
                None
            }
        }
    }

    pub fn date(&mut self, node: &Node, what: &str) -> Option<NaiveDate> {
        let s = self.scalar(node, what)?;
        match crate::domain::iso_date(s.as_str()) {
            Ok(d) => Some(d),
            Err(why) => {
                self.error(node.span(), format!("{what}: `{}` {why}", s.as_str()));
                None
            }
        }
    }

    /// A decimal written as a string or a plain number; more than `max_scale` decimals is an error.
    pub fn decimal(&mut self, node: &Node, what: &str, max_scale: u32) -> Option<Decimal> {
        let s = self.scalar(node, what)?;
        match Decimal::from_str_exact(s.as_str().trim()) {
            Ok(d) if d.scale() > max_scale => {
                self.error(node.span(), format!("{what}: `{}` has more than {max_scale} decimals", s.as_str()));
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                self.error(node.span(), format!("{what}: `{}` is not a decimal number", s.as_str()));
                None
            }
        }
    }

    pub fn strings(&mut self, node: &Node, what: &str) -> Vec<(String, Span)> {
        let Some(items) = self.sequence(node, what) else { return vec![] };
        items.iter().filter_map(|n| self.string(n, what).map(|s| (s, *n.span()))).collect()
    }
}

/// Where to point at a mapping as a whole: its first key (a block mapping's own start marker
/// sits after that key).
pub fn start_of(map: &MarkedMappingNode) -> Span {
    map.keys().next().map_or(*map.span(), |k| *k.span())
}

/// True for `null`, `~` and an empty value written without quotes.
pub fn is_null(node: &Node) -> bool {
    node.as_scalar().is_some_and(|s| s.may_coerce() && matches!(s.as_str(), "" | "null" | "~" | "Null" | "NULL"))
}

/// The fields of one mapping: hands them out by name and reports the ones nobody asked for.
pub struct Fields<'n> {
    map: &'n MarkedMappingNode,
    what: &'static str,
    seen: HashSet<&'static str>,
}

impl<'n> Fields<'n> {
    pub fn new(map: &'n MarkedMappingNode, what: &'static str) -> Self {
        Fields { map, what, seen: HashSet::new() }
    }

    pub fn span(&self) -> Span {
        start_of(self.map)
    }

    /// A field that may be absent.
    pub fn opt(&mut self, key: &'static str) -> Option<&'n Node> {
        self.seen.insert(key);
        self.map.get_node(key)
    }

    /// A field that must be present (and not null).
    pub fn req(&mut self, r: &mut Reader, key: &'static str) -> Option<&'n Node> {
        match self.opt(key) {
            Some(n) if !is_null(n) => Some(n),
            Some(n) => {
                r.error(n.span(), format!("`{key}` of {} must have a value", self.what));
                None
            }
            None => {
                r.error(&start_of(self.map), format!("{} is missing `{key}`", self.what));
                None
            }
        }
    }

    /// The required text field `id`, with what `check` says of it (given the id and its line; an
    /// error, if any) reported at its position.
    pub fn id(&mut self, r: &mut Reader, check: impl FnOnce(&str, usize) -> Option<String>) -> Option<String> {
        let node = self.req(r, "id")?;
        let id = r.string(node, "`id`")?;
        if let Some(why) = check(&id, pos(node.span()).0) {
            r.error(node.span(), why);
        }
        Some(id)
    }

    /// Reports every key that was not asked for, at the key's own position.
    pub fn finish(self, r: &mut Reader) {
        for key in self.map.keys() {
            if !self.seen.contains(key.as_str()) {
                let known: Vec<_> = {
                    let mut k: Vec<_> = self.seen.iter().copied().collect();
                    k.sort_unstable();
                    k
                };
                r.error(
                    key.span(),
                    format!("unknown field `{}` in {} (known: {})", key.as_str(), self.what, known.join(", ")),
                );
            }
        }
    }
}
