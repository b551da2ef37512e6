//! Envelope encryption of personal data, and blind indexes for lookups.
//!
//! - Master keys have versions ([`MasterKeys`]): the newest wraps what is stored now, older ones only unwrap until
//!   `steward keys rotate` has re-wrapped everything under the newest ([`master`]).
//! - The key root (32 bytes, stored sealed under a master key version) derives the platform's own keys with
//!   HKDF-SHA256; a deployment's root is its first master key, so nothing derived changed when versions came.
//! - Each tenant has a key-encryption key and two index keys ([`TenantKeys`]): random and stored sealed under a master
//!   key version for tenants created since, derived from the key root (info names the tenant) for those created
//!   before, until a rotation stores them.
//! - Each data subject has a random 256-bit data key, stored only wrapped (AES-256-GCM) by its tenant's key.
//!   Deleting that wrapped key makes every copy of the subject's values — backups included — unreadable.
//! - Each value is sealed with AES-256-GCM under its subject's key, with the tenant, subject and category as
//!   associated data, so a ciphertext moved to another row, subject or tenant fails to open.
//! - Lookups by email use HMAC-SHA256 of the normalised address under a per-tenant key (a blind index); a subject's
//!   external id is kept unique and found the same way, under a key of its own, and stored only sealed.
//!
//! Sealed bytes start with a format byte: `2 || nonce (12) || ciphertext+tag` (AES-256-GCM, written since 2026-11-29)
//! or `1 || nonce (24) || ciphertext+tag` (XChaCha20-Poly1305, written before; still opened). AES-GCM because a page
//! opens dozens of short values and the CPU's AES instructions make each open several times cheaper than XChaCha's
//! (the hot read spent 13% of its time there). Random 96-bit nonces are safe here: a subject key seals a handful of
//! values and a tenant key wraps one key per subject, far below the 2^32 messages per key that random nonces allow.
//! Keys, and the AES key schedules expanded from them once per key ([`Sealer`]), are zeroed when dropped.

use std::fmt;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::ids::TenantId;
use aes_gcm::Aes256Gcm;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

mod master;
pub use master::MasterKeys;

/// XChaCha20-Poly1305 with a 24-byte nonce: opened, no longer written.
const V1_XCHACHA: u8 = 1;
const V1_NONCE_LEN: usize = 24;
/// AES-256-GCM with a 12-byte nonce: what every seal writes.
const V2_AES_GCM: u8 = 2;
const V2_NONCE_LEN: usize = 12;
/// A derived key shared by the clones of a keyring.
type SharedKey = Arc<Sealer>;
/// Tenant keys kept derived; past this many the cache starts over (a derivation costs a few microseconds).
const TENANT_KEY_CACHE: usize = 100_000;
const HKDF_SALT: &[u8] = b"steward/keys/v1";

/// Why something could not be opened. Never says more: the caller logs it as an internal error.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed data is malformed or was altered")]
    Opaque,
    #[error(
        "a key is sealed under master key version {0}, which is not configured (STEWARD_MASTER_KEYS)"
    )]
    NoMasterVersion(i32),
    #[error("no randomness available")]
    Randomness,
}

/// The root secret: 32 bytes, given as 64 hex characters.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    pub fn from_hex(hex_key: &str) -> Option<MasterKey> {
        let bytes = hex::decode(hex_key.trim()).ok()?;
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(MasterKey(Zeroizing::new(array)))
    }

    pub fn generate() -> Result<MasterKey, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|_| CryptoError::Randomness)?;
        Ok(MasterKey(key))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_ref())
    }
}

/// A tenant, and the master key version its keys were stored under (`None`: derived).
type TenantSlot = (TenantId, Option<i32>);

/// The master keys by version, the key root, and the tenants' keys opened so far.
#[derive(Clone)]
pub struct Keyring {
    masters: Arc<MasterKeys>,
    /// What the platform's keys (and the keys of tenants whose keys are not stored) derive from.
    root: MasterKey,
    /// Tenant keys opened or derived so far, by tenant and the master version they were stored under (`None`:
    /// derived): once per tenant, not once per subject read. Holding them adds nothing an attacker of this process
    /// lacks: the master keys they open with are here too.
    tenant_keys: Arc<RwLock<HashMap<TenantSlot, Arc<TenantKeys>>>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Keyring(<redacted>)")
    }
}

impl Keyring {
    /// One master key (version 1), which is also the key root: a deployment before it stored its root.
    pub fn new(master: MasterKey) -> Self {
        Keyring::with_root(MasterKeys::single(master.clone()), master)
    }

    /// The configured master keys and the key root opened with one of them ([`crate::keys::open_root`]).
    pub fn with_root(masters: MasterKeys, root: MasterKey) -> Self {
        Keyring {
            masters: Arc::new(masters),
            root,
            tenant_keys: Arc::default(),
        }
    }

    /// The keyring whose key root is stored sealed under master key `version`.
    pub fn open_root(
        masters: MasterKeys,
        version: i32,
        sealed: &[u8],
    ) -> Result<Keyring, CryptoError> {
        let root = MasterKey::from_bytes(&masters.open(version, ROOT_CONTEXT, sealed)?)?;
        Ok(Keyring::with_root(masters, root))
    }

    pub fn masters(&self) -> &MasterKeys {
        &self.masters
    }

    /// The key root, sealed under the newest master key (for storing it, or re-wrapping it in a rotation).
    pub fn seal_root(&self) -> Result<(i32, Vec<u8>), CryptoError> {
        self.masters.seal(ROOT_CONTEXT, self.root.0.as_ref())
    }

    /// A tenant's keys: opened from what is stored (`Some((version, sealed))`), or derived from the key root for a
    /// tenant whose keys are not stored. Kept once opened.
    pub fn tenant_keys(
        &self,
        tenant: TenantId,
        stored: Option<(i32, &[u8])>,
    ) -> Result<Arc<TenantKeys>, CryptoError> {
        let slot = (tenant, stored.map(|(version, _)| version));
        if let Some(keys) = self
            .tenant_keys
            .read()
            .ok()
            .and_then(|keys| keys.get(&slot).cloned())
        {
            return Ok(keys);
        }
        let keys = Arc::new(match stored {
            Some((version, sealed)) => {
                let plain = self
                    .masters
                    .open(version, &tenant_context(tenant), sealed)?;
                TenantKeys::from_bytes(tenant, &plain)?
            }
            None => self.derived_tenant_keys(tenant),
        });
        if let Ok(mut cache) = self.tenant_keys.write() {
            if cache.len() >= TENANT_KEY_CACHE {
                cache.clear();
            }
            cache.insert(slot, keys.clone());
        }
        Ok(keys)
    }

    /// Random keys for a new tenant, sealed under the newest master key: `(version, sealed)` to store with it.
    pub fn new_tenant_keys(&self, tenant: TenantId) -> Result<(i32, Vec<u8>), CryptoError> {
        let mut bytes = Zeroizing::new([0u8; TENANT_KEYS_LEN]);
        getrandom::fill(bytes.as_mut()).map_err(|_| CryptoError::Randomness)?;
        self.masters.seal(&tenant_context(tenant), bytes.as_ref())
    }

    /// A tenant's keys sealed under the newest master key, from what is stored now (opened with its version) or, for a
    /// tenant whose keys are derived, from the key root: the same keys, wrapped anew.
    pub fn reseal_tenant_keys(
        &self,
        tenant: TenantId,
        stored: Option<(i32, &[u8])>,
    ) -> Result<(i32, Vec<u8>), CryptoError> {
        let plain = match stored {
            Some((version, sealed)) => {
                self.masters
                    .open(version, &tenant_context(tenant), sealed)?
            }
            None => Zeroizing::new(self.derived_tenant_keys(tenant).to_bytes().to_vec()),
        };
        self.masters.seal(&tenant_context(tenant), &plain)
    }

    fn derived_tenant_keys(&self, tenant: TenantId) -> TenantKeys {
        TenantKeys {
            tenant,
            kek: Arc::new(Sealer::new(self.derive("tenant-kek", tenant))),
            blind: self.derive("blind-index", tenant),
            external: self.derive("external-id-index", tenant),
        }
    }

    fn derive(&self, purpose: &str, tenant: TenantId) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), self.root.0.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        let info = [purpose.as_bytes(), b":", tenant.0.as_bytes()].concat();
        // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
        let _ = hk.expand(&info, out.as_mut());
        out
    }

    fn derive_for(&self, purpose: &str, context: &[u8]) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), self.root.0.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        let info = [purpose.as_bytes(), b":", context].concat();
        let _ = hk.expand(&info, out.as_mut());
        out
    }

    /// The Ed25519 key that signs erasure certificates. Derived, so every instance signs with the same key and
    /// nothing more needs keeping; its public half is published at `/.well-known/steward-signing-key.json`.
    pub fn certificate_key(&self) -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&self.derive_for("certificate-signing", b"v1"))
    }

    /// A key for one purpose of the platform's own (e.g. signing unsubscribe links).
    pub fn purpose_key(&self, purpose: &str) -> Zeroizing<[u8; 32]> {
        self.derive_for(purpose, b"v1")
    }

    /// The signing secret an endpoint set before secrets were stored was given: derived from the master key and
    /// shown as 64 hex characters, whose ASCII bytes are the HMAC key (as `whsec_` + base64 of those characters).
    /// Kept until the endpoint's secret is rotated, so receivers configured then keep verifying.
    pub fn legacy_webhook_secret(&self, owner: uuid::Uuid) -> WebhookSecret {
        let hex_secret = hex::encode(
            self.derive_for("erasure-webhook", owner.as_bytes())
                .as_ref(),
        );
        WebhookSecret(Zeroizing::new(hex_secret.into_bytes()))
    }

    /// Wraps an endpoint's signing secret for storage, bound to its owner (the tenant or sub-processor).
    pub fn wrap_webhook_secret(
        &self,
        owner: uuid::Uuid,
        secret: &WebhookSecret,
    ) -> Result<Vec<u8>, CryptoError> {
        let key = Sealer::new(self.derive_for("webhook-secret-wrap", b"v1"));
        seal_with(&key, &secret.0, &webhook_aad(owner))
    }

    pub fn unwrap_webhook_secret(
        &self,
        owner: uuid::Uuid,
        sealed: &[u8],
    ) -> Result<WebhookSecret, CryptoError> {
        let key = Sealer::new(self.derive_for("webhook-secret-wrap", b"v1"));
        open_with(&key, sealed, &webhook_aad(owner)).map(|b| WebhookSecret(Zeroizing::new(b)))
    }

    /// The key that wraps the subject keys of a tenant whose keys are derived (not stored).
    pub fn tenant_key(&self, tenant: TenantId) -> TenantKey {
        self.derived(tenant).tenant_key()
    }

    /// The email blind index of a tenant whose keys are derived (not stored).
    pub fn blind_index(&self, tenant: TenantId, normalised: &str) -> String {
        self.derived(tenant).blind_index(normalised)
    }

    /// The external-id index of a tenant whose keys are derived (not stored).
    pub fn external_id_index(&self, tenant: TenantId, external_id: &str) -> String {
        self.derived(tenant).external_id_index(external_id)
    }

    fn derived(&self, tenant: TenantId) -> Arc<TenantKeys> {
        self.tenant_keys(tenant, None)
            .unwrap_or_else(|_| Arc::new(self.derived_tenant_keys(tenant)))
    }
}

/// What a sealed key root is bound to.
const ROOT_CONTEXT: &[u8] = b"key-root";
/// The bytes of a tenant's keys: key-encryption key, email index key, external-id index key.
const TENANT_KEYS_LEN: usize = 96;

fn tenant_context(tenant: TenantId) -> Vec<u8> {
    [b"tenant-keys:".as_slice(), tenant.0.as_bytes()].concat()
}

/// A tenant's keys: the key that wraps its subjects' keys, and the keys of its blind indexes (email, external id).
pub struct TenantKeys {
    tenant: TenantId,
    kek: SharedKey,
    blind: Zeroizing<[u8; 32]>,
    external: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantKeys({}, <redacted>)", self.tenant)
    }
}

impl TenantKeys {
    fn from_bytes(tenant: TenantId, bytes: &[u8]) -> Result<TenantKeys, CryptoError> {
        if bytes.len() != TENANT_KEYS_LEN {
            return Err(CryptoError::Opaque);
        }
        let part = |i: usize| {
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&bytes[i * 32..(i + 1) * 32]);
            key
        };
        Ok(TenantKeys {
            tenant,
            kek: Arc::new(Sealer::new(part(0))),
            blind: part(1),
            external: part(2),
        })
    }

    fn to_bytes(&self) -> Zeroizing<[u8; TENANT_KEYS_LEN]> {
        let mut out = Zeroizing::new([0u8; TENANT_KEYS_LEN]);
        out[..32].copy_from_slice(self.kek.key.as_ref());
        out[32..64].copy_from_slice(self.blind.as_ref());
        out[64..].copy_from_slice(self.external.as_ref());
        out
    }

    /// The key that wraps this tenant's subject keys.
    pub fn tenant_key(&self) -> TenantKey {
        TenantKey {
            tenant: self.tenant,
            key: self.kek.clone(),
        }
    }

    /// The keyed hash of a lookup value (e.g. a normalised email) within the tenant.
    pub fn blind_index(&self, normalised: &str) -> String {
        hmac_hex(&self.blind, normalised)
    }

    /// The keyed hash that keeps a subject's external id unique and searchable within the tenant without storing it.
    /// A key of its own, so an external id never shares an index with an email.
    pub fn external_id_index(&self, external_id: &str) -> String {
        hmac_hex(&self.external, external_id)
    }
}

fn webhook_aad(owner: uuid::Uuid) -> Vec<u8> {
    [b"webhook-secret:".as_slice(), owner.as_bytes()].concat()
}

/// A webhook endpoint's signing secret (Standard Webhooks): 32 random bytes, handed out once as `whsec_<base64>` and
/// stored only wrapped. Cleared on drop.
pub struct WebhookSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    pub fn generate() -> Result<WebhookSecret, CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        getrandom::fill(&mut bytes).map_err(|_| CryptoError::Randomness)?;
        Ok(WebhookSecret(bytes))
    }

    /// The HMAC key.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// A secret given as `whsec_<base64>`.
    pub fn from_whsec(text: &str) -> Option<WebhookSecret> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.strip_prefix("whsec_")?)
            .ok()?;
        (!bytes.is_empty()).then(|| WebhookSecret(Zeroizing::new(bytes)))
    }

    /// As a receiver configures it: `whsec_` and the key in standard base64.
    pub fn to_whsec(&self) -> String {
        use base64::Engine as _;
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(&*self.0)
        )
    }
}

fn hmac_hex(key: &[u8; 32], data: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A tenant's key-encryption key.
pub struct TenantKey {
    tenant: TenantId,
    key: SharedKey,
}

impl TenantKey {
    /// Wraps a subject key for storage, bound to the subject.
    pub fn wrap(&self, subject: uuid::Uuid, key: &SubjectKey) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.key, key.0.key.as_ref(), &self.aad(subject))
    }

    /// Unwraps a stored subject key.
    pub fn unwrap(&self, subject: uuid::Uuid, wrapped: &[u8]) -> Result<SubjectKey, CryptoError> {
        let bytes = Zeroizing::new(open_with(&self.key, wrapped, &self.aad(subject))?);
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Opaque)?;
        Ok(SubjectKey(
            Sealer::new(Zeroizing::new(array)),
            self.tenant,
            subject,
        ))
    }

    fn aad(&self, subject: uuid::Uuid) -> Vec<u8> {
        [
            b"subject-key:".as_slice(),
            self.tenant.0.as_bytes(),
            subject.as_bytes(),
        ]
        .concat()
    }
}

/// A subject's data key, bound to its tenant and subject.
pub struct SubjectKey(Sealer, TenantId, uuid::Uuid);

impl SubjectKey {
    pub fn generate(tenant: TenantId, subject: uuid::Uuid) -> Result<SubjectKey, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|_| CryptoError::Randomness)?;
        Ok(SubjectKey(Sealer::new(key), tenant, subject))
    }

    /// Seals one value of the subject; `context` (e.g. the category) must be given again to open it.
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.0, plaintext.as_bytes(), &self.aad(context))
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<String, CryptoError> {
        let bytes = open_with(&self.0, sealed, &self.aad(context))?;
        String::from_utf8(bytes).map_err(|_| CryptoError::Opaque)
    }

    fn aad(&self, context: &str) -> Vec<u8> {
        [
            b"value:".as_slice(),
            self.1.0.as_bytes(),
            self.2.as_bytes(),
            context.as_bytes(),
        ]
        .concat()
    }
}

/// A 256-bit key with its AES-256-GCM key schedule, expanded once per key rather than once per value (a page opens
/// 40 values under 20 keys, each key unwrapped under one tenant key). The `aes` crate's `zeroize` feature clears the
/// schedule on drop, as `Zeroizing` clears the key.
pub(crate) struct Sealer {
    key: Zeroizing<[u8; 32]>,
    aes: Aes256Gcm,
}

impl Sealer {
    fn new(key: Zeroizing<[u8; 32]>) -> Self {
        let aes = Aes256Gcm::new((&*key).into());
        Sealer { key, aes }
    }
}

fn seal_with(key: &Sealer, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; V2_NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| CryptoError::Randomness)?;
    let ciphertext = key
        .aes
        .encrypt(
            &nonce.into(),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Opaque)?;
    let mut out = Vec::with_capacity(1 + V2_NONCE_LEN + ciphertext.len());
    out.push(V2_AES_GCM);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

fn open_with(key: &Sealer, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let Some((&format, rest)) = sealed.split_first() else {
        return Err(CryptoError::Opaque);
    };
    let opened = match format {
        V2_AES_GCM if rest.len() >= V2_NONCE_LEN => {
            let (nonce, msg) = rest.split_at(V2_NONCE_LEN);
            let nonce: [u8; V2_NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Opaque)?;
            key.aes.decrypt(&nonce.into(), Payload { msg, aad })
        }
        V1_XCHACHA if rest.len() >= V1_NONCE_LEN => {
            let (nonce, msg) = rest.split_at(V1_NONCE_LEN);
            let nonce: [u8; V1_NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Opaque)?;
            XChaCha20Poly1305::new((&*key.key).into())
                .decrypt(&XNonce::from(nonce), Payload { msg, aad })
        }
        _ => return Err(CryptoError::Opaque),
    };
    opened.map_err(|_| CryptoError::Opaque)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(MasterKey::from_hex(&"ab".repeat(32)).unwrap())
    }

    /// Webhook receivers hold these secrets: they must not change with a refactor. Pinned for one master key and id;
    /// a tenant's notice secret and a sub-processor's erasure secret are derived alike, each from its own id.
    #[test]
    fn legacy_webhook_secrets_are_stable() {
        let ring = keyring();
        let id = uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);
        let pinned = "0c2cc4fb35a7359d4d3596051caa00a128bdd36a3a748268d6e221195bc0c23e";
        // The secret endpoints set before secrets were stored were shown: receivers hold it.
        assert_eq!(ring.legacy_webhook_secret(id).bytes(), pinned.as_bytes());
        assert_ne!(
            ring.legacy_webhook_secret(uuid::Uuid::now_v7()).bytes(),
            pinned.as_bytes()
        );
    }

    #[test]
    fn webhook_secrets_are_random_and_wrapped_for_their_owner() {
        let ring = keyring();
        let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let secret = WebhookSecret::generate().unwrap();
        assert_ne!(secret.bytes(), WebhookSecret::generate().unwrap().bytes());
        assert!(secret.to_whsec().starts_with("whsec_") && secret.to_whsec().len() == 6 + 44);
        let wrapped = ring.wrap_webhook_secret(a, &secret).unwrap();
        assert!(
            !wrapped
                .windows(8)
                .any(|w| secret.bytes().windows(8).any(|s| s == w))
        );
        assert_eq!(
            ring.unwrap_webhook_secret(a, &wrapped).unwrap().bytes(),
            secret.bytes()
        );
        assert!(
            ring.unwrap_webhook_secret(b, &wrapped).is_err(),
            "bound to its owner"
        );
        let other = Keyring::new(MasterKey::generate().unwrap());
        assert!(
            other.unwrap_webhook_secret(a, &wrapped).is_err(),
            "and to the master key"
        );
    }

    #[test]
    fn values_round_trip_and_are_bound_to_their_place() {
        let ring = keyring();
        let (t1, t2) = (TenantId::new(), TenantId::new());
        let (s1, s2) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let key = SubjectKey::generate(t1, s1).unwrap();
        let wrapped = ring.tenant_key(t1).wrap(s1, &key).unwrap();
        let sealed = key.seal("user.name", "Ada Lovelace").unwrap();
        assert!(!sealed.windows(3).any(|w| w == b"Ada"));

        let again = ring.tenant_key(t1).unwrap(s1, &wrapped).unwrap();
        assert_eq!(again.open("user.name", &sealed).unwrap(), "Ada Lovelace");
        // Another category, subject or tenant cannot open it.
        assert!(again.open("user.contact.email", &sealed).is_err());
        assert!(ring.tenant_key(t1).unwrap(s2, &wrapped).is_err());
        assert!(ring.tenant_key(t2).unwrap(s1, &wrapped).is_err());
        // A flipped bit is detected.
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(again.open("user.name", &tampered).is_err());
        // Another master key cannot unwrap.
        let other = Keyring::new(MasterKey::from_hex(&"cd".repeat(32)).unwrap());
        assert!(other.tenant_key(t1).unwrap(s1, &wrapped).is_err());
    }

    /// What every seal wrote before AES-256-GCM: format 1, XChaCha20-Poly1305.
    fn seal_v1(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = [7u8; V1_NONCE_LEN];
        let ciphertext = XChaCha20Poly1305::new(key.into())
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap();
        [&[V1_XCHACHA][..], &nonce, &ciphertext].concat()
    }

    #[test]
    fn seals_are_aes_gcm_and_older_xchacha_seals_still_open() {
        let key = Sealer::new(Zeroizing::new([9u8; 32]));
        let sealed = seal_with(&key, b"Ada", b"ctx").unwrap();
        assert_eq!(sealed[0], V2_AES_GCM);
        assert_eq!(sealed.len(), 1 + V2_NONCE_LEN + 3 + 16);
        assert_eq!(open_with(&key, &sealed, b"ctx").unwrap(), b"Ada");
        // Two seals of one value differ (fresh nonce).
        assert_ne!(sealed, seal_with(&key, b"Ada", b"ctx").unwrap());

        let old = seal_v1(&key.key, b"Ada", b"ctx");
        assert_eq!(open_with(&key, &old, b"ctx").unwrap(), b"Ada");
        assert!(open_with(&key, &old, b"other").is_err());
        assert!(open_with(&Sealer::new(Zeroizing::new([8u8; 32])), &old, b"ctx").is_err());

        // A format byte that lies, an unknown format, or too few bytes: refused, never a panic.
        let mut relabelled = old.clone();
        relabelled[0] = V2_AES_GCM;
        assert!(open_with(&key, &relabelled, b"ctx").is_err());
        let mut relabelled = sealed.clone();
        relabelled[0] = V1_XCHACHA;
        assert!(open_with(&key, &relabelled, b"ctx").is_err());
        let mut unknown = sealed.clone();
        unknown[0] = 3;
        assert!(open_with(&key, &unknown, b"ctx").is_err());
        for short in [
            &[][..],
            &[V2_AES_GCM][..],
            &sealed[..V2_NONCE_LEN],
            &old[..V1_NONCE_LEN],
        ] {
            assert!(open_with(&key, short, b"ctx").is_err());
        }
    }

    #[test]
    fn tenant_keys_are_derived_once_and_stay_per_tenant() {
        let ring = keyring();
        let (t1, t2) = (TenantId::new(), TenantId::new());
        let subject = uuid::Uuid::now_v7();
        let key = SubjectKey::generate(t1, subject).unwrap();
        let wrapped = ring.tenant_key(t1).wrap(subject, &key).unwrap();
        // The second derivation comes from the cache and is the same key; another tenant's is not.
        assert!(ring.tenant_key(t1).unwrap(subject, &wrapped).is_ok());
        assert!(ring.tenant_key(t2).unwrap(subject, &wrapped).is_err());
        assert_eq!(ring.tenant_keys.read().unwrap().len(), 2);
        // A clone shares the cache; a fresh keyring derives the same key.
        assert!(keyring().tenant_key(t1).unwrap(subject, &wrapped).is_ok());
    }

    #[test]
    fn stored_tenant_keys_are_random_and_reseal_to_the_same_keys() {
        let ring = keyring();
        let (t1, t2) = (TenantId::new(), TenantId::new());
        let subject = uuid::Uuid::now_v7();
        let (version, sealed) = ring.new_tenant_keys(t1).unwrap();
        assert_eq!(version, 1);
        let keys = ring.tenant_keys(t1, Some((1, &sealed))).unwrap();
        // Random, not the derived keys; bound to their tenant.
        let derived = ring.tenant_keys(t1, None).unwrap();
        assert_ne!(keys.blind_index("a@b.c"), derived.blind_index("a@b.c"));
        assert_ne!(keys.blind_index("a@b.c"), keys.external_id_index("a@b.c"));
        assert!(ring.tenant_keys(t2, Some((1, &sealed))).is_err());
        let (_, other) = ring.new_tenant_keys(t1).unwrap();
        let other = ring.tenant_keys(TenantId(t1.0), Some((1, &other)));
        assert!(other.is_ok());
        let wrapped = keys
            .tenant_key()
            .wrap(subject, &SubjectKey::generate(t1, subject).unwrap())
            .unwrap();

        // Under a second master key version: re-sealed, the same keys open the same data.
        let both = Keyring::with_root(
            MasterKeys::parse(&format!("2:{},1:{}", "cd".repeat(32), "ab".repeat(32))).unwrap(),
            MasterKey::from_hex(&"ab".repeat(32)).unwrap(),
        );
        let (v2, resealed) = both.reseal_tenant_keys(t1, Some((1, &sealed))).unwrap();
        assert_eq!(v2, 2);
        assert_ne!(resealed, sealed);
        let only_new = Keyring::with_root(
            MasterKeys::parse(&format!("2:{}", "cd".repeat(32))).unwrap(),
            MasterKey::from_hex(&"ab".repeat(32)).unwrap(),
        );
        let reopened = only_new.tenant_keys(t1, Some((2, &resealed))).unwrap();
        assert_eq!(reopened.blind_index("a@b.c"), keys.blind_index("a@b.c"));
        assert!(reopened.tenant_key().unwrap(subject, &wrapped).is_ok());
        assert!(matches!(
            only_new.tenant_keys(t2, Some((1, &sealed))),
            Err(CryptoError::NoMasterVersion(1))
        ));
        // A derived tenant's keys, stored: the derived keys exactly.
        let (_, stored) = both.reseal_tenant_keys(t2, None).unwrap();
        assert_eq!(
            only_new
                .tenant_keys(t2, Some((2, &stored)))
                .unwrap()
                .blind_index("x"),
            ring.blind_index(t2, "x")
        );
        // The root, sealed and opened: the same platform keys.
        let (rv, root) = both.seal_root().unwrap();
        let opened = Keyring::open_root(
            MasterKeys::parse(&format!("2:{}", "cd".repeat(32))).unwrap(),
            rv,
            &root,
        )
        .unwrap();
        assert_eq!(
            opened.certificate_key().verifying_key(),
            ring.certificate_key().verifying_key()
        );
    }

    #[test]
    fn blind_indexes_are_keyed_per_tenant() {
        let ring = keyring();
        let (t1, t2) = (TenantId::new(), TenantId::new());
        assert_eq!(
            ring.blind_index(t1, "ann@example.org"),
            ring.blind_index(t1, "ann@example.org")
        );
        assert_ne!(
            ring.blind_index(t1, "ann@example.org"),
            ring.blind_index(t2, "ann@example.org")
        );
        assert_ne!(
            ring.blind_index(t1, "ann@example.org"),
            ring.blind_index(t1, "bob@example.org")
        );
    }

    #[test]
    fn master_keys_are_32_bytes_of_hex() {
        assert!(MasterKey::from_hex(&"ab".repeat(32)).is_some());
        assert!(MasterKey::from_hex(&"ab".repeat(16)).is_none());
        assert!(MasterKey::from_hex("not hex").is_none());
        let generated = MasterKey::generate().unwrap();
        assert_eq!(
            MasterKey::from_hex(&generated.to_hex()).unwrap().to_hex(),
            generated.to_hex()
        );
        assert!(!format!("{generated:?}").contains(&generated.to_hex()));
    }
}
