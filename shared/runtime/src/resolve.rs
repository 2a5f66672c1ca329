//! Where a webhook URL's host may be reached (SPEC §6.7): every address its name resolves to,
//! each checked (loopback, private, link-local and metadata, carrier-grade NAT, unspecified,
//! multicast, reserved, and their IPv4-mapped forms refused). The same check runs when an
//! endpoint is created or updated and before each attempt, which then connects only to an
//! address it checked: a name re-pointed after the endpoint was made is refused at the
//! attempt, before any connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use vls_domain::webhooks::address_allowed;

/// Resolves names through the system, except names given addresses of their own (the tests:
/// a name they can re-point, as its owner might).
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    own: Arc<Mutex<HashMap<String, Vec<IpAddr>>>>,
}

/// Why a host may not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// The name does not resolve, or to nothing.
    Unresolved(String),
    /// It resolves to an address a delivery may not connect to.
    Forbidden { ip: IpAddr, what: &'static str },
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unresolved(why) => write!(f, "dns: {why}"),
            Self::Forbidden { ip, what } => write!(f, "address_forbidden: {ip} is {what}"),
        }
    }
}

impl Resolver {
    /// The system's resolver.
    pub fn system() -> Self {
        Self::default()
    }

    /// From now on, `name` resolves to `addresses` alone.
    pub fn point(&self, name: &str, addresses: &[IpAddr]) {
        if let Ok(mut own) = self.own.lock() {
            own.insert(name.to_ascii_lowercase(), addresses.to_vec());
        }
    }

    /// Every address of `host` (a name, or an address itself) at `port`, each allowed unless
    /// `exempt` lets it through (the local stack's test receivers).
    pub async fn checked(
        &self,
        host: url::Host<&str>,
        port: u16,
        exempt: impl Fn(IpAddr) -> bool,
    ) -> Result<Vec<IpAddr>, Unreachable> {
        let found = match host {
            url::Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
            url::Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
            url::Host::Domain(name) => self.resolve(name, port).await?,
        };
        if found.is_empty() {
            return Err(Unreachable::Unresolved("no address".into()));
        }
        for ip in &found {
            if !exempt(*ip)
                && let Err(f) = address_allowed(*ip)
            {
                return Err(Unreachable::Forbidden {
                    ip: *ip,
                    what: f.what(),
                });
            }
        }
        Ok(found)
    }

    async fn resolve(&self, name: &str, port: u16) -> Result<Vec<IpAddr>, Unreachable> {
        let own = self
            .own
            .lock()
            .ok()
            .and_then(|own| own.get(&name.to_ascii_lowercase()).cloned());
        if let Some(addresses) = own {
            return Ok(addresses);
        }
        tokio::net::lookup_host((name, port))
            .await
            .map(|found| found.map(|a| a.ip()).collect())
            .map_err(|e| Unreachable::Unresolved(format!("{name}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_address_is_checked_and_a_re_pointed_name_is_refused() {
        let r = Resolver::system();
        let host = url::Host::Domain("hooks.partner.example");
        let public: IpAddr = "93.184.215.14".parse().expect("ip");
        r.point("Hooks.Partner.Example", &[public]);
        assert_eq!(
            r.checked(host.clone(), 443, |_| false).await,
            Ok(vec![public])
        );
        let private: IpAddr = "10.0.0.1".parse().expect("ip");
        r.point("hooks.partner.example", &[public, private]);
        assert_eq!(
            r.checked(host.clone(), 443, |_| false).await,
            Err(Unreachable::Forbidden {
                ip: private,
                what: "a private address"
            })
        );
        let loopback = url::Host::Ipv4("127.0.0.1".parse().expect("ip"));
        assert!(r.checked(loopback.clone(), 9500, |_| false).await.is_err());
        assert!(r.checked(loopback, 9500, |_| true).await.is_ok(), "exempt");
    }
}
