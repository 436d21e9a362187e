//! One parser for legacy rows, whatever their source.

use crate::domain::{Account, AccountStatus, Contact, ContactRole, Decimal, LegacyLine, Period, Service, Usage};
use chrono::NaiveDate;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Accounts,
    Services,
    Usage,
    LegacyInvoiceLines,
    /// Optional (SPEC §2 extended): Bill To / Sold To contacts and postal addresses.
    Contacts,
}

impl Table {
    pub const ALL: [Table; 5] =
        [Table::Accounts, Table::Services, Table::Usage, Table::LegacyInvoiceLines, Table::Contacts];

    /// A table the source may lack altogether (no file, no SQL table): then it is empty.
    pub const fn may_be_absent(self) -> bool {
        matches!(self, Table::Contacts)
    }

    /// The table (and CSV file stem) name of SPEC §2.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Accounts => "accounts",
            Table::Services => "services",
            Table::Usage => "usage",
            Table::LegacyInvoiceLines => "legacy_invoice_lines",
            Table::Contacts => "contacts",
        }
    }

    /// The columns, in the order [`RawRow::fields`] holds them.
    pub const fn columns(self) -> &'static [&'static str] {
        match self {
            Table::Accounts => {
                &["account_number", "name", "segment", "site", "currency", "bill_cycle_day", "bill_to_email", "status"]
            }
            Table::Services => &[
                "account_number",
                "service_id",
                "legacy_code",
                "description",
                "quantity",
                "unit_price",
                "start_date",
                "end_date",
            ],
            Table::Usage => &["account_number", "service_id", "legacy_code", "usage_date", "quantity", "uom"],
            Table::LegacyInvoiceLines => &[
                "account_number",
                "invoice_number",
                "period",
                "legacy_code",
                "description",
                "service_start",
                "service_end",
                "quantity",
                "unit_price",
                "amount",
            ],
            Table::Contacts => &[
                "account_number",
                "role",
                "first_name",
                "last_name",
                "work_email",
                "phone",
                "address1",
                "address2",
                "city",
                "state",
                "postal_code",
                "country",
            ],
        }
    }

    /// Columns a file or table may leave out of its header, with a warning: text no bill, date or
    /// amount is computed from. Every other SPEC §2 column must be in the header; a missing one is
    /// an error for the whole file (a missing `bill_cycle_day` would put every account on the 1st,
    /// a missing `status` would notify closed accounts, a missing `end_date` would make every
    /// service open-ended).
    pub fn may_leave_out(self, col: &str) -> bool {
        matches!(
            (self, col),
            (Table::Services, "description")
                | (Table::Usage, "service_id" | "uom")
                | (Table::LegacyInvoiceLines, "description" | "invoice_number")
        )
    }

    /// Checks a header against SPEC §2: `Ok(warnings)` for columns left out that may be, or an
    /// error naming every missing (or repeated) column at once. Extra columns are ignored.
    pub fn check_header<S: AsRef<str>>(self, header: &[S]) -> Result<Vec<String>, String> {
        let has = |col: &str| header.iter().filter(|h| h.as_ref() == col).count();
        let missing: Vec<&str> =
            self.columns().iter().copied().filter(|c| has(c) == 0 && !self.may_leave_out(c)).collect();
        let twice: Vec<&str> = self.columns().iter().copied().filter(|c| has(c) > 1).collect();
        let mut errors = Vec::new();
        if !missing.is_empty() {
            errors.push(format!("missing column(s): {} (SPEC §2)", missing.join(", ")));
        }
        if !twice.is_empty() {
            errors.push(format!("column(s) named twice: {}", twice.join(", ")));
        }
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        Ok(self
            .columns()
            .iter()
            .filter(|c| has(c) == 0)
            .map(|c| format!("no `{c}` column: every row's {c} is taken as empty"))
            .collect())
    }

    /// Where `col` is in [`Table::columns`].
    fn index(self, col: &str) -> Option<usize> {
        self.columns().iter().position(|c| *c == col)
    }

    /// Columns that may be empty.
    fn optional(self, col: &str) -> bool {
        matches!(
            (self, col),
            (Table::Accounts, "site" | "currency" | "bill_cycle_day" | "bill_to_email" | "status" | "name")
                | (Table::Services, "end_date" | "description")
                | (Table::Usage, "service_id" | "uom")
                | (Table::LegacyInvoiceLines, "description" | "service_start" | "service_end" | "invoice_number")
                | (
                    Table::Contacts,
                    "first_name"
                        | "last_name"
                        | "work_email"
                        | "phone"
                        | "address1"
                        | "address2"
                        | "city"
                        | "state"
                        | "postal_code"
                        | "country"
                )
        )
    }
}

/// A row as read: its place in the source, and its fields in [`Table::columns`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRow {
    pub table: Table,
    /// Where it was read (a file, or a database and table); shared by the rows of one source.
    pub source: std::sync::Arc<str>,
    /// 1-based line in a CSV file (the header is line 1), or 1-based row in a SQL table.
    pub row: u64,
    pub fields: Fields,
}

/// A row's fields as read, in one text: each is a piece of it, and an empty one is `None` (empty
/// and NULL are the same to the parser). Two allocations a row instead of one a field: an
/// extraction reads millions of rows (issue 11).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields {
    text: String,
    ends: Vec<usize>,
}

impl Fields {
    /// Room for `fields` fields of `bytes` bytes in all.
    pub fn with_capacity(fields: usize, bytes: usize) -> Fields {
        Fields { text: String::with_capacity(bytes), ends: Vec::with_capacity(fields) }
    }

    /// Appends a field (`None` or empty: none).
    pub fn push(&mut self, field: Option<&str>) {
        self.text.push_str(field.unwrap_or(""));
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`: `None` when it is empty or there is no such field.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end).filter(|f| !f.is_empty())
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = Option<&str>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// `f` of the fields from `from` on, borrowed as a slice: on the stack when there are at most
    /// 16 (no table has more columns; contacts has 12).
    pub fn as_slice_from<'a, R>(&'a self, from: usize, f: impl FnOnce(&[Option<&'a str>]) -> R) -> R {
        let n = self.len().saturating_sub(from);
        let mut cells: [Option<&str>; 16] = [None; 16];
        if n > cells.len() {
            return f(&self.iter().skip(from).collect::<Vec<_>>());
        }
        for (c, f) in cells.iter_mut().zip(self.iter().skip(from)) {
            *c = f;
        }
        f(&cells[..n])
    }
}

impl<'a> FromIterator<Option<&'a str>> for Fields {
    fn from_iter<I: IntoIterator<Item = Option<&'a str>>>(fields: I) -> Fields {
        let mut out = Fields::default();
        for f in fields {
            out.push(f);
        }
        out
    }
}

impl RawRow {
    pub fn get(&self, col: &str) -> Option<&str> {
        self.fields.get(self.table.index(col)?)
    }

    pub fn account_number(&self) -> Option<&str> {
        self.get("account_number")
    }

    /// The row as `col=value` pairs, for the quarantine.
    pub fn display(&self) -> String {
        self.table
            .columns()
            .iter()
            .zip(self.fields.iter())
            .map(|(c, v)| format!("{c}={}", v.unwrap_or("")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Serialized without a tag: the stored JSON is the record itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Record {
    Account(Account),
    Service(Service),
    Usage(Usage),
    Line(LegacyLine),
    Contact(Contact),
}

impl Record {
    pub fn account_number(&self) -> &str {
        match self {
            Record::Account(a) => &a.account_number,
            Record::Service(s) => &s.account_number,
            Record::Usage(u) => &u.account_number,
            Record::Line(l) => &l.account_number,
            Record::Contact(c) => &c.account_number,
        }
    }
}

/// Turns a raw row into a typed record, or says (every reason at once) why it cannot.
pub fn parse_row(raw: &RawRow) -> Result<Record, String> {
    raw.fields.as_slice_from(0, |cells| parse_cells(raw.table, cells))
}

/// [`parse_row`] of borrowed cells (in [`Table::columns`] order, `None` empty): the store reads
/// its extracted records back this way, without a copy of each cell (issue 11).
pub fn parse_cells(table: Table, fields: &[Option<&str>]) -> Result<Record, String> {
    let mut p = Parser { table, fields, problems: Vec::new() };
    for (col, v) in table.columns().iter().zip(fields) {
        if let Some(v) = v {
            // Bytes, not chars: a multi-char pattern decodes every char (issue 11).
            if v.bytes().any(|b| b == b'\r' || b == b'\n') {
                p.problems.push(format!("{col}: contains a line break"));
            }
        } else if !table.optional(col) {
            p.problems.push(format!("{col}: missing"));
        }
    }
    let record = match table {
        Table::Accounts => p.account().map(Record::Account),
        Table::Services => p.service().map(Record::Service),
        Table::Usage => p.usage().map(Record::Usage),
        Table::LegacyInvoiceLines => p.line().map(Record::Line),
        Table::Contacts => p.contact().map(Record::Contact),
    };
    match record {
        Some(r) if p.problems.is_empty() => Ok(r),
        _ => Err(if p.problems.is_empty() { "unreadable row".into() } else { p.problems.join("; ") }),
    }
}

struct Parser<'a> {
    table: Table,
    fields: &'a [Option<&'a str>],
    problems: Vec<String>,
}

impl<'a> Parser<'a> {
    fn text(&mut self, col: &str) -> Option<String> {
        self.cell(col).map(str::to_string)
    }

    /// A cell, trimmed, borrowed: for the cells parsed into something else (dates, amounts).
    fn cell(&self, col: &str) -> Option<&'a str> {
        self.fields.get(self.table.index(col)?).copied().flatten().map(str::trim)
    }

    fn req(&mut self, col: &str) -> Option<String> {
        self.text(col).filter(|s| !s.is_empty())
    }

    /// An account number names files and Message-IDs downstream: letters, digits, `-` and `_`
    /// only, at most 64 of them.
    fn account_number(&mut self) -> Option<String> {
        let n = self.req("account_number")?;
        if n.len() > 64 || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            self.problems.push(format!("account_number: `{n}` must be letters, digits, `-` or `_` (at most 64)"));
            return None;
        }
        Some(n)
    }

    fn date(&mut self, col: &str) -> Option<Option<NaiveDate>> {
        let Some(s) = self.cell(col).filter(|s| !s.is_empty()) else { return Some(None) };
        // Strict where a row comes in (a two-digit year is refused); stored cells are read back
        // by `date_cell`, which still reads what earlier versions let in.
        match crate::domain::iso_date(s) {
            Ok(d) => Some(Some(d)),
            Err(why) => {
                self.problems.push(format!("{col}: `{s}` {why}"));
                None
            }
        }
    }

    fn req_date(&mut self, col: &str) -> Option<NaiveDate> {
        self.date(col).flatten()
    }

    fn decimal(&mut self, col: &str) -> Option<Decimal> {
        let s = self.cell(col)?;
        match Decimal::from_str_exact(s) {
            // Bounded so that rating (quantity x price x days) can never overflow.
            Ok(d) if d.abs() >= Decimal::from(1_000_000_000_000i64) => {
                self.problems.push(format!("{col}: `{s}` is out of range (below 1,000,000,000,000)"));
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                self.problems.push(format!("{col}: `{s}` is not a decimal number"));
                None
            }
        }
    }

    fn non_negative(&mut self, col: &str) -> Option<Decimal> {
        let d = self.decimal(col)?;
        if d.is_sign_negative() {
            self.problems.push(format!("{col}: `{d}` is negative"));
            return None;
        }
        Some(d)
    }

    fn account(&mut self) -> Option<Account> {
        let account_number = self.account_number();
        let name = self.text("name").unwrap_or_default();
        let segment = self.req("segment").and_then(|s| match s.parse() {
            Ok(seg) => Some(seg),
            Err(e) => {
                self.problems.push(format!("segment: {e}"));
                None
            }
        });
        let site = self.text("site").filter(|s| !s.is_empty());
        let currency = self.text("currency").filter(|s| !s.is_empty()).unwrap_or_else(|| "USD".into());
        if !(currency.len() == 3 && currency.chars().all(|c| c.is_ascii_uppercase())) {
            self.problems.push(format!("currency: `{currency}` is not a currency code like USD"));
        }
        let bill_cycle_day = match self.text("bill_cycle_day").filter(|s| !s.is_empty()) {
            None => Some(1),
            Some(s) => match s.parse::<u32>() {
                Ok(d) if (1..=31).contains(&d) => Some(d),
                _ => {
                    self.problems.push(format!("bill_cycle_day: `{s}` is not a day from 1 to 31"));
                    None
                }
            },
        };
        let bill_to_email = self
            .text("bill_to_email")
            .map(|s| s.split(';').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect())
            .unwrap_or_default();
        let status = match self.text("status").filter(|s| !s.is_empty()).as_deref() {
            None | Some("active") => Some(AccountStatus::Active),
            Some("closed") => Some(AccountStatus::Closed),
            Some(other) => {
                self.problems.push(format!("status: `{other}` is not active or closed"));
                None
            }
        };
        Some(Account {
            account_number: account_number?,
            name,
            segment: segment?,
            site,
            currency,
            bill_cycle_day: bill_cycle_day?,
            bill_to_email,
            status: status?,
        })
    }

    fn service(&mut self) -> Option<Service> {
        let account_number = self.account_number();
        let service_id = self.req("service_id");
        let legacy_code = self.req("legacy_code");
        let description = self.text("description").unwrap_or_default();
        let quantity = self.non_negative("quantity");
        let unit_price = self.decimal("unit_price");
        let start_date = self.req_date("start_date");
        let end_date = self.date("end_date");
        if let (Some(s), Some(Some(e))) = (start_date, end_date)
            && e < s
        {
            self.problems.push(format!("end_date {e} is before start_date {s}"));
        }
        Some(Service {
            account_number: account_number?,
            service_id: service_id?,
            legacy_code: legacy_code?,
            description,
            quantity: quantity?,
            unit_price: unit_price?,
            start_date: start_date?,
            end_date: end_date?,
        })
    }

    fn usage(&mut self) -> Option<Usage> {
        let account_number = self.account_number();
        let service_id = self.text("service_id").unwrap_or_default();
        let legacy_code = self.req("legacy_code");
        let usage_date = self.req_date("usage_date");
        let quantity = self.non_negative("quantity");
        let uom = self.text("uom").unwrap_or_default();
        Some(Usage {
            account_number: account_number?,
            service_id,
            legacy_code: legacy_code?,
            usage_date: usage_date?,
            quantity: quantity?,
            uom,
        })
    }

    fn contact(&mut self) -> Option<Contact> {
        let account_number = self.account_number();
        let role = match self.req("role").as_deref() {
            Some("bill_to") => Some(ContactRole::BillTo),
            Some("sold_to") => Some(ContactRole::SoldTo),
            Some(other) => {
                self.problems.push(format!("role: `{other}` is not bill_to or sold_to"));
                None
            }
            None => None,
        };
        let mut t = |c: &str| self.text(c).unwrap_or_default();
        let c = Contact {
            account_number: String::new(),
            role,
            first_name: t("first_name"),
            last_name: t("last_name"),
            work_email: t("work_email"),
            phone: t("phone"),
            address1: t("address1"),
            address2: t("address2"),
            city: t("city"),
            state: t("state"),
            postal_code: t("postal_code"),
            country: t("country"),
        };
        Some(Contact { account_number: account_number?, role: Some(role?), ..c })
    }

    fn line(&mut self) -> Option<LegacyLine> {
        let account_number = self.account_number();
        let invoice_number = self.text("invoice_number").unwrap_or_default();
        let period = self.req("period").and_then(|p| match p.parse::<Period>() {
            Ok(p) => Some(p),
            Err(e) => {
                self.problems.push(format!("period: {e}"));
                None
            }
        });
        let legacy_code = self.req("legacy_code");
        let description = self.text("description").unwrap_or_default();
        let service_start = self.date("service_start");
        let service_end = self.date("service_end");
        let quantity = self.decimal("quantity");
        let unit_price = self.decimal("unit_price");
        let amount = self.decimal("amount");
        Some(LegacyLine {
            account_number: account_number?,
            invoice_number,
            period: period?,
            legacy_code: legacy_code?,
            description,
            service_start: service_start?,
            service_end: service_end?,
            quantity: quantity?,
            unit_price: unit_price?,
            amount: amount?,
        })
    }
}

/// A date cell (trimmed, not empty) as the parser reads it, or `None` when it is not a date.
pub(crate) fn date_cell(s: &str) -> Option<NaiveDate> {
    ymd(s).map_or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(), Some)
}

/// `YYYY-MM-DD` read straight from its digits ([`crate::domain::iso_date`]). Anything else (or
/// an impossible date) is `None`, and the caller asks chrono, which then decides as before.
fn ymd(s: &str) -> Option<NaiveDate> {
    crate::domain::iso_date(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_read_from_its_digits_is_the_date_chrono_reads() {
        // (text, read from its digits?): where it is, it agrees with chrono; where not, chrono decides.
        let table = [
            ("2017-06-05", true),
            ("2016-02-29", true),
            ("0001-01-01", true),
            ("9999-12-31", true),
            ("2017-02-30", false),
            ("2017-13-01", false),
            ("2017-6-5", false),
            ("2017-06-5 ", false),
            ("17-06-05", false),
            ("2017/06/05", false),
            ("+2017-06-05", false),
            ("２017-06-05", false),
            ("", false),
        ];
        for (s, fast) in table {
            assert_eq!(super::ymd(s).is_some(), fast, "{s:?}");
            if fast {
                assert_eq!(super::ymd(s), NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(), "{s:?}");
            }
        }
    }

    fn service(account: &str, quantity: &str) -> RawRow {
        RawRow {
            table: Table::Services,
            source: "t".into(),
            row: 2,
            fields: [
                Some(account),
                Some("S1"),
                Some("CAB-42U"),
                Some("cab"),
                Some(quantity),
                Some("1200.00"),
                Some("2017-01-01"),
                None,
            ]
            .into_iter()
            .collect(),
        }
    }

    /// A row's fields read back as given, an empty one as none, one past the end as none, and
    /// borrowed as a slice from any field on, beyond the 16 kept on the stack too.
    #[test]
    fn fields_read_back_as_given_and_empty_is_none() {
        let given = [Some("A1"), None, Some(""), Some("é x"), None, Some("2")];
        let f: Fields = given.into_iter().collect();
        let want = [Some("A1"), None, None, Some("é x"), None, Some("2")];
        assert_eq!(f.len(), 6);
        assert_eq!(f.iter().collect::<Vec<_>>(), want);
        assert_eq!(f.get(6), None);
        for from in 0..=7 {
            let tail = want.get(from..).unwrap_or_default();
            assert_eq!(f.as_slice_from(from, |s| s.to_vec()), tail, "from {from}");
        }
        let long: Vec<Option<&str>> = (0..20).map(|i| (i % 3 != 0).then_some("x")).collect();
        let f: Fields = long.iter().copied().collect();
        assert_eq!(f.as_slice_from(1, |s| s.to_vec()), long[1..]);
        assert!(Fields::default().is_empty());
    }

    #[test]
    fn rows_that_could_escape_or_overflow_are_refused_with_the_reason() {
        // (account number, quantity, the reason, or None when the row is fine)
        let table = [
            ("A000001", "2", None),
            ("ACC_12-x", "0.5", None),
            (
                "../../etc/A2",
                "1",
                Some("account_number: `../../etc/A2` must be letters, digits, `-` or `_` (at most 64)"),
            ),
            ("A.1", "1", Some("account_number: `A.1` must be letters, digits, `-` or `_` (at most 64)")),
            ("A1", "79228162514264337593543950335", Some("quantity: `79228162514264337593543950335` is out of range")),
            ("A1", "999999999999.99", None),
            ("A1", "-1", Some("quantity: `-1` is negative")),
        ];
        for (account, qty, want) in table {
            match (parse_row(&service(account, qty)), want) {
                (Ok(_), None) => {}
                (Err(e), Some(w)) => assert!(e.starts_with(w), "{account} {qty}: {e}"),
                (got, _) => panic!("{account} {qty}: {got:?}, expected {want:?}"),
            }
        }
    }

    #[test]
    fn a_header_missing_a_column_that_bills_depend_on_is_refused_and_a_text_one_warned() {
        let accounts = Table::Accounts.columns();
        let without = |t: Table, gone: &[&str]| -> Vec<String> {
            t.columns().iter().filter(|c| !gone.contains(c)).map(|c| c.to_string()).collect()
        };
        // (table, header, Ok(warnings) or Err(message start))
        type Case<'a> = (Table, Vec<String>, Result<Vec<&'a str>, &'a str>);
        let table: Vec<Case> = vec![
            (Table::Accounts, accounts.iter().map(|c| c.to_string()).collect(), Ok(vec![])),
            (Table::Accounts, without(Table::Accounts, &["bill_cycle_day"]), Err("missing column(s): bill_cycle_day")),
            (
                Table::Accounts,
                without(Table::Accounts, &["status", "currency"]),
                Err("missing column(s): currency, status"),
            ),
            (Table::Services, without(Table::Services, &["end_date"]), Err("missing column(s): end_date")),
            (
                Table::LegacyInvoiceLines,
                without(Table::LegacyInvoiceLines, &["amount"]),
                Err("missing column(s): amount"),
            ),
            (
                Table::Services,
                without(Table::Services, &["description"]),
                Ok(vec!["no `description` column: every row's description is taken as empty"]),
            ),
            (
                Table::Usage,
                without(Table::Usage, &["uom", "service_id"]),
                Ok(vec!["no `service_id` column", "no `uom` column"]),
            ),
            (
                Table::Usage,
                [Table::Usage.columns(), &["quantity", "extra"]].concat().iter().map(|c| c.to_string()).collect(),
                Err("column(s) named twice: quantity"),
            ),
        ];
        for (t, header, want) in table {
            match (t.check_header(&header), want) {
                (Ok(w), Ok(want)) => {
                    assert_eq!(w.len(), want.len(), "{header:?}: {w:?}");
                    for (w, want) in w.iter().zip(want) {
                        assert!(w.starts_with(want), "{w}");
                    }
                }
                (Err(e), Err(want)) => assert!(e.starts_with(want), "{header:?}: {e}"),
                (got, want) => panic!("{header:?}: {got:?}, expected {want:?}"),
            }
        }
    }
}
