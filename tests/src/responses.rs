//! Answers as the tests read them, and a plain HTTP client for a running stack.

use super::*;

/// A response: status, headers of interest, JSON body.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
    pub raw: String,
    pub replayed: bool,
    /// Every header, by lower-case name.
    pub headers: HashMap<String, String>,
    /// Every `Set-Cookie` header, in order.
    pub set_cookies: Vec<String>,
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(headers: &lambda_http::http::HeaderMap) -> Vec<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// An HTML page with the headers every page carries (SPEC §3.1), its status and, if given,
/// its problem code.
pub fn assert_page(r: &Resp, status: u16, code: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.raw);
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    assert_eq!(
        r.headers.get("cache-control").map(String::as_str),
        Some("no-store")
    );
    assert_eq!(
        r.headers.get("referrer-policy").map(String::as_str),
        Some("no-referrer")
    );
    let csp = r
        .headers
        .get("content-security-policy")
        .cloned()
        .unwrap_or_default();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp:?}");
    if let Some(code) = code {
        assert!(
            r.raw.contains(&format!("data-code=\"{code}\"")),
            "{code}: {}",
            r.raw
        );
    }
}

/// A problem+json refusal with this status and code.
pub fn assert_problem(r: &Resp, status: u16, code: &str) {
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (status, Some(code)),
        "{}",
        r.raw
    );
}

/// The first event of a trail with this action.
pub fn event(trail: &Value, action: &str) -> Option<Value> {
    trail["events"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == action)
        .cloned()
}

/// Headers by lower-case name (the last value of a repeated one).
pub fn header_map(headers: &lambda_http::http::HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

impl Resp {
    /// The `id` of the resource in the body.
    pub fn id(&self) -> String {
        self.body["id"]
            .as_str()
            .expect("response has an id")
            .to_owned()
    }
}

/// A plain HTTP client for a running stack (`cargo lambda watch`): JSON in, [`Resp`] out.
pub struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    pub fn new(base: &str) -> Self {
        Self::with_timeout(base, None)
    }

    /// A client whose calls give up after `timeout` (connect to last byte).
    pub fn with_timeout(base: &str, timeout: Option<std::time::Duration>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(timeout)
            .build()
            .into();
        Self {
            agent,
            base: base.trim_end_matches('/').to_owned(),
        }
    }

    /// One request; `Err` when no response came back (refused, reset, timed out).
    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        idem: Option<&str>,
    ) -> Result<Resp, String> {
        let mut req = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(k) = idem {
            req = req.header("idempotency-key", k);
        }
        req = req.header("content-type", "application/json");
        let req = req
            .body(body.unwrap_or("").to_owned())
            .map_err(|e| e.to_string())?;
        let mut resp = self.agent.run(req).map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let raw = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let replayed = resp.headers().contains_key("idempotent-replayed");
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Resp {
            status,
            content_type,
            body: serde_json::from_str(&raw).unwrap_or(Value::Null),
            raw,
            replayed,
            headers: header_map(resp.headers()),
            set_cookies: set_cookies(resp.headers()),
        })
    }

    /// One request that must get a response.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        idem: Option<&str>,
    ) -> Resp {
        self.try_send(method, path, token, body, idem)
            .unwrap_or_else(|e| panic!("{method} {path}: no response: {e}"))
    }

    pub fn get(&self, path: &str, token: &str) -> Resp {
        self.send("GET", path, Some(token), None, None)
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send("POST", path, Some(token), Some(&body.to_string()), None)
    }

    pub fn put(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send("PUT", path, Some(token), Some(&body.to_string()), None)
    }
}

/// A pool's total for one SKU (0 when absent).
pub fn total(pool: &Value, sku: &str) -> u64 {
    pool["skus"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["sku"] == sku)
        .and_then(|s| s["total"].as_u64())
        .unwrap_or(0)
}

/// The true-up orders of an agreement's order list.
pub fn true_up_orders(orders: &Value) -> Vec<&Value> {
    orders["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["source"] == "true_up")
        .collect()
}

/// The actions of an audit trail, oldest first.
pub fn actions(trail: &Value) -> Vec<&str> {
    trail["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["action"].as_str())
        .collect()
}
