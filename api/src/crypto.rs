//! Envelope encryption of personal data, and blind indexes for lookups.
//!
//! - Each tenant has a key-encryption key derived from `STEWARD_MASTER_KEY` with HKDF-SHA256 (info names the tenant),
//!   so no tenant key is ever stored.
//! - Each data subject has a random 256-bit data key, stored only wrapped (XChaCha20-Poly1305) by its tenant's key.
//!   Deleting that wrapped key makes every copy of the subject's values — backups included — unreadable.
//! - Each value is sealed with XChaCha20-Poly1305 under its subject's key, with the tenant, subject and category as
//!   associated data, so a ciphertext moved to another row, subject or tenant fails to open.
//! - Lookups by email use HMAC-SHA256 of the normalised address under a per-tenant key (a blind index).
//!
//! Sealed bytes are `version (1) || nonce (24) || ciphertext+tag`. Keys are zeroed when dropped.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ids::TenantId;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const HKDF_SALT: &[u8] = b"steward/keys/v1";

/// Why something could not be opened. Never says more: the caller logs it as an internal error.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("sealed data is malformed or was altered")]
    Opaque,
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

/// Derives every tenant's keys from the master key.
#[derive(Clone, Debug)]
pub struct Keyring {
    master: MasterKey,
}

impl Keyring {
    pub fn new(master: MasterKey) -> Self {
        Keyring { master }
    }

    fn derive(&self, purpose: &str, tenant: TenantId) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), self.master.0.as_ref());
        let mut out = Zeroizing::new([0u8; 32]);
        let info = [purpose.as_bytes(), b":", tenant.0.as_bytes()].concat();
        // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
        let _ = hk.expand(&info, out.as_mut());
        out
    }

    fn derive_for(&self, purpose: &str, context: &[u8]) -> Zeroizing<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), self.master.0.as_ref());
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

    /// The HMAC secret of the erasure webhooks sent to one sub-processor (hex), shared with it out of band.
    pub fn webhook_secret(&self, sub_processor: uuid::Uuid) -> String {
        hex::encode(
            self.derive_for("erasure-webhook", sub_processor.as_bytes())
                .as_ref(),
        )
    }

    /// The key that wraps a tenant's subject keys.
    pub fn tenant_key(&self, tenant: TenantId) -> TenantKey {
        TenantKey {
            tenant,
            key: self.derive("tenant-kek", tenant),
        }
    }

    /// The keyed hash of a lookup value (e.g. a normalised email) within a tenant.
    pub fn blind_index(&self, tenant: TenantId, normalised: &str) -> String {
        let key = self.derive("blind-index", tenant);
        // HMAC accepts keys of any length.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key.as_ref()).unwrap_or_else(|_| unreachable!());
        mac.update(normalised.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A tenant's key-encryption key.
pub struct TenantKey {
    tenant: TenantId,
    key: Zeroizing<[u8; 32]>,
}

impl TenantKey {
    /// Wraps a subject key for storage, bound to the subject.
    pub fn wrap(&self, subject: uuid::Uuid, key: &SubjectKey) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.key, key.0.as_ref(), &self.aad(subject))
    }

    /// Unwraps a stored subject key.
    pub fn unwrap(&self, subject: uuid::Uuid, wrapped: &[u8]) -> Result<SubjectKey, CryptoError> {
        let bytes = Zeroizing::new(open_with(&self.key, wrapped, &self.aad(subject))?);
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Opaque)?;
        Ok(SubjectKey(Zeroizing::new(array), self.tenant, subject))
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
pub struct SubjectKey(Zeroizing<[u8; 32]>, TenantId, uuid::Uuid);

impl SubjectKey {
    pub fn generate(tenant: TenantId, subject: uuid::Uuid) -> Result<SubjectKey, CryptoError> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut()).map_err(|_| CryptoError::Randomness)?;
        Ok(SubjectKey(key, tenant, subject))
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

fn seal_with(key: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|_| CryptoError::Randomness)?;
    let ciphertext = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Opaque)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

fn open_with(key: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < 1 + NONCE_LEN || sealed[0] != VERSION {
        return Err(CryptoError::Opaque);
    }
    let (nonce, ciphertext) = sealed[1..].split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Opaque)?;
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            &XNonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::Opaque)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> Keyring {
        Keyring::new(MasterKey::from_hex(&"ab".repeat(32)).unwrap())
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
