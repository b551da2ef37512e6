//! Keys and secrets in the configuration: [`Secret`] (never printed), secrets read from files, the token key
//! sources ([`JwtKey`]), and the demo's generated keys.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::ConfigError;
use crate::crypto::MasterKey;

/// Shortest HS256 secret accepted: anything shorter can be brute-forced offline from a single token.
pub const MIN_HS256_SECRET_BYTES: usize = 32;
pub(super) const DEMO_SECRET_FILE: &str = "demo-jwt-secret";
pub(super) const DEMO_MASTER_KEY_FILE: &str = "demo-master-key";

/// A configuration value that is never printed (keys, tokens, URLs that may carry a password): its `Debug` is
/// `<redacted>`, so no `{:?}` of the configuration, in a log or a panic, shows it. Read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

/// Files holding the secrets otherwise given in variables (`STEWARD_MASTER_KEY_FILE=/run/secrets/master-key`). A
/// trailing newline is dropped; setting both a secret and its file is an error.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SecretFiles {
    #[arg(long, env = "STEWARD_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    #[arg(long, env = "STEWARD_MASTER_KEYS_FILE")]
    pub master_keys_file: Option<PathBuf>,
    #[arg(long, env = "STEWARD_JWT_HS256_SECRET_FILE")]
    pub jwt_hs256_secret_file: Option<PathBuf>,
    #[arg(long, env = "STEWARD_DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,
    #[arg(long, env = "STEWARD_REGIONS_FILE")]
    pub regions_file: Option<PathBuf>,
    #[arg(long, env = "STEWARD_KEY_DATABASES_FILE")]
    pub key_databases_file: Option<PathBuf>,
    #[arg(long, env = "STEWARD_SMTP_URL_FILE")]
    pub smtp_url_file: Option<PathBuf>,
    #[arg(long, env = "STEWARD_METRICS_TOKEN_FILE")]
    pub metrics_token_file: Option<PathBuf>,
}

/// A secret from its variable or from its file (`<name>_FILE`), never both.
pub(super) fn secret(
    value: &Option<Secret>,
    file: &Option<PathBuf>,
    name: &str,
) -> Result<Option<Secret>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(ConfigError::Limit(format!(
            "set only one of {name} and {name}_FILE"
        ))),
        (Some(value), None) => Ok(Some(value.clone())),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::Limit(format!(
                    "{name}_FILE {}: cannot be read ({e})",
                    path.display()
                ))
            })?;
            Ok(Some(Secret::new(text.trim_end_matches(['\n', '\r']))))
        }
        (None, None) => Ok(None),
    }
}

/// The key tokens are verified with.
#[derive(Clone)]
pub enum JwtKey {
    Hs256(Vec<u8>),
    PublicPem {
        algorithm: Algorithm,
        pem: Vec<u8>,
    },
    /// The keys an OpenID Connect provider publishes (`crate::auth::jwks`).
    Oidc {
        issuer: url::Url,
        refresh: Duration,
    },
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtKey::Hs256(_) => f.write_str("Hs256(<redacted>)"),
            JwtKey::PublicPem { algorithm, .. } => write!(f, "PublicPem({algorithm:?})"),
            JwtKey::Oidc { issuer, .. } => write!(f, "Oidc({issuer})"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub key: JwtKey,
    /// The longest a token may live (`exp - iat`, or `exp - now` without `iat`); longer ones are refused.
    pub max_lifetime: Duration,
    /// The claims naming the caller's kind and a client's tenant.
    pub kind_claim: String,
    pub tenant_claim: String,
}

impl JwtConfig {
    /// An HS256 set-up with the default claim names (`kind`, `tid`).
    pub fn hs256(issuer: &str, audience: &str, secret: &[u8], max_lifetime: Duration) -> Self {
        JwtConfig {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            key: JwtKey::Hs256(secret.to_vec()),
            max_lifetime,
            kind_claim: "kind".into(),
            tenant_claim: "tid".into(),
        }
    }
}

pub(super) fn hs256_key(secret: Vec<u8>) -> Result<JwtKey, ConfigError> {
    if secret.len() < MIN_HS256_SECRET_BYTES {
        return Err(ConfigError::ShortSecret(secret.len()));
    }
    Ok(JwtKey::Hs256(secret))
}

/// The OpenID Connect issuer: `https`, or `http` to a loopback address (a provider on the same host, tests).
pub(super) fn oidc_issuer(raw: &str) -> Result<url::Url, ConfigError> {
    let bad = |why: &str| ConfigError::Limit(format!("STEWARD_OIDC_ISSUER `{raw}`: {why}"));
    let url = url::Url::parse(raw.trim()).map_err(|_| bad("not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("must be https (http only to a loopback address)")),
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(bad("an issuer has no query, fragment or credentials"));
    }
    Ok(url)
}

pub(super) fn public_key(path: &Path) -> Result<JwtKey, ConfigError> {
    let err = |why: String| ConfigError::PublicKey {
        path: path.display().to_string(),
        why,
    };
    let pem = std::fs::read(path).map_err(|e| err(format!("cannot be read ({e})")))?;
    let algorithm = if jsonwebtoken::DecodingKey::from_rsa_pem(&pem).is_ok() {
        Algorithm::RS256
    } else if jsonwebtoken::DecodingKey::from_ec_pem(&pem).is_ok() {
        Algorithm::ES256
    } else {
        return Err(err("is not a PEM RSA or EC public key".into()));
    };
    Ok(JwtKey::PublicPem { algorithm, pem })
}

/// The demo secret: 32 random bytes, hex-encoded in the data dir, readable only by its owner.
pub(super) fn demo_secret(dir: &Path, create: bool) -> Result<Vec<u8>, ConfigError> {
    let hex_secret = demo_file(dir, DEMO_SECRET_FILE, create)?;
    hex::decode(hex_secret.trim()).map_err(|_| damaged(dir, DEMO_SECRET_FILE))
}

/// The demo master key, kept like the demo secret.
pub(super) fn demo_master_key(dir: &Path, create: bool) -> Result<MasterKey, ConfigError> {
    let hex_key = demo_file(dir, DEMO_MASTER_KEY_FILE, create)?;
    MasterKey::from_hex(&hex_key).ok_or_else(|| damaged(dir, DEMO_MASTER_KEY_FILE))
}

pub(super) fn damaged(dir: &Path, file: &str) -> ConfigError {
    ConfigError::DataDir {
        path: dir.display().to_string(),
        why: format!(
            "{file} is damaged; delete it to make a new one (data sealed under it is then lost)"
        ),
    }
}

/// Reads a demo key file, or (when `create`) writes 32 fresh random bytes to it first.
pub(super) fn demo_file(dir: &Path, file: &str, create: bool) -> Result<String, ConfigError> {
    let path = dir.join(file);
    let dir_err = |why: String| ConfigError::DataDir {
        path: dir.display().to_string(),
        why,
    };
    match std::fs::read_to_string(&path) {
        Ok(contents) => return Ok(contents),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ConfigError::NoKey),
        Err(e) => return Err(dir_err(format!("cannot read {file} ({e})"))),
    }
    std::fs::create_dir_all(dir).map_err(|e| dir_err(format!("cannot be created ({e})")))?;
    let mut secret = zeroize::Zeroizing::new(vec![0u8; 32]);
    getrandom::fill(&mut secret)
        .map_err(|e| dir_err(format!("no randomness for a demo key ({e})")))?;
    let encoded = hex::encode(&secret);
    write_private(&path, encoded.as_bytes())
        .map_err(|e| dir_err(format!("cannot write {file} ({e})")))?;
    Ok(encoded)
}

pub(super) fn random_bytes() -> Result<Vec<u8>, ConfigError> {
    let mut bytes = vec![0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ConfigError::DataDir {
        path: "-".into(),
        why: format!("no randomness ({e})"),
    })?;
    Ok(bytes)
}

pub(super) fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(contents)
}
