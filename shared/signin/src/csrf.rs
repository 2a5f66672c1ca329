//! The CSRF check of a form submitted in a session: the session carries a random value, the
//! form sends it back (its `csrf` field), and the two are compared in constant time.

use crate::session::Session;

/// The name of the form field that carries the session's CSRF value.
pub const CSRF_FIELD: &str = "csrf";

/// A field of a form (`application/x-www-form-urlencoded`), the last one if it is sent more
/// than once.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    let mut value = None;
    for (k, v) in form_urlencoded::parse(body) {
        if k == name {
            value = Some(v.into_owned());
        }
    }
    value
}

/// The CSRF value a form sent back.
pub fn form_csrf(body: &[u8]) -> Option<String> {
    form_field(body, CSRF_FIELD)
}

/// Whether `csrf` is the session's CSRF value.
pub fn csrf_matches(session: &Session, csrf: &str) -> bool {
    constant_time_eq(session.csrf.as_bytes(), csrf.as_bytes())
}

/// Equal bytes, compared without stopping at the first difference.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_bytes_only() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn a_forms_fields_the_last_one_wins() {
        let body = b"csrf=one&acknowledge=yes&csrf=t%C3%A9&account_id=x";
        assert_eq!(form_csrf(body).as_deref(), Some("té"));
        assert_eq!(form_field(body, "acknowledge").as_deref(), Some("yes"));
        assert_eq!(form_field(body, "missing"), None);
        assert_eq!(form_csrf(b""), None);
    }
}
