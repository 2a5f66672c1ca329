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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Partner,
    CustomerAdmin,
    BillingSupport,
    LicensingSpecialist,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "partner" => Some(Self::Partner),
            "customer_admin" => Some(Self::CustomerAdmin),
            "billing_support" => Some(Self::BillingSupport),
            "licensing_specialist" => Some(Self::LicensingSpecialist),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Partner => "partner",
            Self::CustomerAdmin => "customer_admin",
            Self::BillingSupport => "billing_support",
            Self::LicensingSpecialist => "licensing_specialist",
        }
    }
}

/// An authenticated caller. A partner always has its partner id and a customer admin its
/// account id: a token without them does not make a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Partner { sub: String, partner_id: PartnerId },
    CustomerAdmin { sub: String, account_id: AccountId },
    BillingSupport { sub: String },
    LicensingSpecialist { sub: String },
}

impl Principal {
    pub fn sub(&self) -> &str {
        match self {
            Self::Partner { sub, .. }
            | Self::CustomerAdmin { sub, .. }
            | Self::BillingSupport { sub }
            | Self::LicensingSpecialist { sub } => sub,
        }
    }

    pub fn role(&self) -> Role {
        match self {
            Self::Partner { .. } => Role::Partner,
            Self::CustomerAdmin { .. } => Role::CustomerAdmin,
            Self::BillingSupport { .. } => Role::BillingSupport,
            Self::LicensingSpecialist { .. } => Role::LicensingSpecialist,
        }
    }

    /// 403 unless the caller's role is one of `allowed` (the route's roles).
    pub fn require(&self, allowed: &[Role]) -> Result<(), Problem> {
        if allowed.contains(&self.role()) {
            Ok(())
        } else {
            Err(Problem::forbidden())
        }
    }

    pub fn partner_id(&self) -> Option<&PartnerId> {
        match self {
            Self::Partner { partner_id, .. } => Some(partner_id),
            _ => None,
        }
    }

    pub fn account_id(&self) -> Option<&AccountId> {
        match self {
            Self::CustomerAdmin { account_id, .. } => Some(account_id),
            _ => None,
        }
    }

    /// Builds a principal from verified claims.
    pub fn from_claims(claims: &HashMap<String, String>) -> Result<Self, Problem> {
        let sub = claims
            .get("sub")
            .filter(|s| !s.is_empty() && s.len() <= 256)
            .ok_or_else(|| Problem::unauthorized("the token has no subject"))?
            .clone();
        let role = claims
            .get("role")
            .ok_or_else(|| Problem::unauthorized("the token has no role"))?;
        // A well-formed token with a role this API does not know may do nothing here.
        let role = Role::parse(role).ok_or_else(Problem::forbidden)?;
        Ok(match role {
            Role::Partner => Self::Partner {
                partner_id: claims
                    .get("partner_id")
                    .and_then(|p| PartnerId::parse(p))
                    .ok_or_else(|| Problem::unauthorized("a partner token needs a partner_id"))?,
                sub,
            },
            Role::CustomerAdmin => Self::CustomerAdmin {
                account_id: claims
                    .get("account_id")
                    .and_then(|a| AccountId::parse(a))
                    .ok_or_else(|| {
                        Problem::unauthorized("a customer_admin token needs an account_id")
                    })?,
                sub,
            },
            Role::BillingSupport => Self::BillingSupport { sub },
            Role::LicensingSpecialist => Self::LicensingSpecialist { sub },
        })
    }
}

/// How this deployment authenticates.
#[derive(Clone)]
pub enum AuthMode {
    /// Claims verified by the API Gateway JWT authorizer (deployed).
    Gateway,
    /// HS256 verified here (local stack only).
    Local { key: DecodingKey },
}

impl std::fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gateway => f.write_str("Gateway"),
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
/// authorizer: the activation page's form carries its token in the body (RFC 6750 §2.2).
/// Locally the same HS256 check as everywhere; deployed, the identity provider's keys
/// (`JWT_JWKS`, the provider's JWKS document), issuer (`JWT_ISSUER`) and audience
/// (`JWT_AUDIENCE`).
#[derive(Clone)]
pub enum SelfVerifier {
    Local(DecodingKey),
    Provider {
        keys: jsonwebtoken::jwk::JwkSet,
        issuer: String,
        audience: String,
    },
    /// Deployed without provider keys: such tokens cannot be verified, so they are refused.
    Unconfigured,
}

impl SelfVerifier {
    pub fn from_env(mode: &AuthMode) -> Self {
        if let AuthMode::Local { key } = mode {
            return Self::Local(key.clone());
        }
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        match (var("JWT_JWKS"), var("JWT_ISSUER"), var("JWT_AUDIENCE")) {
            (Some(jwks), Some(issuer), Some(audience)) => match serde_json::from_str(&jwks) {
                Ok(keys) => Self::Provider {
                    keys,
                    issuer,
                    audience,
                },
                Err(e) => {
                    tracing::error!(error = %e, "JWT_JWKS is not a JWKS document");
                    Self::Unconfigured
                }
            },
            _ => Self::Unconfigured,
        }
    }

    pub fn principal(&self, token: &str) -> Result<Principal, Problem> {
        let claims = match self {
            Self::Local(key) => verify_local(token, key)?,
            Self::Provider {
                keys,
                issuer,
                audience,
            } => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|e| Problem::unauthorized(format!("invalid token: {e}")))?;
                let jwk = header
                    .kid
                    .as_deref()
                    .and_then(|kid| keys.find(kid))
                    .ok_or_else(|| Problem::unauthorized("the token's signing key is unknown"))?;
                let key = DecodingKey::from_jwk(jwk)
                    .map_err(|e| Problem::unauthorized(format!("unusable signing key: {e}")))?;
                let mut v = Validation::new(header.alg);
                v.leeway = 0;
                v.set_issuer(&[issuer]);
                v.set_audience(&[audience]);
                v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                let data =
                    jsonwebtoken::decode::<HashMap<String, serde_json::Value>>(token, &key, &v)
                        .map_err(|e| Problem::unauthorized(format!("invalid token: {e}")))?;
                data.claims
                    .into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                    .collect()
            }
            Self::Unconfigured => {
                return Err(Problem::unauthorized(
                    "this deployment cannot verify such tokens",
                ));
            }
        };
        Principal::from_claims(&claims)
    }

    /// The caller named by an `Authorization: Bearer` header.
    pub fn from_header(&self, header: Option<&str>) -> Result<Principal, Problem> {
        self.principal(bearer(header)?)
    }
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
            Principal::from_claims(&claims)
        }
        AuthMode::Gateway => {
            let claims = match req.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(ctx)) => ctx
                    .authorizer
                    .as_ref()
                    .and_then(|a| a.jwt.as_ref())
                    .map(|j| &j.claims),
                _ => None,
            };
            let claims = claims.ok_or_else(|| Problem::unauthorized("no verified token"))?;
            Principal::from_claims(claims)
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
        json!({"sub": "u1", "role": "partner", "partner_id": "p1", "iss": LOCAL_ISSUER, "aud": LOCAL_AUDIENCE, "exp": exp})
    }

    #[test]
    fn valid_local_token() {
        let key = DecodingKey::from_secret(b"s");
        let c = verify_local(&token(claims(now() + 60), "s"), &key).expect("valid");
        let p = Principal::from_claims(&c).expect("principal");
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

    #[test]
    fn claims_make_principals() {
        let m = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(Principal::from_claims(&m(&[("sub", "a"), ("role", "billing_support")])).is_ok());
        assert_eq!(
            Principal::from_claims(&m(&[("sub", "a"), ("role", "partner")])).map_err(|p| p.status),
            Err(401),
            "a partner without partner_id"
        );
        assert_eq!(
            Principal::from_claims(&m(&[
                ("sub", "a"),
                ("role", "customer_admin"),
                ("account_id", "x")
            ]))
            .map_err(|p| p.status),
            Err(401)
        );
        assert_eq!(
            Principal::from_claims(&m(&[("sub", "a"), ("role", "root")])).map_err(|p| p.status),
            Err(403)
        );
    }

    #[test]
    fn bearer_header() {
        assert_eq!(bearer(Some("Bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer(Some("bearer abc")).ok(), Some("abc"));
        assert!(bearer(Some("Basic abc")).is_err());
        assert!(bearer(Some("Bearer ")).is_err());
        assert!(bearer(None).is_err());
    }
}
