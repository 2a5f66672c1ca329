//! Parse, don't validate: every value that reaches a rule went through one fallible
//! constructor here. Once a `Quantity`, `Email` or `AgreementId` exists it is valid.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::catalog::Sku;
use crate::error::FieldError;

/// A quantity per SKU (zero entries are left out).
pub type SkuCounts = std::collections::BTreeMap<Sku, u64>;

/// Largest quantity a single line may carry; anything above is a typo, not an order.
pub const MAX_QUANTITY: u64 = 1_000_000;

/// What every id type is and has: a string with its prefix, serde through it, display.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                Self::parse(&raw).ok_or_else(|| format!("not a {} id: {raw:?}", $prefix))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// The ULID of a raw id part, if it is one in its canonical 26-character form.
fn ulid_part(raw: &str) -> Option<&str> {
    raw.parse::<ulid::Ulid>().ok()?;
    (raw.len() == 26 && raw.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(raw)
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        id_type!($(#[$doc])* $name, $prefix);

        impl $name {
            /// A fresh id: the prefix and a ULID (time-ordered, 80 random bits).
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid::Ulid::generate()))
            }

            /// Parses an id as it appears in a path or body; anything else is not an id.
            pub fn parse(raw: &str) -> Option<Self> {
                ulid_part(raw.strip_prefix($prefix)?).map(|_| Self(raw.to_owned()))
            }
        }
    };
}

/// An id of something that lives in its parent's partition and never leaves it (an order or
/// a reservation in its agreement's, a service request in its account's):
/// `<prefix><parent's ULID>_<own ULID>`. Like a resource name, it says where the item is, so
/// one read finds it with its parent, without a lookup item.
macro_rules! child_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $parent:ident, $getter:ident) => {
        id_type!($(#[$doc])* $name, $prefix);

        impl $name {
            /// A fresh id under `parent`.
            pub fn generate(parent: &$parent) -> Self {
                let parent = &parent.as_str()[$parent::PREFIX.len()..];
                Self(format!("{}{parent}_{}", $prefix, ulid::Ulid::generate()))
            }

            /// Parses an id as it appears in a path or body; anything else is not an id.
            pub fn parse(raw: &str) -> Option<Self> {
                let (parent, own) = raw.strip_prefix($prefix)?.split_once('_')?;
                ulid_part(parent)?;
                ulid_part(own)?;
                Some(Self(raw.to_owned()))
            }

            /// The parent it belongs to.
            pub fn $getter(&self) -> $parent {
                let parent = &self.0[$prefix.len()..][..26];
                $parent(format!("{}{parent}", $parent::PREFIX))
            }
        }
    };
}

prefixed_id!(
    /// An online-service tenant.
    AccountId,
    "acc_"
);
prefixed_id!(
    /// A direct (credit card or invoice) subscription on an account.
    SubscriptionId,
    "sub_"
);
prefixed_id!(
    /// A volume licensing agreement.
    AgreementId,
    "agr_"
);
child_id!(
    /// A purchase order or a true-up order.
    OrderId,
    "ord_",
    AgreementId,
    agreement
);
child_id!(
    /// A License Reservation.
    ReservationId,
    "res_",
    AgreementId,
    agreement
);
child_id!(
    /// A customer's request to Billing Support to cancel a direct subscription (R18).
    ServiceRequestId,
    "srq_",
    AccountId,
    account
);
prefixed_id!(
    /// A queued mail.
    MailId,
    "mail_"
);
prefixed_id!(
    /// An amendment to an agreement (R7).
    AmendmentId,
    "amd_"
);
prefixed_id!(
    /// A partner event (SPEC §6): the same in the list and in every delivery of it.
    EventId,
    "evt_"
);
prefixed_id!(
    /// A partner's webhook endpoint (SPEC §6.5).
    EndpointId,
    "we_"
);
prefixed_id!(
    /// One event's delivery to one endpoint (SPEC §6.5, §6.7).
    DeliveryId,
    "dlv_"
);

prefixed_id!(
    /// A replay of an endpoint's missed events (SPEC §6.5).
    ReplayId,
    "rpl_"
);

impl DeliveryId {
    /// The delivery of `event` that the dispatcher makes for each endpoint that wants it: the
    /// event's own ULID, so that making it again (a retried fan-out) makes nothing new.
    pub fn of_event(event: &EventId) -> Self {
        Self(format!("dlv_{}", &event.as_str()[EventId::PREFIX.len()..]))
    }
}

/// A plain identifier chosen outside the system (partner ids come from the identity provider,
/// customer numbers from the agreement paperwork): 1–64 of `A-Z a-z 0-9 . _ -`.
fn parse_plain_id(raw: &str) -> Option<String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then(|| raw.to_owned())
}

macro_rules! plain_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Option<Self> {
                parse_plain_id(raw).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(raw: String) -> Result<Self, String> {
                Self::parse(&raw).ok_or_else(|| format!("not a valid id: {raw:?}"))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

plain_id!(
    /// A Licensing Solutions Partner, as registered by billing support.
    PartnerId
);
plain_id!(
    /// The customer's number on its agreements (R2 groups agreements by it).
    CustomerNumber
);

/// A licence count on a line: 1..=1,000,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct Quantity(u32);

impl Quantity {
    pub fn new(n: u64) -> Option<Self> {
        (1..=MAX_QUANTITY).contains(&n).then_some(Self(n as u32))
    }
    /// A total of many lines (a true-up bills the sum of reservations), which may exceed
    /// what a single request may ask for.
    pub fn total(n: u64) -> Option<Self> {
        u32::try_from(n).ok().filter(|n| *n > 0).map(Self)
    }

    pub fn get(self) -> u64 {
        u64::from(self.0)
    }
}

/// Stored quantities: requests are bounded by [`Quantity::new`] when they are parsed; stored
/// totals may be larger.
impl TryFrom<u64> for Quantity {
    type Error = String;
    fn try_from(n: u64) -> Result<Self, String> {
        Self::total(n).ok_or_else(|| format!("quantity out of range: {n}"))
    }
}

impl From<Quantity> for u64 {
    fn from(q: Quantity) -> u64 {
        q.get()
    }
}

/// An email address good enough to send mail to, and safe to put in a header:
/// no whitespace or control characters (so no CR/LF header injection), one `@`,
/// a dot-atom local part and a domain of at least two DNS labels. The domain is
/// lower-cased; the local part is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > 254 {
            return Err("longer than 254 characters".into());
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("contains whitespace or control characters".into());
        }
        let (local, domain) = raw
            .split_once('@')
            .ok_or_else(|| "has no '@'".to_string())?;
        if domain.contains('@') {
            return Err("has more than one '@'".into());
        }
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok {
            return Err("the part before '@' is not a valid mailbox".into());
        }
        let domain = domain.to_ascii_lowercase();
        let labels: Vec<&str> = domain.split('.').collect();
        let labels_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
        if !labels_ok {
            return Err("the part after '@' is not a valid domain".into());
        }
        Ok(Self(format!("{local}@{domain}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or_default()
    }

    /// `o***@domain`: enough for the caller to recognise the mailbox, not to learn it.
    pub fn masked(&self) -> String {
        let first = self.0.chars().next().unwrap_or('*');
        format!("{first}***@{}", self.domain())
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        Self::parse(&raw)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// R1: the volume licensing programs the product is sold through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Program {
    #[serde(rename = "EA")]
    Ea,
    #[serde(rename = "EAS")]
    Eas,
    #[serde(rename = "CASA")]
    Casa,
}

impl Program {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ea => "EA",
            Self::Eas => "EAS",
            Self::Casa => "CASA",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "EA" => Some(Self::Ea),
            "EAS" => Some(Self::Eas),
            "CASA" => Some(Self::Casa),
            _ => None,
        }
    }
}

/// A calendar date written `YYYY-MM-DD`, nothing looser.
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let b = raw.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    if !shape {
        return None;
    }
    let d = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    (2000..=2200).contains(&d.year()).then_some(d)
}

/// Short free text (names, legal names, countries, phone numbers): trimmed, 1..=max
/// characters, no control characters.
pub fn parse_text(raw: &str, max: usize) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    if t.chars().count() > max {
        return Err(format!("longer than {max} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err("contains control characters".into());
    }
    Ok(t.to_owned())
}

/// A DNS domain such as `contoso.com` (an account's primary domain).
pub fn parse_domain(raw: &str) -> Option<String> {
    Email::parse(&format!("x@{raw}"))
        .ok()
        .map(|e| e.domain().to_owned())
}

/// One SKU × quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub sku: Sku,
    pub quantity: Quantity,
}

/// The lines of a subscription, order or reservation: at least one, each SKU once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Line>", into = "Vec<Line>")]
pub struct Lines(Vec<Line>);

impl Lines {
    pub fn new(lines: Vec<Line>) -> Result<Self, FieldError> {
        if lines.is_empty() {
            return Err(FieldError::new(
                "lines",
                "empty_lines",
                "at least one line is required",
            ));
        }
        for (i, line) in lines.iter().enumerate() {
            if lines[..i].iter().any(|l| l.sku == line.sku) {
                return Err(FieldError::new(
                    format!("lines[{i}].sku"),
                    "duplicate_sku",
                    format!("{} appears on more than one line", line.sku),
                ));
            }
        }
        Ok(Self(lines))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Line> {
        self.0.iter()
    }

    pub fn quantity_of(&self, sku: Sku) -> u64 {
        self.0
            .iter()
            .find(|l| l.sku == sku)
            .map_or(0, |l| l.quantity.get())
    }

    /// Seat licences only (add-ons excluded), as R3 counts them.
    pub fn seats(&self) -> u64 {
        self.0
            .iter()
            .filter(|l| l.sku.is_seat())
            .map(|l| l.quantity.get())
            .sum()
    }
}

impl TryFrom<Vec<Line>> for Lines {
    type Error = String;
    fn try_from(lines: Vec<Line>) -> Result<Self, String> {
        Self::new(lines).map_err(|e| e.detail)
    }
}

impl From<Lines> for Vec<Line> {
    fn from(l: Lines) -> Self {
        l.0
    }
}

/// A month and day of the year, e.g. 03-15. 02-29 is allowed and falls on 02-28 in common years.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthDay {
    pub month: u32,
    pub day: u32,
}

impl MonthDay {
    pub fn of(date: chrono::NaiveDate) -> Self {
        Self {
            month: chrono::Datelike::month(&date),
            day: chrono::Datelike::day(&date),
        }
    }

    /// This month-day in `year`; 29 February becomes 28 February when `year` is common.
    pub fn in_year(self, year: i32) -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(year, self.month, self.day)
            .or_else(|| chrono::NaiveDate::from_ymd_opt(year, self.month, self.day - 1))
            .unwrap_or(chrono::NaiveDate::MIN)
    }

    /// The first date strictly after `date` that falls on this month-day.
    pub fn next_after(self, date: chrono::NaiveDate) -> chrono::NaiveDate {
        let this_year = self.in_year(chrono::Datelike::year(&date));
        if this_year > date {
            this_year
        } else {
            self.in_year(chrono::Datelike::year(&date) + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_junk() {
        let id = AgreementId::generate();
        assert!(id.as_str().starts_with("agr_"));
        assert_eq!(AgreementId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(AgreementId::parse("agr_"), None);
        assert_eq!(AgreementId::parse("acc_01JD0000000000000000000000"), None);
        assert_eq!(AgreementId::parse("agr_01JD00000000000000000000'"), None);
        assert!(AccountId::parse("acc_01JD0000000000000000000000").is_some());
        assert!(OrderId::parse("ord_../../etc").is_none());
    }

    #[test]
    fn an_order_or_reservation_id_names_its_agreement() {
        let agr = AgreementId::generate();
        let order = OrderId::generate(&agr);
        assert_eq!(order.agreement(), agr);
        assert_eq!(OrderId::parse(order.as_str()), Some(order.clone()));
        let res = ReservationId::generate(&agr);
        assert_eq!(res.agreement(), agr);
        assert_eq!(
            ReservationId::parse(res.as_str()).map(|r| r.agreement()),
            Some(agr)
        );
        let own = "01JD0000000000000000000000";
        for junk in [
            format!("ord_{own}"),
            format!("ord_{own}_"),
            format!("ord__{own}"),
            format!("ord_{own}_{own}_"),
            format!("ord_{own}_{own}x"),
            format!("res_{own}_{own}"),
            format!("ord_{own}/{own}"),
        ] {
            assert_eq!(OrderId::parse(&junk), None, "{junk}");
        }
        assert!(OrderId::parse(&format!("ord_{own}_{own}")).is_some());
    }

    #[test]
    fn plain_ids() {
        assert!(PartnerId::parse("p1").is_some());
        assert!(PartnerId::parse("lsp-contoso_2.eu").is_some());
        assert!(PartnerId::parse("").is_none());
        assert!(PartnerId::parse("a b").is_none());
        assert!(PartnerId::parse(&"x".repeat(65)).is_none());
        assert!(CustomerNumber::parse("4711").is_some());
    }

    #[test]
    fn quantity_bounds() {
        assert!(Quantity::new(0).is_none());
        assert_eq!(Quantity::new(1).map(Quantity::get), Some(1));
        assert_eq!(Quantity::new(1_000_000).map(Quantity::get), Some(1_000_000));
        assert!(Quantity::new(1_000_001).is_none());
        assert!(Quantity::new(1_000_000_000_000).is_none());
    }

    #[test]
    fn emails() {
        let e = Email::parse("Olivia.Osm@Contoso.COM").expect("valid");
        assert_eq!(e.as_str(), "Olivia.Osm@contoso.com");
        assert_eq!(e.domain(), "contoso.com");
        assert_eq!(e.masked(), "O***@contoso.com");
        for bad in [
            "osm@contoso.com\r\nBcc: evil@x.com",
            "osm@contoso.com\n",
            "osm contoso.com",
            "osm@",
            "@contoso.com",
            "osm@@contoso.com",
            "osm@contoso",
            "osm@contoso.c0m",
            "osm@-contoso.com",
            ".osm@contoso.com",
            "o..sm@contoso.com",
            "osm@contoso..com",
            "os m@contoso.com",
            "",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn programs() {
        assert_eq!(Program::parse("EA"), Some(Program::Ea));
        assert_eq!(Program::parse("EAS"), Some(Program::Eas));
        assert_eq!(Program::parse("CASA"), Some(Program::Casa));
        assert_eq!(Program::parse("OPEN"), None);
        assert_eq!(Program::parse("ea"), None);
        for p in [Program::Ea, Program::Eas, Program::Casa] {
            assert_eq!(Program::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn dates() {
        assert_eq!(
            parse_date("2024-02-29"),
            NaiveDate::from_ymd_opt(2024, 2, 29)
        );
        for bad in [
            "2023-02-29",
            "2024-2-29",
            "24-02-29",
            "2024/02/29",
            "2024-02-29T00:00",
            "1999-01-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn text_and_domains() {
        assert_eq!(
            parse_text("  Contoso Ltd ", 100).as_deref(),
            Ok("Contoso Ltd")
        );
        assert!(parse_text("   ", 100).is_err());
        assert!(parse_text("a\u{0}b", 100).is_err());
        assert!(parse_text("abc", 2).is_err());
        assert_eq!(parse_domain("Contoso.com").as_deref(), Some("contoso.com"));
        assert_eq!(parse_domain("contoso"), None);
    }

    #[test]
    fn lines_refuse_empty_and_duplicates() {
        let q = Quantity::new(5).expect("q");
        let line = Line {
            sku: Sku::SalesProfessional,
            quantity: q,
        };
        assert_eq!(Lines::new(vec![]).map_err(|e| e.code), Err("empty_lines"));
        assert_eq!(
            Lines::new(vec![line, line]).map_err(|e| e.code),
            Err("duplicate_sku")
        );
        let storage = Line {
            sku: Sku::AdditionalStorageGb,
            quantity: q,
        };
        let lines = Lines::new(vec![line, storage]).expect("valid");
        assert_eq!(lines.seats(), 5);
        assert_eq!(lines.quantity_of(Sku::AdditionalStorageGb), 5);
        assert_eq!(lines.quantity_of(Sku::SalesEnterprise), 0);
    }
}
