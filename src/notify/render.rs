//! Renders notices from templates: the team's own in the workspace's `templates/` folder when
//! present, else the built-in ones. HTML parts are auto-escaped.

use minijinja::{Environment, Value, context};
use std::path::Path;

/// The built-in templates, by file name; a file of the same name in the workspace's `templates/`
/// folder replaces one (`cutover init` writes them there to edit).
pub const BUILTIN: [(&str, &str); 4] =
    embedded!("templates/", "notice.subject.txt", "notice.txt", "notice.html", "letter.html");

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {name}: {source}")]
    Template { name: String, source: minijinja::Error },
    #[error("template {path}: {cause}")]
    Io { path: String, cause: std::io::Error },
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
    /// Whether "your services and contracted prices stay the same" is true for this account (no
    /// price, missing or extra charge among its reconciliation's differences).
    pub prices_unchanged: bool,
    /// The customer's personal portal link (`base_url/c/<token>`), when the workspace runs the
    /// portal; the email and the letter carry it.
    pub portal_url: Option<String>,
    /// The first new bill date an earlier notice gave this customer, when it differs from this
    /// one's (the account was held, rolled back or rescheduled since): that date no longer holds.
    pub earlier_first_new_bill_date: Option<String>,
}

/// Why an account's recurring and one-time charges differ between its last legacy bill and its
/// first new one, in plain words, from the reasons its reconciliation found (pure). Returns
/// whether its services and contracted prices stay the same, and the sentences that explain a
/// change. Usage reasons are left out: the preview carries no usage.
pub fn change_explained(reasons: &[crate::reconcile::Reason]) -> (bool, Vec<&'static str>) {
    use crate::reconcile::Reason as R;
    let mut said = Vec::new();
    let mut same = true;
    for r in R::ALL.iter().filter(|r| reasons.contains(r)) {
        let (changes_price, words) = match r {
            R::PriceDifference => (
                true,
                "a price now follows your contract: the old system billed a different price for the same service",
            ),
            R::ExtraLine => (true, "a service you have is now billed that the old system did not bill"),
            R::MissingLine => {
                (true, "a charge the old system billed is not among your services and is no longer billed")
            }
            R::UnmappedProduct => {
                (true, "a charge of the old system has no product in the new system and is not carried over")
            }
            R::Unexplained => (true, "a difference our billing team reviewed with your account in mind"),
            R::ProrationConvention => (
                false,
                "partial months are now prorated by the actual days in the month rather than a 30-day month, \
                 so a partial month can differ by a few cents to a few dollars",
            ),
            R::Rounding => (false, "each line is now rounded to the cent on its own"),
            R::UsageDifference | R::ServicePeriod => continue,
        };
        same &= !changes_price;
        said.push(words);
    }
    (same, said)
}

/// Wraps plain text at word boundaries so no line is longer than `width` characters (a word longer
/// than that stands on its own line). Plain-text mail reads best within 78 columns. A paragraph
/// that is a list item (`- `) continues under its text, not under the dash.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    for (i, para) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let indent = if para.starts_with("- ") { "  " } else { "" };
        out.push_str(&crate::output::wrap_words(para.split(' ').filter(|w| !w.is_empty()), width, indent));
    }
    out
}

/// What a printed letter says: the notice's facts, plus what paper needs (see [`crate::notify::letter`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LetterData {
    #[serde(flatten)]
    pub notice: NoticeData,
    /// The letter's date: the run's as-of day, in words.
    pub letter_date: String,
    /// The sender's letterhead: the workspace's `remit_to` lines (the company's name first).
    pub letterhead: Vec<String>,
    /// The return address, on one line above the window.
    pub return_address: String,
    /// The customer's postal address, one line each (just the name when there is none).
    pub address: Vec<String>,
    /// Whether `address` is a postal address a letter can be mailed to.
    pub mailable: bool,
    /// Where a customer can email questions (the sender's address), if any.
    pub contact_email: Option<String>,
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
        env.add_filter("wrap", |text: String| wrap(&text, 78));
        for (name, builtin) in BUILTIN {
            let src = match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
                Some(p) => std::fs::read_to_string(&p)
                    .map_err(|cause| RenderError::Io { path: p.display().to_string(), cause })?,
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

    /// The printed letter: one whole HTML document (auto-escaped).
    pub fn render_letter(&self, data: &LetterData) -> Result<String, RenderError> {
        self.env
            .get_template("letter.html")
            .and_then(|t| t.render(Value::from_serialize(data)))
            .map_err(|source| RenderError::Template { name: "letter.html".into(), source })
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;

    pub fn data() -> NoticeData {
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
            prices_unchanged: true,
            portal_url: None,
            earlier_first_new_bill_date: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::data;
    use super::*;

    #[test]
    fn a_change_is_explained_and_prices_stay_the_same_only_when_true() {
        use crate::reconcile::Reason as R;
        // (reasons found, prices stay the same, sentences start with)
        let table: [(&[R], bool, &[&str]); 6] = [
            (&[], true, &[]),
            (&[R::ProrationConvention], true, &["partial months are now prorated"]),
            (&[R::Rounding, R::ProrationConvention], true, &["partial months", "each line is now rounded"]),
            (&[R::PriceDifference], false, &["a price now follows your contract"]),
            (&[R::UsageDifference, R::ServicePeriod], true, &[]),
            (&[R::ExtraLine, R::MissingLine], false, &["a charge the old system billed", "a service you have"]),
        ];
        for (reasons, same, starts) in table {
            let (got_same, said) = change_explained(reasons);
            assert_eq!(got_same, same, "{reasons:?}");
            assert_eq!(said.len(), starts.len(), "{reasons:?}: {said:?}");
            for (s, w) in said.iter().zip(starts) {
                assert!(s.starts_with(w), "{s}");
            }
        }
    }

    #[test]
    fn plain_text_lines_stay_within_78_characters() {
        // (text, width, wrapped)
        let table = [
            ("a b c", 3, "a b\nc"),
            ("short", 78, "short"),
            ("one\ntwo words", 4, "one\ntwo\nwords"),
            ("averyveryverylongword x", 5, "averyveryverylongword\nx"),
            ("- a list item wraps", 10, "- a list\n  item\n  wraps"),
        ];
        for (text, width, want) in table {
            assert_eq!(wrap(text, width), want, "{text:?}");
        }
        let long = NoticeData { usage_note: Some("word ".repeat(60)), change_note: Some("more ".repeat(60)), ..data() };
        let r = Renderer::new(None).unwrap().render(&long).unwrap();
        let widest = r.text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(widest <= 78, "a line of {widest} characters:\n{}", r.text);
    }

    #[test]
    fn services_and_prices_are_said_to_stay_only_when_they_do() {
        let r = Renderer::new(None).unwrap();
        let same = r.render(&data()).unwrap();
        assert!(
            same.text.contains("contracted prices stay the same")
                && same.html.contains("contracted prices stay the same")
        );
        let changed = r.render(&NoticeData { prices_unchanged: false, ..data() }).unwrap();
        assert!(!changed.text.contains("stay the same") && !changed.html.contains("stay the same"));
    }

    #[test]
    fn a_portal_link_replaces_the_website_form_only_when_there_is_one() {
        let r = Renderer::new(None).unwrap();
        let url = "https://billing.example/c/abcDEF_-123";
        let with = r.render(&NoticeData { portal_url: Some(url.into()), ..data() }).unwrap();
        // In HTML the URL is escaped like every value (`/` as `&#x2f;`, which a browser reads back).
        let escaped = url.replace('/', "&#x2f;");
        assert!(with.text.contains(url), "{}", with.text);
        assert!(with.html.contains(&format!("<a href=\"{escaped}\">your personal page</a>")), "{}", with.html);
        assert!(!with.text.contains("submission form on our website"));
        let widest = with.text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        assert!(widest <= 78, "{}", with.text);
        let without = r.render(&data()).unwrap();
        assert!(!without.text.contains("/c/") && without.text.contains("submission form on our website"));
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

#[cfg(test)]
mod letter_tests {
    use super::tests_support::data;
    use super::*;

    fn letter(address: &[&str], portal_url: Option<&str>) -> LetterData {
        LetterData {
            notice: NoticeData { recipients: vec![], portal_url: portal_url.map(String::from), ..data() },
            letter_date: "May 15, 2017".into(),
            letterhead: vec!["Atmosera, Inc.".into(), "P.O. Box 2712".into(), "Portland, OR 97208-2712".into()],
            return_address: "Atmosera, Inc., P.O. Box 2712, Portland, OR 97208-2712".into(),
            address: address.iter().map(|l| l.to_string()).collect(),
            mailable: address.len() > 1,
            contact_email: Some("billing@atmosera.example".into()),
        }
    }

    /// The text between `<address class="address">` and `</address>`.
    fn address_block(html: &str) -> &str {
        let start = html.find("<address class=\"address\">").map(|i| i + 25).unwrap_or(0);
        let end = html[start..].find("</address>").map_or(html.len(), |i| start + i);
        &html[start..end]
    }

    #[test]
    fn a_letter_has_the_date_the_letterhead_and_the_address_in_the_window_and_no_email_wording() {
        let r = Renderer::new(None).unwrap();
        let html = r
            .render_letter(&letter(
                &["Cascade <Logistics> & Co", "Attn: Dana Nguyen", "100 SW Main St", "Portland, OR 97204", "US"],
                None,
            ))
            .unwrap();
        assert_eq!(
            address_block(&html),
            "Cascade &lt;Logistics&gt; &amp; Co<br>Attn: Dana Nguyen<br>100 SW Main St<br>Portland, OR 97204<br>US<br>"
        );
        assert!(html.contains("<strong class=\"date\">May 15, 2017</strong>"), "{html}");
        assert!(html.contains("<div class=\"company\">Atmosera, Inc.</div>"));
        assert!(html.contains("<div class=\"return\">Atmosera, Inc., P.O. Box 2712, Portland, OR 97208-2712</div>"));
        // The same facts as the email.
        for needle in [
            "July 1, 2017",
            "June 30, 2017",
            "A000001",
            "Colocation - Full Cabinet (42U)",
            "1200.00",
            "against 1250.00",
        ] {
            assert!(html.contains(needle), "the letter lacks {needle}");
        }
        assert!(html.contains("Your usage from July 1, 2017 to July 31, 2017"));
        assert!(html.contains("billing email submission form"), "says how to send billing addresses");
        for email_only in ["reply to this email", "Reply to this email", "sent by email by default", "portal"] {
            assert!(!html.contains(email_only), "the letter says {email_only:?}");
        }
    }

    #[test]
    fn a_letter_without_an_address_still_renders_and_a_portal_link_shows_only_when_there_is_one() {
        let r = Renderer::new(None).unwrap();
        let html = r.render_letter(&letter(&["Cascade"], None)).unwrap();
        assert_eq!(address_block(&html), "Cascade<br>");
        assert!(html.contains("May 15, 2017") && html.contains("A000001"));
        let with = r.render_letter(&letter(&["Cascade"], Some("https://portal.example/a/A000001"))).unwrap();
        // (minijinja escapes `/` too; a browser shows the link as given)
        assert!(
            with.contains("<span class=\"portal\">https:&#x2f;&#x2f;portal.example&#x2f;a&#x2f;A000001</span>"),
            "{with}"
        );
    }

    #[test]
    fn a_letter_after_a_refused_email_says_so() {
        let r = Renderer::new(None).unwrap();
        let mut l = letter(&["Cascade"], None);
        l.notice.recipients = vec!["ap@cascade.example.com".into()];
        let html = r.render_letter(&l).unwrap();
        assert!(html.contains("Our email to ap@cascade.example.com could\nnot be delivered"), "{html}");
        assert!(!r.render_letter(&letter(&["Cascade"], None)).unwrap().contains("could\nnot be delivered"));
    }
}
