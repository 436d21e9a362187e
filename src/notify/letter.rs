//! Printed letters: the notice for an account without a working billing email, on paper (pure).
//!
//! A letter is its own template (`letter.html`): dated the run's as-of day, on the sender's
//! letterhead (the workspace's `remit_to` lines), with the customer's postal address where a left
//! window envelope shows it, and no email-only wording. Each account's letter is one HTML file;
//! a day's letters are also gathered into one print-ready file (a page break between letters),
//! built here from the per-account files.

use crate::domain::{Contact, ContactRole, LegacyAccount};

/// The contact a letter is addressed to: the Bill To contact when it has a postal address, else
/// the Sold To one when it does (as `switch` decides whether a letter can reach the account).
pub fn postal_contact(acct: &LegacyAccount) -> Option<&Contact> {
    [ContactRole::BillTo, ContactRole::SoldTo]
        .into_iter()
        .filter_map(|r| acct.contact(r))
        .find(|c| c.has_postal_address())
}

/// The lines of the address block: the account's name, the contact person, the street lines,
/// `City, ST 12345` (or `City 12345` without a state), and the country. Just the name when the
/// account has no postal address (such a letter can be previewed, not mailed).
pub fn address_lines(account_name: &str, contact: Option<&Contact>) -> Vec<String> {
    let mut out = vec![account_name.trim().to_string()];
    let Some(c) = contact.filter(|c| c.has_postal_address()) else { return out };
    let person = format!("{} {}", c.first_name.trim(), c.last_name.trim()).trim().to_string();
    if !person.is_empty() && person != out[0] {
        out.push(format!("Attn: {person}"));
    }
    out.extend([c.address1.trim(), c.address2.trim()].into_iter().filter(|l| !l.is_empty()).map(String::from));
    let mut city = c.city.trim().to_string();
    if !c.state.trim().is_empty() {
        city.push_str(&format!(", {}", c.state.trim()));
    }
    if !c.postal_code.trim().is_empty() {
        city.push_str(&format!(" {}", c.postal_code.trim()));
    }
    out.push(city);
    out.push(c.country.trim().to_string());
    out
}

/// The file name of one account's letter (as the email's outbox file: wave, account, first new bill date).
pub fn letter_file_name(wave: &str, account: &str, first_new_bill: chrono::NaiveDate) -> String {
    format!("{wave}-{account}-{first_new_bill}.html")
}

/// The file name of a day's letters of a wave, beside the per-account letters.
pub fn day_file_name(wave: &str, day: chrono::NaiveDate) -> String {
    format!("{wave}-{day}-letters.html")
}

/// Whether `path` is a day's document of letters ([`day_file_name`]), not a letter.
pub fn is_day_file(path: &std::path::Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("-letters.html"))
}

/// One print-ready document holding `letters` (each a whole HTML document, in the order given):
/// the first letter's head (its styles), then each letter's body, so each `article.letter`
/// starts on a new page. A letter without a `<body>` (a workspace template written otherwise)
/// is taken whole, in a block that starts a new page.
pub fn day_document(letters: &[String]) -> String {
    let head = letters
        .iter()
        .find_map(|l| body_bounds(l).map(|(open, _)| l[..open].to_string()))
        .unwrap_or_else(|| "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"></head><body>\n".into());
    let mut out = head;
    for (i, l) in letters.iter().enumerate() {
        match body_bounds(l) {
            Some((open, close)) => out.push_str(&l[open..close]),
            None => {
                let style = if i + 1 < letters.len() { " style=\"break-after: page\"" } else { "" };
                out.push_str(&format!("<div class=\"letter-whole\"{style}>\n{l}\n</div>\n"));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// Where the content of a document's body starts (after `<body …>`) and ends (at `</body>`).
fn body_bounds(doc: &str) -> Option<(usize, usize)> {
    let lower = doc.to_ascii_lowercase();
    let tag = lower.find("<body")?;
    let open = tag + lower[tag..].find('>')? + 1;
    let close = lower.rfind("</body>")?;
    (close >= open).then_some((open, close))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Contact;

    fn contact(role: ContactRole, address1: &str, city: &str, state: &str, country: &str) -> Contact {
        Contact {
            account_number: "A001".into(),
            role: Some(role),
            first_name: "Dana".into(),
            last_name: "Nguyen".into(),
            address1: address1.into(),
            city: city.into(),
            state: state.into(),
            postal_code: "97204".into(),
            country: country.into(),
            ..Contact::default()
        }
    }

    #[test]
    fn the_address_block_is_name_person_street_city_country() {
        let pdx = contact(ContactRole::BillTo, "100 SW Main St", "Portland", "OR", "US");
        let berlin = contact(ContactRole::BillTo, "Hauptstr. 1", "Berlin", "", "DE");
        let no_city = contact(ContactRole::BillTo, "100 SW Main St", "", "OR", "US");
        // (contact, lines)
        let table: [(Option<&Contact>, &[&str]); 4] = [
            (Some(&pdx), &["Cascade", "Attn: Dana Nguyen", "100 SW Main St", "Portland, OR 97204", "US"]),
            (Some(&berlin), &["Cascade", "Attn: Dana Nguyen", "Hauptstr. 1", "Berlin 97204", "DE"]),
            (Some(&no_city), &["Cascade"]),
            (None, &["Cascade"]),
        ];
        for (c, want) in table {
            assert_eq!(address_lines(" Cascade ", c), want, "{c:?}");
        }
    }

    #[test]
    fn a_letter_goes_to_bill_to_then_sold_to_with_an_address() {
        use crate::domain::{Account, AccountStatus, Segment};
        let mut a = LegacyAccount::new(Account {
            account_number: "A001".into(),
            name: "Cascade".into(),
            segment: Segment::Colocation,
            site: None,
            currency: "USD".into(),
            bill_cycle_day: 1,
            bill_to_email: vec![],
            status: AccountStatus::Active,
        });
        assert!(postal_contact(&a).is_none());
        a.contacts = vec![
            contact(ContactRole::SoldTo, "1 Pine St", "Seattle", "WA", "US"),
            contact(ContactRole::BillTo, "", "Portland", "OR", "US"),
        ];
        assert_eq!(postal_contact(&a).map(|c| c.city.as_str()), Some("Seattle"), "bill-to has no street");
        a.contacts[1].address1 = "100 SW Main St".into();
        assert_eq!(postal_contact(&a).map(|c| c.city.as_str()), Some("Portland"));
    }

    #[test]
    fn a_day_document_holds_each_letter_body_once_under_one_head() {
        let doc = |n: &str| {
            format!(
                "<!DOCTYPE html><html><head><style>x</style></head>\n<body class=\"b\">\n<article class=\"letter\">{n}</article>\n</body></html>\n"
            )
        };
        let day = day_document(&[doc("one"), doc("two"), "<p>three</p>".into()]);
        assert_eq!(day.matches("<style>x</style>").count(), 1, "{day}");
        assert_eq!(day.matches("<body").count(), 1, "{day}");
        assert_eq!(day.matches("</body>").count(), 1, "{day}");
        for n in ["one", "two", "<p>three</p>"] {
            assert_eq!(day.matches(n).count(), 1, "{n} in {day}");
        }
        assert!(day.find("one").unwrap() < day.find("two").unwrap());
        assert_eq!(day_document(&[doc("one")]), doc("one").replace("</body></html>\n", "") + "</body></html>\n");
    }
}
