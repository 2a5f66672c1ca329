//! Partner webhooks' rules that need no I/O (SPEC §6.6–6.7): the Standard Webhooks v1
//! signature and secret, which addresses a delivery may connect to, which endpoint URLs are
//! accepted, and when a failed delivery is tried again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The prefix of every endpoint secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// An endpoint's signing secret: `whsec_` + base64 of 32 bytes from `random`.
pub fn secret_from(random: [u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", B64.encode(random))
}

/// The key a secret signs with (its base64 part), if it is one.
fn key_of(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX)?;
    B64.decode(encoded).ok().filter(|k| !k.is_empty())
}

/// `webhook-signature`'s value for one secret (Standard Webhooks v1): `v1,` + base64 of
/// HMAC-SHA256 over `{id}.{timestamp}.{body}`. `None` for something that is not a secret.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = key_of(secret)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// The header with one signature per live secret (both while a rotation overlaps),
/// space-separated as the specification has it.
pub fn signatures(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|s| signature(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Why an address may not be connected to (SPEC §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forbidden {
    Loopback,
    Private,
    LinkLocal,
    CarrierGradeNat,
    Unspecified,
    Multicast,
    Reserved,
}

impl Forbidden {
    /// What the address is, as a refusal says it.
    pub fn what(self) -> &'static str {
        match self {
            Self::Loopback => "a loopback address",
            Self::Private => "a private address",
            Self::LinkLocal => "a link-local address",
            Self::CarrierGradeNat => "a carrier-grade NAT address",
            Self::Unspecified => "the unspecified address",
            Self::Multicast => "a multicast address",
            Self::Reserved => "a reserved address",
        }
    }
}

/// Whether a delivery may connect to `ip`: only a public unicast address may (IPv4-mapped
/// and IPv4-compatible IPv6 forms are judged as the IPv4 address they carry).
pub fn address_allowed(ip: IpAddr) -> Result<(), Forbidden> {
    match ip {
        IpAddr::V4(v4) => v4_allowed(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => v4_allowed(v4),
            None => v6_allowed(v6),
        },
    }
}

fn v4_allowed(ip: Ipv4Addr) -> Result<(), Forbidden> {
    let [a, b, c, _] = ip.octets();
    let forbidden = match (a, b, c) {
        (0, 0, 0) if ip.is_unspecified() => Some(Forbidden::Unspecified),
        (127, ..) => Some(Forbidden::Loopback),
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => Some(Forbidden::Private),
        (169, 254, _) => Some(Forbidden::LinkLocal),
        (100, 64..=127, _) => Some(Forbidden::CarrierGradeNat),
        (224..=239, ..) => Some(Forbidden::Multicast),
        // "This network", IETF protocol assignments, the documentation and benchmarking
        // ranges, 6to4 relays, the reserved class E and the broadcast address.
        (0, ..)
        | (192, 0, 0 | 2)
        | (192, 88, 99)
        | (198, 18..=19, _)
        | (198, 51, 100)
        | (203, 0, 113)
        | (240..=255, ..) => Some(Forbidden::Reserved),
        _ => None,
    };
    forbidden.map_or(Ok(()), Err)
}

/// The IPv4 address an IPv6 address carries: `::ffff:a.b.c.d` (mapped), `::a.b.c.d`
/// (compatible, deprecated) and `64:ff9b::a.b.c.d` (NAT64).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, ..] => Some(tail),
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(tail),
        [0x64, 0xff9b, 0, 0, 0, 0, ..] => Some(tail),
        _ => None,
    }
}

fn v6_allowed(ip: Ipv6Addr) -> Result<(), Forbidden> {
    let s = ip.segments();
    let forbidden = if ip.is_unspecified() {
        Some(Forbidden::Unspecified)
    } else if ip.is_loopback() {
        Some(Forbidden::Loopback)
    } else if s[0] & 0xfe00 == 0xfc00 {
        Some(Forbidden::Private)
    } else if s[0] & 0xffc0 == 0xfe80 {
        Some(Forbidden::LinkLocal)
    } else if s[0] & 0xff00 == 0xff00 {
        Some(Forbidden::Multicast)
    } else if s[0] & 0xe000 != 0x2000 || (s[0] == 0x2001 && s[1] == 0x0db8) {
        // Only global unicast (2000::/3) is public; 2001:db8::/32 is documentation.
        Some(Forbidden::Reserved)
    } else {
        None
    };
    forbidden.map_or(Ok(()), Err)
}

/// Why an endpoint URL is refused (422 `webhook_url_forbidden` or `invalid_field`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlRefusal {
    /// Not a URL, over 2,048 characters, or with user information in it.
    Malformed(&'static str),
    /// Not `https` (only the local stack's receiver ports may be plain `http`).
    NotHttps,
    /// An address literal a delivery may not connect to.
    Address(Forbidden),
}

pub const MAX_URL_LEN: usize = 2048;

/// The loopback ports the local stack sets aside for test receivers (SPEC §6.9).
pub const LOCAL_RECEIVER_PORTS: std::ops::RangeInclusive<u16> = 9500..=9599;

/// An endpoint URL as given at create and update: HTTPS, no user information, at most 2,048
/// characters, and, if its host is an address, an allowed one (a name is resolved and checked
/// at each attempt). `local` is the local stack, where `127.0.0.1:<9500–9599>`, over http or
/// https (a test CA), is a test receiver.
pub fn url_allowed(raw: &str, local: bool) -> Result<url::Url, UrlRefusal> {
    if raw.len() > MAX_URL_LEN {
        return Err(UrlRefusal::Malformed("longer than 2,048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|_| UrlRefusal::Malformed("not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Malformed("user information in the URL"));
    }
    let host = url.host().ok_or(UrlRefusal::Malformed("no host"))?;
    let ip = match host {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    };
    let receiver = local
        && matches!(url.scheme(), "http" | "https")
        && ip == Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
        && url
            .port()
            .is_some_and(|p| LOCAL_RECEIVER_PORTS.contains(&p));
    if receiver {
        return Ok(url);
    }
    if url.scheme() != "https" {
        return Err(UrlRefusal::NotHttps);
    }
    if let Some(ip) = ip {
        address_allowed(ip).map_err(UrlRefusal::Address)?;
    }
    Ok(url)
}

/// The waits after each failed attempt (SPEC §6.7): at once, then 5 s, 5 min, 30 min, 2 h,
/// 5 h, 10 h, 14 h, 20 h and 24 h — about three days — before the delivery is `failed`.
pub const RETRY_AFTER_FAILURE: [Duration; 10] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(14 * 3600),
    Duration::from_secs(20 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The most a receiver's `Retry-After` is honoured.
pub const MOST_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What an attempt's answer means for its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    /// 410: the endpoint is gone; it is disabled.
    Gone,
    /// Try again after this long.
    RetryIn(Duration),
    /// Every attempt failed.
    Failed,
}

/// After attempt number `attempt` (1 for the first) answered `status` (`None`: no answer,
/// or a refused address), with `retry_after` if the receiver sent one: what happens next.
/// `jitter` in [-1, 1] spreads each wait by up to ±10 %.
pub fn after_attempt(
    attempt: u32,
    status: Option<u16>,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Next {
    match status {
        Some(200..=299) => return Next::Succeeded,
        Some(410) => return Next::Gone,
        _ => {}
    }
    let Some(base) = usize::try_from(attempt)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| RETRY_AFTER_FAILURE.get(i))
    else {
        return Next::Failed;
    };
    let spread = base.mul_f64(1.0 + 0.1 * jitter.clamp(-1.0, 1.0));
    let asked = match status {
        Some(429 | 503) => retry_after.map(|r| r.min(MOST_RETRY_AFTER)),
        _ => None,
    };
    Next::RetryIn(asked.map_or(spread, |a| a.max(spread)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference libraries' test vector (SPEC §6.6).
    #[test]
    fn the_signature_is_the_specification_s() {
        let got = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            got.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(signature("not-a-secret", "id", 1, b"{}"), None);
    }

    #[test]
    fn a_rotation_signs_with_both_secrets() {
        let (old, new) = (secret_from([1; 32]), secret_from([2; 32]));
        assert!(old.starts_with("whsec_") && old.len() == 6 + 44, "{old}");
        let both = signatures(&[&old, &new], "evt_1", 1, b"{}");
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(
            Some(parts[0]),
            signature(&old, "evt_1", 1, b"{}").as_deref()
        );
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn only_public_unicast_addresses_are_allowed() {
        use Forbidden::*;
        let cases: &[(&str, Result<(), Forbidden>)] = &[
            ("93.184.216.34", Ok(())),
            ("2606:2800:220:1:248:1893:25c8:1946", Ok(())),
            ("127.0.0.1", Err(Loopback)),
            ("::1", Err(Loopback)),
            ("10.1.2.3", Err(Private)),
            ("172.31.255.255", Err(Private)),
            ("192.168.0.1", Err(Private)),
            ("fd00::1", Err(Private)),
            ("169.254.169.254", Err(LinkLocal)),
            ("fe80::1", Err(LinkLocal)),
            ("100.64.0.1", Err(CarrierGradeNat)),
            ("0.0.0.0", Err(Unspecified)),
            ("::", Err(Unspecified)),
            ("224.0.0.1", Err(Multicast)),
            ("ff02::1", Err(Multicast)),
            ("240.0.0.1", Err(Reserved)),
            ("255.255.255.255", Err(Reserved)),
            ("192.0.2.1", Err(Reserved)),
            ("2001:db8::1", Err(Reserved)),
            ("::ffff:127.0.0.1", Err(Loopback)),
            ("::ffff:169.254.169.254", Err(LinkLocal)),
            ("::ffff:10.0.0.1", Err(Private)),
            ("::10.0.0.1", Err(Private)),
            ("64:ff9b::a9fe:a9fe", Err(LinkLocal)),
            ("::ffff:93.184.216.34", Ok(())),
        ];
        for (ip, want) in cases {
            let ip: IpAddr = ip.parse().expect("an address");
            assert_eq!(address_allowed(ip), *want, "{ip}");
        }
    }

    #[test]
    fn endpoint_urls_are_https_without_user_information_to_allowed_addresses() {
        assert!(url_allowed("https://hooks.fabrikam.com/vls", false).is_ok());
        assert_eq!(
            url_allowed("http://hooks.fabrikam.com/vls", false).err(),
            Some(UrlRefusal::NotHttps)
        );
        assert!(matches!(
            url_allowed("https://user:pw@hooks.fabrikam.com/", false),
            Err(UrlRefusal::Malformed(_))
        ));
        assert_eq!(
            url_allowed("https://169.254.169.254/latest/meta-data", false).err(),
            Some(UrlRefusal::Address(Forbidden::LinkLocal))
        );
        assert_eq!(
            url_allowed("https://[::ffff:7f00:1]/", false).err(),
            Some(UrlRefusal::Address(Forbidden::Loopback))
        );
        let long = format!("https://hooks.fabrikam.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(
            url_allowed(&long, false),
            Err(UrlRefusal::Malformed(_))
        ));
        // The local stack's receivers, and nothing else on loopback.
        assert!(url_allowed("http://127.0.0.1:9500/hook", true).is_ok());
        assert!(url_allowed("https://127.0.0.1:9599/hook", true).is_ok());
        assert!(url_allowed("http://127.0.0.1:9500/hook", false).is_err());
        assert!(url_allowed("http://127.0.0.1:4566/", true).is_err());
        assert!(url_allowed("https://127.0.0.1:9000/", true).is_err());
    }

    #[test]
    fn failed_attempts_wait_as_scheduled_then_fail() {
        let waits: Vec<Next> = (1..=11)
            .map(|n| after_attempt(n, Some(500), None, 0.0))
            .collect();
        let expected: Vec<Next> = RETRY_AFTER_FAILURE
            .iter()
            .map(|d| Next::RetryIn(*d))
            .chain([Next::Failed])
            .collect();
        assert_eq!(waits, expected);
        let total: Duration = RETRY_AFTER_FAILURE.iter().sum();
        assert!(
            (72..=78).contains(&(total.as_secs() / 3600)),
            "about three days"
        );
        assert_eq!(
            after_attempt(3, None, None, 0.0),
            Next::RetryIn(Duration::from_secs(300))
        );
        assert_eq!(after_attempt(1, Some(204), None, 0.0), Next::Succeeded);
        assert_eq!(after_attempt(4, Some(410), None, 0.0), Next::Gone);
    }

    #[test]
    fn jitter_spreads_a_wait_by_at_most_a_tenth_and_retry_after_is_honoured() {
        let hour = Duration::from_secs(3600);
        assert_eq!(
            after_attempt(5, Some(500), None, 1.0),
            Next::RetryIn(hour.mul_f64(2.2))
        );
        assert_eq!(
            after_attempt(5, Some(500), None, -5.0),
            Next::RetryIn(hour.mul_f64(1.8))
        );
        // 429/503 wait at least what the receiver asks, at most a day; others ignore it.
        let asked = Some(hour * 3);
        assert_eq!(
            after_attempt(2, Some(429), asked, 0.0),
            Next::RetryIn(hour * 3)
        );
        assert_eq!(
            after_attempt(5, Some(503), Some(hour), 0.0),
            Next::RetryIn(hour * 2)
        );
        assert_eq!(
            after_attempt(2, Some(503), Some(hour * 100), 0.0),
            Next::RetryIn(MOST_RETRY_AFTER)
        );
        assert_eq!(
            after_attempt(2, Some(500), asked, 0.0),
            Next::RetryIn(Duration::from_secs(5))
        );
    }
}
