//! Master keys with versions. The newest version seals what is stored from now on (the key root, tenants' keys); an
//! older version is kept only to open what is still sealed under it, until `steward keys rotate` has sealed it all
//! anew and the older key can be withdrawn from the configuration.
//!
//! Each version's key is never used directly: it derives (HKDF-SHA256) the AES-256-GCM key that seals, and what is
//! sealed is bound (associated data) to what it is — the key root, or one tenant's keys — so a sealed blob moved to
//! another row does not open.

use std::collections::BTreeMap;
use std::fmt;

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{CryptoError, MasterKey, Sealer, open_with, seal_with};

/// The highest master key version: room for a rotation a day for decades, and never a version that leaves no next.
const MAX_VERSION: i32 = 9999;

/// The configured master keys by version (1, 2, …); the highest is the current one.
pub struct MasterKeys {
    by_version: BTreeMap<i32, Sealer>,
    /// The key of version 1: an existing deployment's key root (see [`crate::keys::open_root`]).
    first: Option<MasterKey>,
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKeys(versions {:?}, <redacted>)", self.versions())
    }
}

impl Clone for MasterKeys {
    fn clone(&self) -> Self {
        MasterKeys {
            by_version: self
                .by_version
                .iter()
                .map(|(v, sealer)| (*v, Sealer::new(sealer.key.clone())))
                .collect(),
            first: self.first.clone(),
        }
    }
}

impl MasterKeys {
    /// One master key, as version 1 (`STEWARD_MASTER_KEY`).
    pub fn single(key: MasterKey) -> MasterKeys {
        MasterKeys::from_versions([(1, key)])
    }

    fn from_versions(keys: impl IntoIterator<Item = (i32, MasterKey)>) -> MasterKeys {
        let mut first = None;
        let by_version = keys
            .into_iter()
            .map(|(version, key)| {
                if version == 1 {
                    first = Some(key.clone());
                }
                (version, Sealer::new(wrapping_key(&key)))
            })
            .collect();
        MasterKeys { by_version, first }
    }

    /// `STEWARD_MASTER_KEYS`: `<version>:<64 hex characters>` separated by commas or white space, e.g.
    /// `2:<new>,1:<old>`. Versions are whole numbers from 1, each given once; the highest is current. The error names
    /// the version at fault, never a key.
    pub fn parse(text: &str) -> Result<MasterKeys, String> {
        let mut keys = BTreeMap::new();
        for item in text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            let (version, hex_key) = item
                .split_once(':')
                .ok_or("each master key is `<version>:<64 hex characters>`")?;
            let version: i32 = version
                .trim()
                .parse()
                .ok()
                .filter(|v| (1..=MAX_VERSION).contains(v))
                .ok_or("a master key version is a whole number from 1 to 9999")?;
            let key = MasterKey::from_hex(hex_key)
                .ok_or_else(|| format!("master key version {version} is not 64 hex characters"))?;
            if keys.insert(version, key).is_some() {
                return Err(format!("master key version {version} is given twice"));
            }
        }
        if keys.is_empty() {
            return Err("no master key given".into());
        }
        Ok(MasterKeys::from_versions(keys))
    }

    /// A one-way fingerprint of each configured version's key (HKDF, another output than the sealing key), to tell
    /// whether a key given as a version is the one first used as it.
    pub fn fingerprints(&self) -> Vec<(i32, [u8; 32])> {
        self.by_version
            .iter()
            .map(|(version, sealer)| {
                let hk = Hkdf::<Sha256>::from_prk(sealer.key.as_ref())
                    .unwrap_or_else(|_| unreachable!("a 32-byte key is a valid HKDF-SHA256 PRK"));
                let mut out = [0u8; 32];
                let _ = hk.expand(b"steward/master-key-fingerprint", &mut out);
                (*version, out)
            })
            .collect()
    }

    /// The version that seals from now on.
    pub fn current(&self) -> i32 {
        self.by_version.keys().next_back().copied().unwrap_or(1)
    }

    pub fn versions(&self) -> Vec<i32> {
        self.by_version.keys().copied().collect()
    }

    /// The key of version 1, if configured.
    pub(crate) fn first(&self) -> Option<&MasterKey> {
        self.first.as_ref()
    }

    /// Seals `plain` under the current version, bound to `context`: `(version, sealed)`.
    pub(crate) fn seal(&self, context: &[u8], plain: &[u8]) -> Result<(i32, Vec<u8>), CryptoError> {
        let version = self.current();
        let sealer = self
            .by_version
            .get(&version)
            .ok_or(CryptoError::NoMasterVersion(version))?;
        Ok((version, seal_with(sealer, plain, context)?))
    }

    /// Opens what was sealed under `version` for `context`.
    pub(crate) fn open(
        &self,
        version: i32,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let sealer = self
            .by_version
            .get(&version)
            .ok_or(CryptoError::NoMasterVersion(version))?;
        open_with(sealer, sealed, context).map(Zeroizing::new)
    }
}

fn wrapping_key(key: &MasterKey) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(b"steward/master/v1"), key.0.as_ref());
    let mut out = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
    let _ = hk.expand(b"seal-stored-keys", out.as_mut());
    out
}

impl MasterKey {
    /// A key root opened from storage.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<MasterKey, CryptoError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Opaque)?;
        Ok(MasterKey(Zeroizing::new(array)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> String {
        format!("{byte:02x}").repeat(32)
    }

    #[test]
    fn versions_parse_and_the_highest_is_current() {
        let keys = MasterKeys::parse(&format!("2:{},1:{}", key(0xb2), key(0xa1))).unwrap();
        assert_eq!(keys.versions(), vec![1, 2]);
        assert_eq!(keys.current(), 2);
        assert!(keys.first().is_some());
        let spaced = MasterKeys::parse(&format!(" 1:{}\n3:{} ", key(1), key(3))).unwrap();
        assert_eq!((spaced.versions(), spaced.current()), (vec![1, 3], 3));
        assert!(
            MasterKeys::parse(&format!("7:{}", key(7)))
                .unwrap()
                .first()
                .is_none()
        );
        for (bad, says) in [
            (String::new(), "no master key"),
            (key(1), "<version>:"),
            (format!("0:{}", key(1)), "from 1"),
            (format!("x:{}", key(1)), "from 1"),
            (format!("10000:{}", key(1)), "to 9999"),
            (format!("2147483647:{}", key(1)), "to 9999"),
            (format!("1:{}", &key(1)[..10]), "version 1 is not 64 hex"),
            (
                format!("2:{},2:{}", key(1), key(2)),
                "version 2 is given twice",
            ),
        ] {
            let err = MasterKeys::parse(&bad).unwrap_err();
            assert!(err.contains(says), "{bad:?}: {err}");
            assert!(
                !err.contains(&key(1)) && !err.contains(&key(2)),
                "never the key"
            );
        }
    }

    #[test]
    fn sealed_under_one_version_opens_with_it_only_and_for_its_context() {
        let both = MasterKeys::parse(&format!("2:{},1:{}", key(0xb2), key(0xa1))).unwrap();
        let (version, sealed) = both.seal(b"ctx", b"secret bytes").unwrap();
        assert_eq!(version, 2);
        assert_eq!(&*both.open(2, b"ctx", &sealed).unwrap(), b"secret bytes");
        assert!(both.open(1, b"ctx", &sealed).is_err(), "another version");
        assert!(both.open(2, b"other", &sealed).is_err(), "another context");
        let old_only = MasterKeys::parse(&format!("1:{}", key(0xa1))).unwrap();
        assert!(matches!(
            old_only.open(2, b"ctx", &sealed),
            Err(CryptoError::NoMasterVersion(2))
        ));
        let wrong = MasterKeys::parse(&format!("2:{}", key(0xc3))).unwrap();
        assert!(matches!(
            wrong.open(2, b"ctx", &sealed),
            Err(CryptoError::Opaque)
        ));
    }
}
