//! Request bodies → commands. Each field is parsed into its domain type here, with the
//! field's path and a code that names the problem, so a bad value never reaches a rule.

use serde_json::{Map, Value};

use crate::catalog::Sku;
use crate::error::FieldError;
use crate::model::{Billing, Contact, Customer, OnlineServicesLicense, OnlineServicesProduct, Osm};
use crate::rules::agreements::NewAgreement;
use crate::rules::orders::NewOrder;
use crate::rules::service_requests::Ask;
use crate::types::{
    AccountId, AgreementId, CustomerNumber, Email, Line, Lines, Program, Quantity, SubscriptionId,
    parse_date, parse_domain, parse_text,
};

pub type Res<T> = Result<T, FieldError>;

const NAME_MAX: usize = 200;

/// A JSON object with the path it was found at, for error messages.
#[derive(Clone, Copy)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: &'a str,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn wrong_type(path: String, want: &str, got: &Value) -> FieldError {
    FieldError::new(
        path,
        "invalid_type",
        format!("must be {want}, not {}", type_name(got)),
    )
}

impl<'a> Obj<'a> {
    /// The request body itself, which must be a JSON object.
    pub fn root(v: &'a Value) -> Res<Self> {
        match v {
            Value::Object(map) => Ok(Self { map, path: "" }),
            other => Err(wrong_type(String::new(), "a JSON object", other)),
        }
    }

    /// A field; `null` counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn req(&self, key: &str) -> Res<&'a Value> {
        self.get(key)
            .ok_or_else(|| FieldError::new(join(self.path, key), "missing_field", "is required"))
    }

    pub fn str(&self, key: &str) -> Res<&'a str> {
        let v = self.req(key)?;
        v.as_str()
            .ok_or_else(|| wrong_type(join(self.path, key), "a string", v))
    }

    pub fn opt_str(&self, key: &str) -> Res<Option<&'a str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(wrong_type(join(self.path, key), "a string", v)),
        }
    }

    pub fn opt_bool(&self, key: &str) -> Res<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(wrong_type(join(self.path, key), "a boolean", v)),
        }
    }

    /// Calls `f` with the nested object at `key` (its path extends this one's).
    pub fn with_obj<T>(&self, key: &str, f: impl FnOnce(Obj<'_>) -> Res<T>) -> Res<T> {
        let v = self.req(key)?;
        let path = join(self.path, key);
        match v {
            Value::Object(map) => f(Obj { map, path: &path }),
            other => Err(wrong_type(path, "an object", other)),
        }
    }

    /// Calls `f` with each element of the array at `key` and its path (`lines[2]`).
    pub fn each<T>(&self, key: &str, mut f: impl FnMut(&Value, &str) -> Res<T>) -> Res<Vec<T>> {
        let path = join(self.path, key);
        match self.req(key)? {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| f(v, &format!("{path}[{i}]")))
                .collect(),
            other => Err(wrong_type(path, "an array", other)),
        }
    }

    /// An array of objects at `key`; a missing key is an empty list.
    pub fn each_obj_or_empty<T>(
        &self,
        key: &str,
        mut f: impl FnMut(Obj<'_>) -> Res<T>,
    ) -> Res<Vec<T>> {
        if self.get(key).is_none() {
            return Ok(Vec::new());
        }
        self.each(key, |v, path| match v {
            Value::Object(map) => f(Obj { map, path }),
            other => Err(wrong_type(path.to_owned(), "an object", other)),
        })
    }

    pub fn text(&self, key: &str, max: usize) -> Res<String> {
        parse_text(self.str(key)?, max)
            .map_err(|d| FieldError::new(join(self.path, key), "invalid_field", d))
    }

    pub fn email(&self, key: &str) -> Res<Email> {
        Email::parse(self.str(key)?).map_err(|d| {
            FieldError::new(
                join(self.path, key),
                "invalid_email",
                format!("not a valid email address: {d}"),
            )
        })
    }

    pub fn path_of(&self, key: &str) -> String {
        join(self.path, key)
    }
}

fn obj_at<'v>(v: &'v Value, path: &'v str) -> Res<Obj<'v>> {
    match v {
        Value::Object(map) => Ok(Obj { map, path }),
        other => Err(wrong_type(path.to_owned(), "an object", other)),
    }
}

/// A quantity: a JSON integer in 1..=1,000,000 (not a string, not a fraction).
pub fn quantity(v: &Value, path: &str) -> Res<Quantity> {
    let Value::Number(n) = v else {
        return Err(wrong_type(path.to_owned(), "an integer", v));
    };
    n.as_u64().and_then(Quantity::new).ok_or_else(|| {
        FieldError::new(
            path,
            "invalid_quantity",
            format!("must be a whole number from 1 to 1000000, not {n}"),
        )
    })
}

/// `lines: [{sku, quantity}]`: at least one, SKUs from the catalog, each once.
pub fn lines(body: &Obj<'_>) -> Res<Lines> {
    let parsed = body.each("lines", |v, path| {
        let line = obj_at(v, path)?;
        let code = line.str("sku")?;
        let sku = Sku::parse(code).ok_or_else(|| {
            FieldError::new(
                line.path_of("sku"),
                "unknown_sku",
                format!("{code:?} is not in the catalog"),
            )
        })?;
        let quantity = quantity(line.req("quantity")?, &line.path_of("quantity"))?;
        Ok(Line { sku, quantity })
    })?;
    Lines::new(parsed)
}

fn osm(o: Obj<'_>) -> Res<Osm> {
    Ok(Osm {
        name: o.text("name", NAME_MAX)?,
        email: o.email("email")?,
    })
}

/// `PUT /partners/{id}`: `{name, contact: {name, email, phone}}`.
pub fn partner(body: &Obj<'_>) -> Res<(String, Contact)> {
    let name = body.text("name", NAME_MAX)?;
    let contact = body.with_obj("contact", |c| {
        Ok(Contact {
            name: c.text("name", NAME_MAX)?,
            email: c.email("email")?,
            phone: c.text("phone", 40)?,
        })
    })?;
    Ok((name, contact))
}

/// `POST /accounts`: `{name, domain, online_services?: [{product, quantity}]}`.
pub fn new_account(body: &Obj<'_>) -> Res<crate::rules::directory::NewAccount> {
    let name = body.text("name", NAME_MAX)?;
    let domain = parse_domain(body.str("domain")?)
        .ok_or_else(|| FieldError::new("domain", "invalid_field", "not a valid domain name"))?;
    let online_services = body.each_obj_or_empty("online_services", |o| {
        let product = match o.str("product")? {
            "office365" => OnlineServicesProduct::Office365,
            "intune" => OnlineServicesProduct::Intune,
            other => {
                return Err(FieldError::new(
                    o.path_of("product"),
                    "unknown_product",
                    format!("{other:?} is not office365 or intune"),
                ));
            }
        };
        let quantity = quantity(o.req("quantity")?, &o.path_of("quantity"))?;
        Ok(OnlineServicesLicense { product, quantity })
    })?;
    Ok(crate::rules::directory::NewAccount {
        name,
        domain,
        online_services,
    })
}

/// `POST /accounts/{id}/subscriptions`: `{billing, lines}`.
pub fn new_subscription(body: &Obj<'_>) -> Res<(Billing, Lines)> {
    let billing = match body.str("billing")? {
        "credit_card" => Billing::CreditCard,
        "invoice" => Billing::Invoice,
        other => {
            return Err(FieldError::new(
                "billing",
                "invalid_billing",
                format!("{other:?} is not credit_card or invoice"),
            ));
        }
    };
    Ok((billing, lines(body)?))
}

fn id_field<T>(body: &Obj<'_>, key: &str, parse: impl Fn(&str) -> Option<T>) -> Res<Option<T>> {
    body.opt_str(key)?
        .map(|raw| {
            parse(raw).ok_or_else(|| {
                FieldError::new(
                    body.path_of(key),
                    "invalid_id",
                    format!("{raw:?} is not a valid id"),
                )
            })
        })
        .transpose()
}

/// `POST /agreements`.
pub fn new_agreement(body: &Obj<'_>) -> Res<NewAgreement> {
    let program_raw = body.str("program")?;
    let program = Program::parse(program_raw).ok_or_else(|| {
        FieldError::new(
            "program",
            "unknown_program",
            format!("{program_raw:?} is not EA, EAS or CASA"),
        )
    })?;
    let customer = body.with_obj("customer", |c| {
        let raw = c.str("number")?;
        Ok(Customer {
            number: CustomerNumber::parse(raw.trim()).ok_or_else(|| {
                FieldError::new(
                    c.path_of("number"),
                    "invalid_field",
                    "1–64 letters, digits, '.', '_' or '-'",
                )
            })?,
            legal_name: c.text("legal_name", NAME_MAX)?,
            country: c.text("country", 100)?,
        })
    })?;
    let osm = body.with_obj("osm", osm)?;
    let start_raw = body.str("start_date")?;
    let start_date = parse_date(start_raw).ok_or_else(|| {
        FieldError::new(
            "start_date",
            "invalid_date",
            "must be a date written YYYY-MM-DD",
        )
    })?;
    let online_services_account_id =
        id_field(body, "online_services_account_id", AccountId::parse)?;
    Ok(NewAgreement {
        program,
        customer,
        osm,
        start_date,
        online_services_account_id,
    })
}

/// `PUT /agreements/{id}/osm`: `{name, email}`.
pub fn osm_change(body: &Obj<'_>) -> Res<Osm> {
    osm(*body)
}

/// `POST /orders`.
pub fn new_order(body: &Obj<'_>) -> Res<NewOrder> {
    let agreement_id = id_field(body, "agreement_id", AgreementId::parse)?
        .ok_or_else(|| FieldError::new("agreement_id", "missing_field", "is required"))?;
    Ok(NewOrder {
        agreement_id,
        lines: lines(body)?,
        replaces_subscription_id: id_field(
            body,
            "replaces_subscription_id",
            SubscriptionId::parse,
        )?,
    })
}

/// A message or a note (R18): 1–[`crate::rules::service_requests::TEXT_MAX`] characters,
/// lines allowed; other control characters are not.
fn long_text(body: &Obj<'_>, key: &str) -> Res<Option<String>> {
    let Some(raw) = body.opt_str(key)? else {
        return Ok(None);
    };
    let max = crate::rules::service_requests::TEXT_MAX;
    let t = raw.trim();
    let why = if t.is_empty() {
        Some("must not be empty".to_owned())
    } else if t.chars().count() > max {
        Some(format!("longer than {max} characters"))
    } else if t
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some("contains control characters".to_owned())
    } else {
        None
    };
    match why {
        Some(why) => Err(FieldError::new(body.path_of(key), "invalid_field", why)),
        None => Ok(Some(t.to_owned())),
    }
}

/// `POST /accounts/{id}/service-requests`: `{subscription_id, message?,
/// accept_license_loss}`; the consent is a required boolean (missing: `invalid_field`).
pub fn new_service_request(body: &Obj<'_>) -> Res<(SubscriptionId, Ask)> {
    let subscription = id_field(body, "subscription_id", SubscriptionId::parse)?
        .ok_or_else(|| FieldError::new("subscription_id", "missing_field", "is required"))?;
    let accept_license_loss = body.opt_bool("accept_license_loss")?.ok_or_else(|| {
        FieldError::new(
            "accept_license_loss",
            "invalid_field",
            "is required: true or false, whether Billing Support may cancel with a loss",
        )
    })?;
    let message = long_text(body, "message")?;
    Ok((
        subscription,
        Ask {
            message,
            accept_license_loss,
        },
    ))
}

/// A note with a service request's step (`{note}`); a decline needs one (missing:
/// `invalid_field`).
pub fn note(body: &Obj<'_>, required: bool) -> Res<Option<String>> {
    let note = long_text(body, "note")?;
    if required && note.is_none() {
        return Err(FieldError::new(
            "note",
            "invalid_field",
            "is required: 1-2000 characters",
        ));
    }
    Ok(note)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code_of(v: Value, f: impl Fn(&Obj<'_>) -> Res<()>) -> (String, &'static str) {
        let body = Obj::root(&v).expect("object");
        let e = f(&body).expect_err("must be refused");
        (e.field, e.code)
    }

    fn order_lines(v: Value) -> (String, &'static str) {
        code_of(
            json!({"agreement_id": AgreementId::generate().to_string(), "lines": v}),
            |b| new_order(b).map(|_| ()),
        )
    }

    #[test]
    fn quantities() {
        let sku = "d365-sales-professional";
        assert_eq!(
            order_lines(json!([{"sku": sku, "quantity": 0}])),
            ("lines[0].quantity".into(), "invalid_quantity")
        );
        assert_eq!(
            order_lines(json!([{"sku": sku, "quantity": -1}])),
            ("lines[0].quantity".into(), "invalid_quantity")
        );
        assert_eq!(
            order_lines(json!([{"sku": sku, "quantity": 1_000_000_000_000u64}])).1,
            "invalid_quantity"
        );
        assert_eq!(
            order_lines(json!([{"sku": sku, "quantity": 1.5}])).1,
            "invalid_quantity"
        );
        assert_eq!(
            order_lines(json!([{"sku": sku, "quantity": "5"}])),
            ("lines[0].quantity".into(), "invalid_type")
        );
        assert_eq!(
            order_lines(json!([{"sku": sku}])),
            ("lines[0].quantity".into(), "missing_field")
        );
        assert_eq!(
            order_lines(json!([{"sku": "d365-nope", "quantity": 1}])),
            ("lines[0].sku".into(), "unknown_sku")
        );
        assert_eq!(order_lines(json!([])), ("lines".into(), "empty_lines"));
        assert_eq!(order_lines(json!({})), ("lines".into(), "invalid_type"));
        assert_eq!(
            order_lines(json!(["x"])),
            ("lines[0]".into(), "invalid_type")
        );
    }

    #[test]
    fn a_good_order_parses() {
        let agr = AgreementId::generate();
        let lines = json!([{"sku": "d365-additional-storage-gb", "quantity": 1000000}]);
        let v = json!({"agreement_id": agr.to_string(), "lines": lines, "extra": true});
        let o = new_order(&Obj::root(&v).expect("obj")).expect("parses");
        assert_eq!(o.agreement_id, agr);
        assert_eq!(o.lines.quantity_of(Sku::AdditionalStorageGb), 1_000_000);
        assert_eq!(o.replaces_subscription_id, None);
    }

    fn agreement_body() -> Value {
        json!({
            "program": "EA",
            "customer": {"number": "4711", "legal_name": "Contoso Ltd", "country": "NL"},
            "osm": {"name": "Olivia", "email": "olivia@contoso.com"},
            "start_date": "2026-03-15"
        })
    }

    #[test]
    fn agreements() {
        let ok = new_agreement(&Obj::root(&agreement_body()).expect("obj")).expect("parses");
        assert_eq!(ok.program, Program::Ea);
        let refuse = |patch: &dyn Fn(&mut Value)| {
            let mut v = agreement_body();
            patch(&mut v);
            code_of(v, |b| new_agreement(b).map(|_| ()))
        };
        assert_eq!(
            refuse(&|v| v["program"] = json!("OPEN")),
            ("program".into(), "unknown_program")
        );
        assert_eq!(
            refuse(&|v| v["osm"]["email"] = json!("o@contoso.com\r\nBcc: x@y.com")),
            ("osm.email".into(), "invalid_email")
        );
        assert_eq!(
            refuse(&|v| {
                v.as_object_mut().map(|m| m.remove("osm"));
            }),
            ("osm".into(), "missing_field")
        );
        assert_eq!(
            refuse(&|v| v["customer"]["legal_name"] = json!(" ")),
            ("customer.legal_name".into(), "invalid_field")
        );
        assert_eq!(
            refuse(&|v| v["start_date"] = json!("2026-02-30")),
            ("start_date".into(), "invalid_date")
        );
        assert_eq!(
            refuse(&|v| v["start_date"] = json!(20260101)),
            ("start_date".into(), "invalid_type")
        );
        assert_eq!(
            refuse(&|v| v["online_services_account_id"] = json!("nope")),
            ("online_services_account_id".into(), "invalid_id")
        );
    }

    #[test]
    fn body_must_be_an_object() {
        assert_eq!(
            Obj::root(&json!([1])).err().map(|e| e.code),
            Some("invalid_type")
        );
    }

    #[test]
    fn accounts_and_subscriptions() {
        let v = json!({"name": "Contoso", "domain": "contoso.com",
                       "online_services": [{"product": "intune", "quantity": 10}]});
        let new = new_account(&Obj::root(&v).expect("obj")).expect("parses");
        let (domain, mos) = (new.domain, new.online_services);
        assert_eq!(domain, "contoso.com");
        assert_eq!(mos.len(), 1);
        let v = json!({"name": "Contoso", "domain": "contoso.com",
                       "online_services": [{"product": "teams", "quantity": 10}]});
        assert_eq!(
            code_of(v, |b| new_account(b).map(|_| ())).1,
            "unknown_product"
        );
        let lines = json!([{"sku": "d365-sales-professional", "quantity": 1}]);
        let v = json!({"billing": "cash", "lines": lines});
        assert_eq!(
            code_of(v, |b| new_subscription(b).map(|_| ())).1,
            "invalid_billing"
        );
    }
}
