//! Outbound HTTP to addresses other people chose: tenants' notice webhooks and sub-processors' erasure endpoints.
//!
//! A URL set by a client or by staff must not turn Steward into a proxy into its own network (SSRF). So:
//! - the URL is `https://`, without credentials, at most 500 characters; an IP-literal host is checked when it is set;
//! - a host name is resolved when a delivery is made and **every** address it resolves to is checked; one refused
//!   address refuses the delivery. The request then connects to exactly the addresses checked: the resolver below is
//!   the client's only resolver, so nothing resolves the name again (no DNS rebinding between check and connect);
//! - refused: loopback, private (RFC 1918), link-local (cloud metadata at 169.254.169.254), CGNAT (100.64/10),
//!   unique-local (fc00::/7), multicast, broadcast, unspecified, documentation and benchmarking ranges, and IPv4
//!   addresses mapped into or embedded in IPv6;
//! - no redirects are followed, no proxy from the environment is used, and answers are read up to [`MAX_BODY`] bytes.
//!
//! Loopback targets (plain `http://` too) are allowed only with the development setting
//! `STEWARD_ALLOW_LOOPBACK_WEBHOOKS=true`, which is off by default and logged at start.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use sha2::Sha256;

use crate::error::AppError;

/// The longest answer read from a webhook; the rest is never read.
pub const MAX_BODY: usize = 64 * 1024;
/// How long one delivery may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_URL: usize = 500;

/// Whether an address may be the target of an outbound request.
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_allowed(v4, allow_loopback),
        IpAddr::V6(v6) => {
            // IPv4 mapped (::ffff:a.b.c.d), compatible (::a.b.c.d) or NAT64 (64:ff9b::/96) addresses reach IPv4 hosts:
            // refused whatever they embed, so the IPv4 rules cannot be bypassed through them.
            let s = v6.segments();
            // 6to4 (2002::/16) and Teredo (2001::/32) tunnel to IPv4 too, so they are refused the same way.
            if v6.to_ipv4_mapped().is_some()
                || (s[0..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified())
                || (s[0] == 0x64 && s[1] == 0xff9b)
                || s[0] == 0x2002
                || (s[0] == 0x2001 && s[1] == 0)
            {
                return false;
            }
            if v6.is_loopback() {
                return allow_loopback;
            }
            !(v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated) fec0::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        }
    }
}

fn v4_allowed(ip: Ipv4Addr, allow_loopback: bool) -> bool {
    if ip.is_loopback() {
        return allow_loopback;
    }
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Checks a webhook URL when it is set. Returns it normalised.
pub fn check_url(field: &str, raw: &str, allow_loopback: bool) -> Result<String, AppError> {
    let raw = raw.trim();
    if raw.len() > MAX_URL {
        return Err(AppError::BadInput(format!(
            "`{field}` must be at most {MAX_URL} characters"
        )));
    }
    let url = reqwest::Url::parse(raw)
        .map_err(|_| AppError::BadInput(format!("`{field}` is not a valid URL")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AppError::BadInput(format!(
            "`{field}` must not carry credentials"
        )));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err(AppError::BadInput(format!("`{field}` has no host"))),
    };
    let loopback_literal = literal.is_some_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if allow_loopback && loopback_literal => {}
        _ => {
            return Err(AppError::BadInput(format!(
                "`{field}` must be an https:// URL"
            )));
        }
    }
    if let Some(ip) = literal
        && !address_allowed(ip, allow_loopback)
    {
        return Err(AppError::BadInput(format!(
            "`{field}` points to a private, loopback, link-local or reserved address; webhooks must reach a \
             public address"
        )));
    }
    Ok(url.to_string())
}

/// The resolver of the outbound client: resolves with the system resolver, then refuses the name if any of its
/// addresses is not allowed, and hands exactly the checked addresses to the connector.
#[derive(Clone, Debug)]
struct GuardedResolver {
    allow_loopback: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no address").into());
            }
            if let Some(bad) = addrs
                .iter()
                .find(|a| !address_allowed(a.ip(), allow_loopback))
            {
                tracing::warn!(host, address = %bad.ip(), "outbound request refused: the host resolves to a non-public address");
                return Err(Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The error of a refused address, recognisable in a delivery's failure.
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the host resolves to a non-public address")
    }
}

impl std::error::Error for Refused {}

/// The outbound HTTP client with its address policy.
#[derive(Clone, Debug)]
pub struct Outbound {
    client: reqwest::Client,
    allow_loopback: bool,
}

/// Why a delivery failed, in words fit for a client to read (no internal detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Refused,
    Unreachable,
    Status(u16),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused => f.write_str(
                "the webhook's address is not public (private, loopback, link-local or reserved): not sent",
            ),
            Failure::Unreachable => f.write_str("the webhook could not be reached"),
            Failure::Status(code) => write!(f, "the webhook answered HTTP {code}"),
        }
    }
}

/// A successful answer: its status and at most [`MAX_BODY`] bytes of its body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Outbound {
    pub fn new(allow_loopback: bool) -> Result<Self, AppError> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_loopback }))
            .user_agent(concat!("steward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(AppError::internal)?;
        Ok(Outbound {
            client,
            allow_loopback,
        })
    }

    pub fn allows_loopback(&self) -> bool {
        self.allow_loopback
    }

    /// Checks a URL being set (see [`check_url`]).
    pub fn check_url(&self, field: &str, raw: &str) -> Result<String, AppError> {
        check_url(field, raw, self.allow_loopback)
    }

    /// POSTs `body` as JSON with `headers`. The URL is checked again (it may have been stored under another policy);
    /// a 2xx answer is `Ok`, with at most [`MAX_BODY`] bytes of its body.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: String,
    ) -> Result<Answer, Failure> {
        check_url("url", url, self.allow_loopback).map_err(|_| Failure::Refused)?;
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) if is_refused(&e) => return Err(Failure::Refused),
            Err(_) => return Err(Failure::Unreachable),
        };
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(Failure::Status(status));
        }
        let mut body = Vec::new();
        while body.len() < MAX_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_BODY - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        Ok(Answer { status, body })
    }
}

fn is_refused(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.downcast_ref::<Refused>().is_some() {
            return true;
        }
        source = err.source();
    }
    false
}

/// The Standard Webhooks headers (standardwebhooks.com) of one delivery: `webhook-id` (the same on every retry, for
/// the receiver's idempotency), `webhook-timestamp` (Unix seconds) and `webhook-signature`, one `v1,<base64 of
/// HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>` per secret, space-separated (two during a rotation's overlap).
pub fn standard_webhook_headers(
    id: &str,
    timestamp: i64,
    body: &str,
    secrets: &[crate::crypto::WebhookSecret],
) -> [(&'static str, String); 3] {
    use base64::Engine as _;
    let signatures: Vec<String> = secrets
        .iter()
        .map(|secret| {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body.as_bytes());
            let signature =
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
            format!("v1,{signature}")
        })
        .collect();
    [
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signatures.join(" ")),
    ]
}

/// An endpoint as records show it (audit events, certificates): without its query string, which may carry a
/// credential (`?token=…` becomes `?…`).
pub fn shown_endpoint(url: &str) -> String {
    match url.split_once(['?', '#']) {
        Some((base, _)) => format!("{base}?…"),
        None => url.to_owned(),
    }
}

/// What an endpoint stores of its signing secrets: the current one sealed (`None` for an endpoint set before secrets
/// were stored, which signs with its derived secret) and, after a rotation, the previous one with the end of its
/// overlap.
#[derive(Clone, Copy)]
pub struct StoredSecrets<'a> {
    pub owner: uuid::Uuid,
    pub current: Option<&'a [u8]>,
    pub previous: Option<(&'a [u8], chrono::DateTime<chrono::Utc>)>,
}

impl StoredSecrets<'_> {
    /// The secrets deliveries are signed with now: the current one and, within the overlap window of the last
    /// rotation, the previous one.
    pub fn signing(
        &self,
        keyring: &crate::crypto::Keyring,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::crypto::WebhookSecret>, crate::crypto::CryptoError> {
        let mut secrets = vec![match self.current {
            Some(sealed) => keyring.unwrap_webhook_secret(self.owner, sealed)?,
            None => keyring.legacy_webhook_secret(self.owner),
        }];
        if let Some((sealed, until)) = self.previous
            && until > now
        {
            secrets.push(keyring.unwrap_webhook_secret(self.owner, sealed)?);
        }
        Ok(secrets)
    }

    /// The current secret sealed for storage, which a rotation keeps as the previous one: the stored one, or the
    /// derived secret of an endpoint set before secrets were stored, sealed now.
    pub fn sealed_current(
        &self,
        keyring: &crate::crypto::Keyring,
    ) -> Result<Vec<u8>, crate::crypto::CryptoError> {
        match self.current {
            Some(sealed) => Ok(sealed.to_vec()),
            None => {
                keyring.wrap_webhook_secret(self.owner, &keyring.legacy_webhook_secret(self.owner))
            }
        }
    }

    /// Every header of one delivery of `message` (stable across its retries): the Standard Webhooks headers and, for
    /// an endpoint still on its derived secret (set before 2026-12-04), also the headers its receiver was built for —
    /// `Steward-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 of "<t>.<body>">` and `Idempotency-Key: <message>` — so
    /// an upgrade breaks no receiver; a rotation ends them.
    pub fn delivery_headers(
        &self,
        keyring: &crate::crypto::Keyring,
        message: uuid::Uuid,
        body: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(&'static str, String)>, crate::crypto::CryptoError> {
        let secrets = self.signing(keyring, now)?;
        let timestamp = now.timestamp();
        let mut headers = Vec::from(standard_webhook_headers(
            &format!("msg_{}", message.simple()),
            timestamp,
            body,
            &secrets,
        ));
        if self.current.is_none() {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secrets[0].bytes())
                .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
            mac.update(format!("{timestamp}.").as_bytes());
            mac.update(body.as_bytes());
            let signature = hex::encode(mac.finalize().into_bytes());
            headers.push(("Steward-Signature", format!("t={timestamp},v1={signature}")));
            headers.push(("Idempotency-Key", message.to_string()));
        }
        Ok(headers)
    }
}

/// How long the previous secret keeps being signed with after a rotation: at most a week.
pub const MAX_ROTATION_OVERLAP_HOURS: i32 = 168;

/// The overlap of a rotation, checked: `None` for none at all.
pub fn rotation_overlap(hours: i32) -> Result<Option<chrono::Duration>, AppError> {
    let max = MAX_ROTATION_OVERLAP_HOURS;
    if !(0..=max).contains(&hours) {
        return Err(AppError::BadInput(format!(
            "overlapHours must be between 0 and {max} (a week)"
        )));
    }
    Ok((hours > 0).then(|| chrono::Duration::hours(i64::from(hours))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_show_endpoints_without_their_query() {
        assert_eq!(
            shown_endpoint("https://sp.example/erase?token=s3cr3t"),
            "https://sp.example/erase?…"
        );
        assert_eq!(
            shown_endpoint("https://sp.example/x#frag"),
            "https://sp.example/x?…"
        );
        assert_eq!(
            shown_endpoint("https://sp.example/erase"),
            "https://sp.example/erase"
        );
    }

    #[test]
    fn webhooks_are_signed_as_the_standard_webhooks_spec_example() {
        // The example of standardwebhooks.com's specification, and what its Python library signs.
        let secret =
            crate::crypto::WebhookSecret::from_whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap();
        let [id, timestamp, signature] = standard_webhook_headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
            std::slice::from_ref(&secret),
        );
        assert_eq!(id, ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".into()));
        assert_eq!(timestamp, ("webhook-timestamp", "1614265330".into()));
        assert_eq!(
            signature,
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into()
            )
        );
        // During a rotation's overlap: both signatures, space-separated.
        let next = crate::crypto::WebhookSecret::generate().unwrap();
        let [_, _, both] = standard_webhook_headers("msg_1", 1, "{}", &[next, secret]);
        assert_eq!(both.1.split(' ').count(), 2);
        assert!(both.1.split(' ').all(|s| s.starts_with("v1,")));
    }

    #[test]
    fn a_rotation_overlaps_at_most_a_week() {
        assert_eq!(rotation_overlap(0).unwrap(), None);
        assert_eq!(
            rotation_overlap(24).unwrap(),
            Some(chrono::Duration::hours(24))
        );
        assert!(rotation_overlap(169).is_err());
        assert!(rotation_overlap(-1).is_err());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_every_non_public_range() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!address_allowed(ip(bad), false), "{bad} allowed");
        }
        for good in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            assert!(address_allowed(ip(good), false), "{good} refused");
        }
        assert!(address_allowed(ip("127.0.0.1"), true));
        assert!(address_allowed(ip("::1"), true));
        assert!(
            !address_allowed(ip("10.0.0.1"), true),
            "only loopback opens"
        );
        assert!(!address_allowed(ip("::ffff:127.0.0.1"), true));
    }

    #[test]
    fn urls_are_checked_when_set() {
        assert!(check_url("url", "https://hooks.example.com/x", false).is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "http://127.0.0.1:9/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/",
            "https://user:pw@hooks.example.com/",
            "ftp://hooks.example.com/",
            "https://0x7f000001/",
            "https://2130706433/",
        ] {
            assert!(check_url("url", bad, false).is_err(), "{bad} accepted");
        }
        assert!(check_url("url", "http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("url", "http://10.0.0.1/x", true).is_err());
    }
}
