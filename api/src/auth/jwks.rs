//! The keys of an OpenID Connect provider: its discovery document (`/.well-known/openid-configuration`) names its JWKS,
//! whose keys are kept by `kid`.
//!
//! Providers rotate keys routinely (Entra ID, Okta, Auth0, Keycloak): a new key is published before tokens are signed
//! with it, the old one removed later. So a token naming a `kid` not held makes Steward fetch the set again (at most
//! once per [`MIN_REFETCH`], so a stream of forged `kid`s cannot turn into a stream of fetches), and the set is
//! refreshed every `refresh` anyway, which drops removed keys. A failed refresh keeps the keys held. Only asymmetric
//! keys are taken (RS256, ES256 on P-256, EdDSA on Ed25519), each with the one algorithm it is for: a token whose
//! header names another algorithm for the key is refused, whatever the JWKS says.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

/// The shortest time between two fetches of the key set caused by unknown `kid`s.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);
/// The largest discovery document or key set read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct ProviderKey {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
}

pub struct Jwks {
    issuer: String,
    jwks_uri: url::Url,
    client: reqwest::Client,
    keys: RwLock<Arc<HashMap<String, ProviderKey>>>,
    /// When the set was last fetched for an unknown `kid` (single flight: one fetch at a time).
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    /// Called whenever a fetch (periodic or for an unknown `kid`) finds a held key withdrawn: tokens verified with it
    /// must not be served from memory any more.
    on_removed: std::sync::OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// How many fetches found a held key withdrawn: raised after the held keys are replaced and before `on_removed`
    /// runs, so a verification that read it before looking its key up can tell whether a withdrawal overtook it.
    withdrawals: std::sync::atomic::AtomicU64,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct KeySet {
    keys: Vec<serde_json::Value>,
}

impl Jwks {
    /// Reads the discovery document and the key set; fails (and the server does not start) when either cannot be read
    /// or the document names another issuer.
    pub async fn discover(issuer: &url::Url) -> anyhow::Result<Arc<Jwks>> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let configured = issuer.as_str().trim_end_matches('/');
        let discovery_url = format!("{configured}/.well-known/openid-configuration");
        let discovery: Discovery =
            serde_json::from_slice(&fetch(&client, &discovery_url).await?)
                .map_err(|e| anyhow::anyhow!("{discovery_url}: not a discovery document ({e})"))?;
        if discovery.issuer.trim_end_matches('/') != configured {
            anyhow::bail!(
                "{discovery_url} names the issuer `{}`, not STEWARD_OIDC_ISSUER `{configured}`",
                discovery.issuer
            );
        }
        let jwks_uri = url::Url::parse(&discovery.jwks_uri)
            .map_err(|_| anyhow::anyhow!("{discovery_url}: `jwks_uri` is not a URL"))?;
        if jwks_uri.scheme() != issuer.scheme() {
            anyhow::bail!(
                "{discovery_url}: `jwks_uri` must use the issuer's scheme ({})",
                issuer.scheme()
            );
        }
        let jwks = Arc::new(Jwks {
            issuer: discovery.issuer,
            jwks_uri,
            client,
            keys: RwLock::new(Arc::default()),
            last_fetch: tokio::sync::Mutex::new(None),
            on_removed: std::sync::OnceLock::new(),
            withdrawals: std::sync::atomic::AtomicU64::new(0),
        });
        let held = jwks.refresh().await.map_err(|e| {
            anyhow::anyhow!(
                "{e} (Steward takes RS256, ES256 on P-256 and EdDSA on Ed25519 signing keys)"
            )
        })?;
        tracing::info!(issuer = %jwks.issuer, keys = held, "identity provider keys loaded");
        Ok(jwks)
    }

    /// Refreshes the key set every `every` for as long as `jwks` is in use; `on_removed` runs whenever any fetch
    /// (this one, or one for an unknown `kid`) finds a held key withdrawn.
    pub fn refresh_every(
        jwks: &Arc<Jwks>,
        every: Duration,
        on_removed: impl Fn() + Send + Sync + 'static,
    ) {
        let _ = jwks.on_removed.set(Box::new(on_removed));
        let weak: Weak<Jwks> = Arc::downgrade(jwks);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                ticks.tick().await;
                let Some(jwks) = weak.upgrade() else { return };
                if let Err(e) = jwks.refresh().await {
                    tracing::warn!(error = %e, "identity provider keys not refreshed; the held keys stay");
                }
            }
        });
    }

    /// The withdrawal count: read it before looking a key up, and keep what was verified with that key only if it
    /// has not changed once it is kept.
    pub fn withdrawals(&self) -> u64 {
        self.withdrawals.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn held(&self) -> Arc<HashMap<String, ProviderKey>> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The key a token's header names; fetches the set again (rate-limited) for a `kid` not held.
    pub async fn key(&self, kid: Option<&str>) -> Result<ProviderKey, super::AuthError> {
        if let Some(found) = self.lookup(kid) {
            return Ok(found);
        }
        let Some(kid) = kid else {
            return Err(super::AuthError(
                "token has no `kid`, and the identity provider publishes several keys".into(),
            ));
        };
        {
            let mut last = self.last_fetch.lock().await;
            // Another request may have fetched the set while this one waited.
            if let Some(found) = self.lookup(Some(kid)) {
                return Ok(found);
            }
            if last.is_none_or(|at| at.elapsed() >= MIN_REFETCH) {
                *last = Some(Instant::now());
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, "identity provider keys could not be fetched for a new `kid`");
                }
            }
        }
        self.lookup(Some(kid)).ok_or_else(|| {
            super::AuthError("token `kid` names no key of the identity provider".into())
        })
    }

    fn lookup(&self, kid: Option<&str>) -> Option<ProviderKey> {
        let keys = self.held();
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            // A provider with a single key may leave `kid` out of its tokens.
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    /// Fetches the key set and replaces the held keys with it; returns how many are held. A set with no usable key is
    /// a failed fetch (a provider's glitch must not log everyone out): the held keys stay.
    async fn refresh(&self) -> anyhow::Result<usize> {
        let body = fetch(&self.client, self.jwks_uri.as_str()).await?;
        let set: KeySet = serde_json::from_slice(&body)
            .map_err(|e| anyhow::anyhow!("{}: not a JWK set ({e})", self.jwks_uri))?;
        let only = set.keys.len() == 1;
        let keys: HashMap<String, ProviderKey> = set
            .keys
            .into_iter()
            .filter_map(|raw| usable(raw, only))
            .collect();
        let held = keys.len();
        if held == 0 {
            anyhow::bail!("{}: no usable signing key in the set", self.jwks_uri);
        }
        let withdrawn = {
            let mut slot = self.keys.write().unwrap_or_else(|e| e.into_inner());
            let withdrawn = slot.keys().any(|kid| !keys.contains_key(kid));
            *slot = Arc::new(keys);
            withdrawn
        };
        if withdrawn {
            self.withdrawals
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if let Some(on_removed) = self.on_removed.get() {
                on_removed();
            }
        }
        Ok(held)
    }
}

/// A published key Steward verifies with, by `kid` (`""` for the single key of a set without `kid`s); `None` for
/// encryption keys, symmetric keys, other curves and keys whose `alg` does not fit them.
fn usable(raw: serde_json::Value, only: bool) -> Option<(String, ProviderKey)> {
    let jwk: Jwk = serde_json::from_value(raw).ok()?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            Algorithm::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    let stated = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(_) => return None,
    };
    if stated.is_some_and(|a| a != algorithm) {
        return None;
    }
    let kid = match jwk.common.key_id.clone() {
        Some(kid) => kid,
        None if only => String::new(),
        None => return None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some((kid, ProviderKey { key, algorithm }))
}

async fn fetch(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let mut response = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    if !response.status().is_success() {
        anyhow::bail!("{url}: answered {}", response.status());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_DOCUMENT_BYTES {
            anyhow::bail!("{url}: larger than {MAX_DOCUMENT_BYTES} bytes");
        }
    }
    Ok(body)
}
