//! Conditional requests (SPEC §4.1 8), as Partner Center does them: a strong `ETag` hashed
//! from the representation itself (a reservation turns `billed` without being rewritten, so
//! a stored version would not do), 304 for a GET whose `If-None-Match` names it, and 412
//! `precondition_failed` for a change whose `If-Match` does not name the resource as it
//! stands — nothing written.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::problem::Problem;

/// The strong entity tag of a representation: its exact JSON text, hashed.
pub fn etag_of(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    format!("\"{}\"", B64.encode(&digest[..16]))
}

/// The entity tag `view` is answered with.
pub fn etag_of_view(view: &impl Serialize) -> String {
    etag_of(&serde_json::to_string(view).unwrap_or_default())
}

fn tags(header: &str) -> impl Iterator<Item = &str> {
    header.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// `If-None-Match` (weak comparison, RFC 9110 13.1.2): `*`, or any listed tag, `W/` or not.
pub fn none_match_hits(header: &str, etag: &str) -> bool {
    tags(header).any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// `If-Match` (strong comparison, RFC 9110 13.1.1): `*`, or a listed strong tag equal to
/// `etag`; a weak tag never matches.
pub fn match_holds(header: &str, etag: &str) -> bool {
    tags(header).any(|t| t == "*" || t == etag)
}

pub fn precondition_failed(detail: &str) -> Problem {
    Problem::new(412, "precondition_failed", detail.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_is_the_representation_s_and_changes_with_it() {
        let a = etag_of(r#"{"id":"x","version":1}"#);
        assert_eq!(a, etag_of(r#"{"id":"x","version":1}"#));
        assert_ne!(a, etag_of(r#"{"id":"x","version":2}"#));
        assert!(
            a.starts_with('"') && a.ends_with('"') && a.len() == 24,
            "{a}"
        );
    }

    #[test]
    fn if_none_match_compares_weakly_and_if_match_strongly() {
        let tag = etag_of("{}");
        let weak = format!("W/{tag}");
        assert!(none_match_hits(&format!("\"other\", {weak}"), &tag));
        assert!(none_match_hits("*", &tag));
        assert!(!none_match_hits("\"other\"", &tag));
        assert!(match_holds(&format!("\"other\", {tag}"), &tag));
        assert!(match_holds("*", &tag));
        assert!(
            !match_holds(&weak, &tag),
            "a weak tag never matches If-Match"
        );
        assert!(!match_holds("\"other\"", &tag));
    }
}
