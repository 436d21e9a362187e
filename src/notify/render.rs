//! Renders notices from templates: the team's own in the workspace's `templates/` folder when
//! present, else the built-in ones. HTML parts are auto-escaped.

use minijinja::{Environment, Value, context};
use std::path::Path;

/// The built-in templates, by file name; a file of the same name in the workspace's `templates/`
/// folder replaces one (`cutover init` writes them there to edit).
pub const BUILTIN: [(&str, &str); 3] = [
    ("notice.subject.txt", include_str!("templates/notice.subject.txt")),
    ("notice.txt", include_str!("templates/notice.txt")),
    ("notice.html", include_str!("templates/notice.html")),
];

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name}: {source}")]
    Template { name: String, source: minijinja::Error },
    #[error("template {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// What a notice says about one account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NoticeData {
    pub company: String,
    pub account_number: String,
    pub account_name: String,
    pub wave_name: String,
    pub first_new_bill_date: String,
    pub cutover_date: String,
    pub recipients: Vec<String>,
    pub remit_to: Vec<String>,
    /// The customer's first new bill, re-rated from their services (recurring and one-time lines;
    /// usage is billed in arrears and is not known yet).
    pub preview: Vec<PreviewLine>,
    pub preview_total: Option<String>,
    pub currency: String,
    pub has_usage: bool,
    /// Which usage period the first new bill, or a final legacy bill, carries (SPEC §4), in
    /// plain words; for accounts with metered services.
    pub usage_note: Option<String>,
    /// A plain note when the total changes, and why.
    pub change_note: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PreviewLine {
    pub group: String,
    pub product: String,
    pub charge: String,
    pub service_period: String,
    pub amount: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Renderer {
    env: Environment<'static>,
}

impl Renderer {
    /// Built-in templates, overridden by any file of the same name in `dir`.
    pub fn new(dir: Option<&Path>) -> Result<Renderer, RenderError> {
        let mut env = Environment::new();
        env.set_keep_trailing_newline(true);
        for (name, builtin) in BUILTIN {
            let src = match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
                Some(p) => std::fs::read_to_string(&p)
                    .map_err(|source| RenderError::Io { path: p.display().to_string(), source })?,
                None => builtin.to_string(),
            };
            env.add_template_owned(name, src).map_err(|source| RenderError::Template { name: name.into(), source })?;
        }
        Ok(Renderer { env })
    }

    pub fn render(&self, data: &NoticeData) -> Result<Rendered, RenderError> {
        let r = |name: &str, ctx: Value| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(ctx))
                .map_err(|source| RenderError::Template { name: name.into(), source })
        };
        let subject = r("notice.subject.txt", Value::from_serialize(data))?;
        // A subject is one line, whatever the template or the data hold.
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let ctx = context! { subject => subject.clone(), ..Value::from_serialize(data) };
        Ok(Rendered { text: r("notice.txt", ctx.clone())?, html: r("notice.html", ctx)?, subject })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> NoticeData {
        NoticeData {
            company: "Atmosera".into(),
            account_number: "A000001".into(),
            account_name: "Cascade <Logistics> & Co".into(),
            wave_name: "Data Center 1 (DC1) colocation customers".into(),
            first_new_bill_date: "July 1, 2017".into(),
            cutover_date: "June 30, 2017".into(),
            recipients: vec!["ap@cascade.example.com".into()],
            remit_to: vec!["Atmosera, Inc.".into(), "P.O. Box 2712".into(), "Portland, OR 97208-2712".into()],
            preview: vec![PreviewLine {
                group: "Colocation Space".into(),
                product: "Colocation - Full Cabinet (42U)".into(),
                charge: "Cabinet Space".into(),
                service_period: "2017-07-01 – 2017-07-31".into(),
                amount: "1200.00".into(),
            }],
            preview_total: Some("1200.00".into()),
            currency: "USD".into(),
            has_usage: true,
            usage_note: Some("Your usage from July 1, 2017 to July 31, 2017, the last period of the old system, will be on your first new bill".into()),
            change_note: Some("Your recurring and one-time charges come to 1200.00 USD on your first new bill, against 1250.00 on your last bill.".into()),
        }
    }

    #[test]
    fn notice_says_when_what_changes_and_where_to_pay() {
        let r = Renderer::new(None).unwrap().render(&data()).unwrap();
        assert_eq!(r.subject, "Your Atmosera bill is changing on July 1, 2017");
        for needle in [
            "July 1, 2017",
            "P.O. Box 2712",
            "Portland, OR 97208-2712",
            "credit card",
            "stub",
            "A000001",
            "Colocation - Full Cabinet (42U)",
            "1200.00",
            "against 1250.00 on your last bill",
            "ap@cascade.example.com",
            "Your usage from July 1, 2017 to July 31, 2017",
        ] {
            assert!(r.text.contains(needle), "text lacks {needle}");
            assert!(r.html.contains(needle), "html lacks {needle}");
        }
        // HTML is escaped, text is not.
        assert!(r.html.contains("Cascade &lt;Logistics&gt; &amp; Co"));
        assert!(r.text.contains("Cascade <Logistics> & Co"));
    }

    #[test]
    fn workspace_templates_override_builtins() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notice.subject.txt"), "Changes for {{ account_number }}\r\nBcc: x@y").unwrap();
        let r = Renderer::new(Some(dir.path())).unwrap().render(&data()).unwrap();
        assert_eq!(r.subject, "Changes for A000001 Bcc: x@y", "one line, no header break");
    }
}
