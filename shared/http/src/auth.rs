//! Who is calling (SPEC §3). Deployed, the API Gateway JWT authorizer has already verified
//! the token and the function reads its claims from the request context. Locally, and only
//! when the local stack sets `VLS_AUTH_MODE=local`, the function verifies an HS256 token
//! itself (`iss` `vls-local`, `aud` `vls`, `exp` enforced with no leeway).

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::Deserialize;

use super::problem::Problem;
use crate::types::{AccountId, PartnerId};

pub const LOCAL_ISSUER: &str = "vls-local";
pub const LOCAL_AUDIENCE: &str = "vls";
pub const DEFAULT_LOCAL_SECRET: &str = "local-dev-secret";

pub use vls_domain::principal::{Principal, Role};

/// Which claims of a token carry the caller's role, account and partner (and, for the
/// sign-in, email). One mapping for the whole stack, given to every function as
/// `OIDC_ROLE_CLAIM`, `OIDC_ACCOUNT_CLAIM`, `OIDC_PARTNER_CLAIM` and `OIDC_EMAIL_CLAIM`:
/// Amazon Cognito puts custom attributes under `custom:<name>`, other providers under names
/// of their own (`https://vls.example/role`), and the gateway hands them on as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub role: String,
    pub account_id: String,
    pub partner_id: String,
    pub email: String,
}

impl Default for ClaimNames {
    /// The plain names (what the local stack's tokens use).
    fn default() -> Self {
        Self {
            role: "role".into(),
            account_id: "account_id".into(),
            partner_id: "partner_id".into(),
            email: "email".into(),
        }
    }
}

impl ClaimNames {
    /// The mapping `var` names (unset or blank: the plain name).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let d = Self::default();
        Self {
            role: var("OIDC_ROLE_CLAIM").unwrap_or(d.role),
            account_id: var("OIDC_ACCOUNT_CLAIM").unwrap_or(d.account_id),
            partner_id: var("OIDC_PARTNER_CLAIM").unwrap_or(d.partner_id),
            email: var("OIDC_EMAIL_CLAIM").unwrap_or(d.email),
        }
    }
}

/// Builds a principal from verified claims, read under `names`: 401 without a subject, a
/// role or the id the role needs; 403 for a role this API does not know.
pub fn principal_from_claims(
    claims: &HashMap<String, String>,
    names: &ClaimNames,
) -> Result<Principal, Problem> {
    let sub = claims
        .get("sub")
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or_else(|| Problem::unauthorized("the token has no subject"))?
        .clone();
    let role = claims
        .get(&names.role)
        .ok_or_else(|| Problem::unauthorized("the token has no role"))?;
    // A well-formed token with a role this API does not know may do nothing here.
    let role = Role::parse(role).ok_or_else(Problem::forbidden)?;
    Ok(match role {
        Role::Partner => Principal::Partner {
            partner_id: claims
                .get(&names.partner_id)
                .and_then(|p| PartnerId::parse(p))
                .ok_or_else(|| Problem::unauthorized("a partner token needs a partner_id"))?,
            sub,
        },
        Role::CustomerAdmin => Principal::CustomerAdmin {
            account_id: claims
                .get(&names.account_id)
                .and_then(|a| AccountId::parse(a))
                .ok_or_else(|| {
                    Problem::unauthorized("a customer_admin token needs an account_id")
                })?,
            sub,
        },
        Role::BillingSupport => Principal::BillingSupport { sub },
        Role::LicensingSpecialist => Principal::LicensingSpecialist { sub },
    })
}

/// A verified token's claims as the gateway passes them to a function: every value a
/// string (numbers and booleans as their text).
pub fn string_claims(claims: &HashMap<String, serde_json::Value>) -> HashMap<String, String> {
    claims
        .iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), v)
        })
        .collect()
}

/// How this deployment authenticates.
#[derive(Clone)]
pub enum AuthMode {
    /// Claims verified by the API Gateway JWT authorizer (deployed), read under these names.
    Gateway(ClaimNames),
    /// HS256 verified here (local stack only).
    Local { key: DecodingKey },
}

impl std::fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gateway(names) => write!(f, "Gateway({names:?})"),
            Self::Local { .. } => f.write_str("Local"),
        }
    }
}

impl AuthMode {
    pub fn local(secret: &str) -> Self {
        Self::Local {
            key: DecodingKey::from_secret(secret.as_bytes()),
        }
    }
}

/// Verifies bearer tokens in the function itself, for routes that have no gateway
/// authorizer (the activation function's JSON route). Locally the same HS256 check as
/// everywhere; deployed, the activation function verifies them with the identity provider's
/// keys, fetched from its discovery document and cached (`vls_signin::oidc`), so that a key
/// rotation at the provider needs no redeploy.
#[derive(Clone)]
pub enum SelfVerifier {
    Local(DecodingKey),
    /// Deployed: with the provider's keys, by the function that holds the provider.
    Provider,
}

impl SelfVerifier {
    pub fn from_env(mode: &AuthMode) -> Self {
        match mode {
            AuthMode::Local { key } => Self::Local(key.clone()),
            AuthMode::Gateway(_) => Self::Provider,
        }
    }

    /// The caller a local token names; a provider's token is verified by its holder.
    pub fn principal(&self, token: &str) -> Result<Principal, Problem> {
        match self {
            Self::Local(key) => {
                principal_from_claims(&verify_local(token, key)?, &ClaimNames::default())
            }
            Self::Provider => Err(Problem::unauthorized(
                "this token must be verified with the identity provider's keys",
            )),
        }
    }

    /// The caller named by an `Authorization: Bearer` header.
    pub fn from_header(&self, header: Option<&str>) -> Result<Principal, Problem> {
        self.principal(bearer(header)?)
    }
}

/// The key a provider token names (`kid`); a token without `kid` only against a one-key set.
pub fn signing_key<'a>(
    keys: &'a jsonwebtoken::jwk::JwkSet,
    kid: Option<&str>,
) -> Option<&'a jsonwebtoken::jwk::Jwk> {
    match kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
}

/// Verifies a token signed by `jwk`: the algorithm from the key ([`key_algorithm`]), `iss`,
/// `aud` (equal to or containing `audience`), `exp` and `nbf` (when present) with `leeway`
/// seconds. Answers its claims.
pub fn verify_signed(
    token: &str,
    jwk: &jsonwebtoken::jwk::Jwk,
    issuer: &str,
    audience: &str,
    leeway: u64,
) -> Result<HashMap<String, serde_json::Value>, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let alg = key_algorithm(jwk, header.alg).ok_or("the token's algorithm is not its key's")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable signing key: {e}"))?;
    let mut v = Validation::new(alg);
    v.leeway = leeway;
    v.validate_nbf = true;
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

/// The algorithm to verify with, taken from the key, never from the token alone: the key's
/// own `alg` when it states one, otherwise the token's only if it belongs to the key's type
/// (RSA: RS*/PS*; EC: the curve's ES*; OKP: EdDSA). Symmetric keys from a key set are never
/// used, nor is `none`.
pub fn key_algorithm(jwk: &jsonwebtoken::jwk::Jwk, token_alg: Algorithm) -> Option<Algorithm> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve};
    if let Some(stated) = jwk.common.key_algorithm {
        let alg = Algorithm::try_from(stated).ok()?;
        return (alg == token_alg).then_some(alg);
    }
    let allowed: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => &[
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ],
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => &[],
        },
        AlgorithmParameters::OctetKeyPair(_) => &[Algorithm::EdDSA],
        _ => &[],
    };
    allowed.contains(&token_alg).then_some(token_alg)
}

#[derive(Deserialize)]
struct LocalClaims {
    sub: Option<String>,
    role: Option<String>,
    partner_id: Option<String>,
    account_id: Option<String>,
}

/// Verifies a local HS256 token and returns its claims.
pub fn verify_local(token: &str, key: &DecodingKey) -> Result<HashMap<String, String>, Problem> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_issuer(&[LOCAL_ISSUER]);
    validation.set_audience(&[LOCAL_AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<LocalClaims>(token, key, &validation)
        .map_err(|e| Problem::unauthorized(format!("invalid token: {e}")))?;
    let c = data.claims;
    Ok([
        ("sub", c.sub),
        ("role", c.role),
        ("partner_id", c.partner_id),
        ("account_id", c.account_id),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
    .collect())
}

/// The bearer token of an `Authorization` header value.
pub fn bearer(header: Option<&str>) -> Result<&str, Problem> {
    let value = header.ok_or_else(|| Problem::unauthorized("missing bearer token"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| Problem::unauthorized("malformed Authorization header"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(Problem::unauthorized("malformed Authorization header"));
    }
    Ok(token.trim())
}

/// Who sent this request.
pub fn authenticate(req: &Request, mode: &AuthMode) -> Result<Principal, Problem> {
    match mode {
        AuthMode::Local { key } => {
            let header = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            let claims = verify_local(bearer(header)?, key)?;
            principal_from_claims(&claims, &ClaimNames::default())
        }
        AuthMode::Gateway(names) => {
            let claims = match req.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                    .authorizer
                    .as_ref()
                    .and_then(|a| a.jwt.as_ref())
                    .map(|j| &j.claims),
                _ => None,
            };
            let claims = claims.ok_or_else(|| Problem::unauthorized("no verified token"))?;
            principal_from_claims(claims, names)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    fn token(claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode")
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn claims(exp: i64) -> serde_json::Value {
        json!({"sub": "u1", "role": "partner", "partner_id": "p1",
               "iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "exp": exp})
    }

    #[test]
    fn valid_local_token() {
        let key = DecodingKey::from_secret(b"s");
        let c = verify_local(&token(claims(now() + 60), "s"), &key).expect("valid");
        let p = principal_from_claims(&c, &ClaimNames::default()).expect("principal");
        assert_eq!(p.role(), Role::Partner);
        assert_eq!(p.partner_id().map(PartnerId::as_str), Some("p1"));
    }

    #[test]
    fn expired_forged_and_foreign_tokens_are_refused() {
        let key = DecodingKey::from_secret(b"s");
        assert_eq!(
            verify_local(&token(claims(now() - 1), "s"), &key).map_err(|p| p.status),
            Err(401)
        );
        assert_eq!(
            verify_local(&token(claims(now() + 60), "other"), &key).map_err(|p| p.status),
            Err(401)
        );
        let mut c = claims(now() + 60);
        c["aud"] = json!("someone-else");
        assert_eq!(
            verify_local(&token(c, "s"), &key).map_err(|p| p.status),
            Err(401)
        );
        let mut c = claims(now() + 60);
        c["iss"] = json!("elsewhere");
        assert_eq!(
            verify_local(&token(c, "s"), &key).map_err(|p| p.status),
            Err(401)
        );
        let mut c = claims(now() + 60);
        c.as_object_mut().map(|m| m.remove("exp"));
        assert_eq!(
            verify_local(&token(c, "s"), &key).map_err(|p| p.status),
            Err(401)
        );
        assert_eq!(
            verify_local("not.a.jwt", &key).map_err(|p| p.status),
            Err(401)
        );
    }

    fn m(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn claims_make_principals() {
        let plain = ClaimNames::default();
        let from = |pairs: &[(&str, &str)]| principal_from_claims(&m(pairs), &plain);
        assert!(from(&[("sub", "a"), ("role", "billing_support")]).is_ok());
        assert_eq!(
            from(&[("sub", "a"), ("role", "partner")]).map_err(|p| p.status),
            Err(401),
            "a partner without partner_id"
        );
        assert_eq!(
            from(&[
                ("sub", "a"),
                ("role", "customer_admin"),
                ("account_id", "x")
            ])
            .map_err(|p| p.status),
            Err(401)
        );
        assert_eq!(
            from(&[("sub", "a"), ("role", "root")]).map_err(|p| p.status),
            Err(403)
        );
    }

    /// Cognito's ID token as the gateway hands it on: custom attributes under `custom:*`.
    #[test]
    fn claims_are_read_under_the_configured_names() {
        let cognito = ClaimNames::from_vars(|name| match name {
            "OIDC_ROLE_CLAIM" => Some("custom:role".into()),
            "OIDC_ACCOUNT_CLAIM" => Some("custom:account_id".into()),
            "OIDC_PARTNER_CLAIM" => Some("custom:partner_id".into()),
            _ => None,
        });
        assert_eq!(cognito.email, "email", "unset: the plain name");
        let token = m(&[
            ("sub", "a"),
            ("cognito:username", "a"),
            ("token_use", "id"),
            ("custom:role", "partner"),
            ("custom:partner_id", "p1"),
        ]);
        let p = principal_from_claims(&token, &cognito).expect("a partner");
        assert_eq!(p.partner_id().map(PartnerId::as_str), Some("p1"));
        assert_eq!(
            principal_from_claims(&token, &ClaimNames::default()).map_err(|p| p.status),
            Err(401),
            "read under the plain names, the token has no role"
        );
        let plain_named = m(&[("sub", "a"), ("role", "partner"), ("partner_id", "p1")]);
        assert_eq!(
            principal_from_claims(&plain_named, &cognito).map_err(|p| p.status),
            Err(401),
            "a plain `role` is not the configured claim"
        );
    }

    #[test]
    fn claims_are_strings_as_the_gateway_passes_them() {
        let c: HashMap<String, serde_json::Value> = serde_json::from_value(json!({
            "sub": "a", "email_verified": true, "exp": 1700000000, "custom:role": "partner"
        }))
        .expect("claims");
        let s = string_claims(&c);
        assert_eq!(s["email_verified"], "true");
        assert_eq!(s["exp"], "1700000000");
        assert_eq!(s["custom:role"], "partner");
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer(Some("Bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer(Some("bearer abc")).ok(), Some("abc"));
        assert!(bearer(Some("Basic abc")).is_err());
        assert!(bearer(Some("Bearer ")).is_err());
        assert!(bearer(None).is_err());
    }

    /// A provider's RSA key, for tests only (its public half is [`provider_jwks`]).
    const PROVIDER_KEY: &[u8] = include_bytes!("test-provider-key.der");
    const PROVIDER_N: &str = concat!(
        "mJATAImmwlLxD8zsk-I2VGPWIZkiX6lkzEDEyJU59e3G1UKze-oMxucL60rlYI_vrROMmYskDyajV5Q1",
        "msEfqOZ2TGI1pzwJbDOi7GQ3HddMlZ6ovUIaLres9l522xz2y5PyaQMW1kzituWySYFKI4GLglEp13QF",
        "7ubsHQSXI6XA_hfVr-W1T5k3uPd64nE6PDpENWRl5EVev9W7BZE92RdC0JkpX1or72YeDM1P8i_Vm_Z1",
        "xHgOLTPbTic9pUEsvR1-1OkzKEwaK0W2_S-BWtyy56pbfxUo4LC_Zv7E7H-RYuQVx-rjV6AvdLwMlTMB",
        "5B2x6e5mVAjVOH8tcO0bGw",
    );

    fn provider_jwks(alg: Option<&str>, kid: Option<&str>) -> jsonwebtoken::jwk::JwkSet {
        let mut jwk = json!({"kty": "RSA", "n": PROVIDER_N, "e": "AQAB", "use": "sig"});
        if let Some(a) = alg {
            jwk["alg"] = json!(a);
        }
        if let Some(k) = kid {
            jwk["kid"] = json!(k);
        }
        serde_json::from_value(json!({ "keys": [jwk] })).expect("jwks")
    }

    /// Verifies like a provider token (no leeway), with the key the token names in `keys`.
    fn verify(keys: &jsonwebtoken::jwk::JwkSet, token: &str) -> Result<Role, u16> {
        let kid = jsonwebtoken::decode_header(token).map_err(|_| 401u16)?.kid;
        let jwk = signing_key(keys, kid.as_deref()).ok_or(401u16)?;
        let claims =
            verify_signed(token, jwk, "https://id.example.com", "vls", 0).map_err(|_| 401u16)?;
        let claims: HashMap<String, String> = claims
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect();
        principal_from_claims(&claims, &ClaimNames::default())
            .map(|p| p.role())
            .map_err(|p| p.status)
    }

    fn provider_token(alg: Algorithm, kid: Option<&str>, extra: serde_json::Value) -> String {
        let mut claims = json!({
            "sub": "olivia", "role": "billing_support", "iss": "https://id.example.com",
            "aud": "vls", "exp": now() + 300,
        });
        if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        let key = EncodingKey::from_rsa_der(PROVIDER_KEY);
        jsonwebtoken::encode(&header, &claims, &key).expect("encode")
    }

    #[test]
    fn provider_tokens_verify_with_the_keys_algorithm_only() {
        let v = provider_jwks(Some("RS256"), Some("k1"));
        let good = provider_token(Algorithm::RS256, Some("k1"), json!({}));
        assert_eq!(verify(&v, &good), Ok(Role::BillingSupport));
        // The same RSA key, but an algorithm the key does not state.
        let other_alg = provider_token(Algorithm::RS384, Some("k1"), json!({}));
        assert_eq!(verify(&v, &other_alg), Err(401));
        let unknown_kid = provider_token(Algorithm::RS256, Some("k2"), json!({}));
        assert_eq!(verify(&v, &unknown_kid), Err(401));
        // A key without `alg`: the token's algorithm, if it is one of the key's type.
        let bare = provider_jwks(None, Some("k1"));
        assert!(verify(&bare, &other_alg).is_ok());
        let jwk = &provider_jwks(None, None).keys[0];
        assert_eq!(key_algorithm(jwk, Algorithm::HS256), None);
        assert_eq!(key_algorithm(jwk, Algorithm::ES256), None);
        assert_eq!(key_algorithm(jwk, Algorithm::PS256), Some(Algorithm::PS256));
    }

    #[test]
    fn provider_tokens_are_checked_for_nbf() {
        let v = provider_jwks(Some("RS256"), Some("k1"));
        let early = provider_token(Algorithm::RS256, Some("k1"), json!({"nbf": now() + 600}));
        assert_eq!(verify(&v, &early), Err(401));
        let ripe = provider_token(Algorithm::RS256, Some("k1"), json!({"nbf": now() - 5}));
        assert!(verify(&v, &ripe).is_ok());
    }

    #[test]
    fn a_token_without_kid_matches_a_one_key_set_only() {
        let one = provider_jwks(Some("RS256"), Some("k1"));
        let no_kid = provider_token(Algorithm::RS256, None, json!({}));
        assert!(verify(&one, &no_kid).is_ok());
        let mut two = provider_jwks(Some("RS256"), Some("k1"));
        let mut second = two.keys[0].clone();
        second.common.key_id = Some("k2".into());
        two.keys.push(second);
        assert_eq!(verify(&two, &no_kid), Err(401));
    }
}
