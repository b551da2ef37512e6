//! Identity: a bearer JWT becomes a [`Principal`] (who is calling), or the request is refused as `UNAUTHENTICATED`.
//!
//! Every check is explicit rather than left to jsonwebtoken's defaults: one algorithm, signature, `exp` and `nbf` with
//! at most 30 s leeway, issuer, audience, and the required claims `sub`, `iss`, `aud`, `exp`. Oversized tokens are
//! refused before any decoding. Roles are never read from the token: they live in the policy store.

pub mod jwks;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use steward_policy::{Actor, ActorKind};

use crate::config::{JwtConfig, JwtKey};
use crate::ids::TenantId;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// Who is calling: a member of our staff, or a user of one client (tenant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub kind: ActorKind,
    /// The client's tenant, from the token's `tid`; always `None` for staff.
    pub tenant_id: Option<TenantId>,
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor::new(self.kind, self.subject.clone())
    }

    /// Steward itself, for work its jobs do. No token can carry this principal: tokens name a person.
    pub(crate) fn system() -> Principal {
        Principal {
            subject: "steward".into(),
            kind: ActorKind::Staff,
            tenant_id: None,
        }
    }

    /// `kind:subject`, as records say who did something.
    pub fn label(&self) -> String {
        format!("{}:{}", self.kind, self.subject)
    }
}

/// Why a token was refused. The message says what is wrong, never which key would have worked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AuthError(pub String);

impl AuthError {
    fn new(s: impl Into<String>) -> Self {
        AuthError(s.into())
    }
}

/// Verifies bearer tokens: with the one configured key (HS256 secret, PEM public key), or with the keys an OpenID
/// Connect provider publishes ([`jwks`]), chosen by the token's `kid`.
///
/// A client sends the same token with every request until it expires, so a token that verified is kept (by its
/// exact text, signature included) with the caller it names and its validity window: a later request with it skips
/// the signature and JSON work but not the clock — `exp` and `nbf` are checked again, with the same leeway, every
/// time. Tokens that failed are not kept. Bounded by the total length of the kept tokens; emptied when the provider
/// withdraws a key, so tokens signed with it stop working at the next refresh.
pub struct JwtVerifier {
    keys: Keys,
    /// The checks of one algorithm (each key is used with exactly one).
    validations: HashMap<Algorithm, Validation>,
    kind_claim: String,
    tenant_claim: String,
    max_lifetime: u64,
    max_token_bytes: usize,
    verified: Arc<quick_cache::sync::Cache<String, Verified, TokenLength>>,
}

enum Keys {
    Fixed(DecodingKey, Algorithm),
    Provider(Arc<jwks::Jwks>),
}

#[derive(Clone)]
struct Verified {
    principal: Principal,
    exp: u64,
    nbf: Option<u64>,
}

#[derive(Clone)]
struct TokenLength;

impl quick_cache::Weighter<String, Verified> for TokenLength {
    fn weight(&self, token: &String, _: &Verified) -> u64 {
        token.len() as u64
    }
}

/// Token text kept by [`JwtVerifier`]: some ten thousand typical tokens.
const VERIFIED_TOKEN_BYTES: u64 = 4 * 1024 * 1024;

impl JwtVerifier {
    /// A verifier for the configured key; with an OpenID Connect issuer, reads its discovery document and keys first
    /// and keeps them fresh while the verifier lives.
    pub async fn build(config: &JwtConfig, max_token_bytes: usize) -> anyhow::Result<Self> {
        let keys = match &config.key {
            JwtKey::Oidc { issuer, .. } => Keys::Provider(jwks::Jwks::discover(issuer).await?),
            _ => return Self::new(config, max_token_bytes),
        };
        let verifier = Self::with_keys(config, keys, max_token_bytes);
        if let (Keys::Provider(provider), JwtKey::Oidc { refresh, .. }) =
            (&verifier.keys, &config.key)
        {
            let kept = Arc::downgrade(&verifier.verified);
            jwks::Jwks::refresh_every(provider, *refresh, move || {
                if let Some(kept) = kept.upgrade() {
                    kept.clear();
                }
            });
        }
        Ok(verifier)
    }

    /// A verifier for a key known now (HS256 secret, PEM public key); an OpenID Connect issuer needs [`Self::build`].
    pub fn new(config: &JwtConfig, max_token_bytes: usize) -> anyhow::Result<Self> {
        let keys = match &config.key {
            JwtKey::Hs256(secret) => {
                Keys::Fixed(DecodingKey::from_secret(secret)?, Algorithm::HS256)
            }
            JwtKey::PublicPem { algorithm, pem } => {
                let key = match algorithm {
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(pem)?,
                    _ => DecodingKey::from_ec_pem(pem)?,
                };
                Keys::Fixed(key, *algorithm)
            }
            JwtKey::Oidc { .. } => {
                anyhow::bail!("an OpenID Connect issuer is read by JwtVerifier::build")
            }
        };
        Ok(Self::with_keys(config, keys, max_token_bytes))
    }

    fn with_keys(config: &JwtConfig, keys: Keys, max_token_bytes: usize) -> Self {
        let algorithms = match &keys {
            Keys::Fixed(_, algorithm) => vec![*algorithm],
            Keys::Provider(_) => vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
        };
        let validations = algorithms
            .into_iter()
            .map(|algorithm| {
                let mut validation = Validation::new(algorithm);
                validation.algorithms = vec![algorithm];
                validation.leeway = LEEWAY_SECS;
                validation.validate_exp = true;
                validation.validate_nbf = true;
                validation.validate_aud = true;
                validation.set_issuer(&[&config.issuer]);
                validation.set_audience(&[&config.audience]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                (algorithm, validation)
            })
            .collect();
        JwtVerifier {
            keys,
            validations,
            kind_claim: config.kind_claim.clone(),
            tenant_claim: config.tenant_claim.clone(),
            max_lifetime: config.max_lifetime.as_secs(),
            max_token_bytes,
            verified: Arc::new(quick_cache::sync::Cache::with_weighter(
                (VERIFIED_TOKEN_BYTES / 512) as usize,
                VERIFIED_TOKEN_BYTES,
                TokenLength,
            )),
        }
    }

    /// Reads `Authorization: Bearer <token>` and returns the caller.
    pub async fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let header = authorization.ok_or_else(|| {
            AuthError::new("missing bearer token: send `Authorization: Bearer <token>`")
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::new("the Authorization header must be `Bearer <token>`"))?;
        if token == "<token>" {
            return Err(AuthError::new(
                "replace the `<token>` placeholder with a token (in the console: the Headers tab; `steward serve --demo` \
                 prints some)",
            ));
        }
        self.verify(token).await
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if let Some(known) = self.kept(token, jsonwebtoken::get_current_timestamp())? {
            return Ok(known);
        }
        // A key withdrawn between its look-up and keeping the token must not leave the token kept: the count of
        // withdrawals is read before the look-up and checked once the token is kept (the fetch that withdraws a key
        // replaces the keys, raises the count, then empties the kept tokens).
        let withdrawals = match &self.keys {
            Keys::Provider(provider) => provider.withdrawals(),
            Keys::Fixed(..) => 0,
        };
        let (key, algorithm) = match &self.keys {
            Keys::Fixed(key, algorithm) => (key.clone(), *algorithm),
            Keys::Provider(provider) => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|e| AuthError::new(describe(e.kind())))?;
                // Only the provider's kinds of key, before any look-up (or fetch) by `kid`.
                if !self.validations.contains_key(&header.alg) {
                    return Err(AuthError::new(describe(&ErrorKind::InvalidAlgorithm)));
                }
                let found = provider.key(header.kid.as_deref()).await?;
                if header.alg != found.algorithm {
                    return Err(AuthError::new(describe(&ErrorKind::InvalidAlgorithm)));
                }
                (found.key, found.algorithm)
            }
        };
        let verified = self.verify_signed(token, &key, algorithm)?;
        self.verified.insert(token.to_owned(), verified.clone());
        if let Keys::Provider(provider) = &self.keys
            && provider.withdrawals() != withdrawals
        {
            self.verified.remove(token);
        }
        Ok(verified.principal)
    }

    /// A token verified before, held to its validity window at time `now` (seconds since the epoch): the checks
    /// jsonwebtoken made, with the same leeway. `None` for a token not kept.
    fn kept(&self, token: &str, now: u64) -> Result<Option<Principal>, AuthError> {
        if token.len() > self.max_token_bytes {
            return Err(AuthError::new(format!(
                "token is larger than {} bytes",
                self.max_token_bytes
            )));
        }
        let Some(known) = self.verified.get(token) else {
            return Ok(None);
        };
        if known.exp.saturating_add(LEEWAY_SECS) < now {
            return Err(AuthError::new(describe(&ErrorKind::ExpiredSignature)));
        }
        if known
            .nbf
            .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS))
        {
            return Err(AuthError::new(describe(&ErrorKind::ImmatureSignature)));
        }
        Ok(Some(known.principal))
    }

    fn verify_signed(
        &self,
        token: &str,
        key: &DecodingKey,
        algorithm: Algorithm,
    ) -> Result<Verified, AuthError> {
        let validation = self
            .validations
            .get(&algorithm)
            .ok_or_else(|| AuthError::new(describe(&ErrorKind::InvalidAlgorithm)))?;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, key, validation)
            .map_err(|e| AuthError::new(describe(e.kind())))?;
        // An access token, not some other signed JSON (an ID token meant for another audience says so in `typ`
        // too; RFC 8725 section 3.11): `typ` is `JWT` or `at+jwt` when present.
        if let Some(typ) = data.header.typ.as_deref() {
            let typ = typ.to_ascii_lowercase();
            if !matches!(
                typ.as_str(),
                "jwt" | "at+jwt" | "application/jwt" | "application/at+jwt"
            ) {
                return Err(AuthError::new(
                    "token `typ` is not accepted: send an access token (`typ` JWT or at+jwt)",
                ));
            }
        }
        let claims = data
            .claims
            .as_object()
            .ok_or_else(|| AuthError::new("token claims are not a JSON object"))?;
        // One issuer (RFC 7519 4.1.1), matched exactly: jsonwebtoken also takes an array containing it.
        if !claims.get("iss").is_some_and(serde_json::Value::is_string) {
            return Err(AuthError::new("token `iss` must be one string"));
        }
        let text = |name: &str| -> Result<Option<&str>, AuthError> {
            match claims.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(AuthError::new(format!(
                    "token claim `{name}` must be a string"
                ))),
            }
        };
        let time = |name: &str| -> Result<Option<u64>, AuthError> {
            match claims.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::Number(n)) => n
                    .as_u64()
                    .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                    .map(Some)
                    .ok_or_else(|| AuthError::new(format!("token claim `{name}` is malformed"))),
                Some(_) => Err(AuthError::new(format!("token claim `{name}` is malformed"))),
            }
        };
        let sub = text("sub")?.unwrap_or_default();
        let exp =
            time("exp")?.ok_or_else(|| AuthError::new("token lacks the required `exp` claim"))?;
        let (iat, nbf) = (time("iat")?, time("nbf")?);
        // No token lives for ever: its lifetime from issue (or from now, without `iat`) is capped. A token "issued" in
        // the future is refused: its `exp - iat` would say nothing about how long it works from now.
        let now = jsonwebtoken::get_current_timestamp();
        if iat.is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS)) {
            return Err(AuthError::new(
                "token `iat` is in the future: check the issuer's clock",
            ));
        }
        let born = iat.map_or(now, |iat| iat.min(now));
        if exp.saturating_sub(born) > self.max_lifetime {
            return Err(AuthError::new(format!(
                "token lives longer than {} seconds (`exp` - `iat`); ask for a shorter-lived token",
                self.max_lifetime
            )));
        }
        if sub.trim().is_empty() || sub.len() > 255 {
            return Err(AuthError::new("token `sub` must be 1-255 characters"));
        }
        let (kind_claim, tenant_claim) = (&self.kind_claim, &self.tenant_claim);
        let kind = match text(kind_claim)? {
            Some("staff") => ActorKind::Staff,
            Some("client") => ActorKind::Client,
            Some(_) => {
                return Err(AuthError::new(format!(
                    "token `{kind_claim}` must be `staff` or `client`"
                )));
            }
            None => {
                return Err(AuthError::new(format!(
                    "token lacks the `{kind_claim}` claim (`staff` or `client`)"
                )));
            }
        };
        let tenant_id = match (kind, text(tenant_claim)?) {
            (ActorKind::Client, Some(tid)) => {
                Some(TenantId(uuid::Uuid::parse_str(tid).map_err(|_| {
                    AuthError::new(format!("token `{tenant_claim}` is not a tenant id (UUID)"))
                })?))
            }
            (ActorKind::Client, None) => {
                return Err(AuthError::new(format!(
                    "client tokens must carry the tenant id in `{tenant_claim}`"
                )));
            }
            (ActorKind::Staff, Some(_)) => {
                return Err(AuthError::new(format!(
                    "staff tokens must not carry `{tenant_claim}`: staff name the tenant they act on in the query"
                )));
            }
            (ActorKind::Staff, None) => None,
        };
        Ok(Verified {
            principal: Principal {
                subject: sub.to_owned(),
                kind,
                tenant_id,
            },
            exp,
            nbf,
        })
    }
}

fn describe(kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::ExpiredSignature => "token has expired".into(),
        ErrorKind::ImmatureSignature => "token is not valid yet (`nbf` is in the future)".into(),
        ErrorKind::InvalidIssuer => "token issuer is not accepted".into(),
        ErrorKind::InvalidAudience => "token audience is not accepted".into(),
        ErrorKind::InvalidSignature => "token signature is invalid".into(),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName => "token algorithm is not accepted".into(),
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("token lacks the required `{claim}` claim")
        }
        ErrorKind::InvalidClaimFormat(claim) => format!("token claim `{claim}` is malformed"),
        _ => "token is malformed".into(),
    }
}

/// Mints HS256 tokens with the configured secret: for `steward token`, the demo, and tests.
pub struct TokenMinter {
    key: EncodingKey,
    issuer: String,
    audience: String,
    max_lifetime: Duration,
    kind_claim: String,
    tenant_claim: String,
}

impl TokenMinter {
    /// `None` when the server verifies with a public key: it cannot mint tokens its identity provider would.
    pub fn new(config: &JwtConfig) -> anyhow::Result<Option<Self>> {
        match &config.key {
            JwtKey::Hs256(secret) => Ok(Some(TokenMinter {
                key: EncodingKey::from_secret(secret)?,
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                max_lifetime: config.max_lifetime,
                kind_claim: config.kind_claim.clone(),
                tenant_claim: config.tenant_claim.clone(),
            })),
            JwtKey::PublicPem { .. } | JwtKey::Oidc { .. } => Ok(None),
        }
    }

    pub fn mint(
        &self,
        subject: &str,
        kind: ActorKind,
        tenant: Option<TenantId>,
        ttl: Duration,
    ) -> anyhow::Result<String> {
        if ttl > self.max_lifetime {
            anyhow::bail!(
                "a token may live at most {} seconds (STEWARD_JWT_MAX_LIFETIME_SECS); ask for a shorter --ttl",
                self.max_lifetime.as_secs()
            );
        }
        let now = jsonwebtoken::get_current_timestamp();
        let mut claims = serde_json::json!({
            "sub": subject,
            "iss": self.issuer,
            "aud": self.audience,
            "exp": now + ttl.as_secs(),
            "iat": now,
            "nbf": now,
        });
        claims[&self.kind_claim] = kind.as_str().into();
        if let Some(tenant) = tenant {
            claims[&self.tenant_claim] = tenant.to_string().into();
        }
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.key,
        )?)
    }
}

/// Fails at start (not at the first request) if no crypto backend is usable: a feature mix-up in the dependency graph
/// would otherwise surface as a panic while verifying the first token.
pub async fn ensure_crypto_backend() -> anyhow::Result<()> {
    let probe = JwtConfig::hs256("probe", "probe", &[7; 32], Duration::from_secs(3600));
    let minter = TokenMinter::new(&probe)?.ok_or_else(|| anyhow::anyhow!("probe key is HS256"))?;
    let token = std::panic::catch_unwind(|| {
        minter.mint("probe", ActorKind::Staff, None, Duration::from_secs(60))
    })
    .map_err(|_| {
        anyhow::anyhow!(
            "jsonwebtoken has no usable crypto backend (enable exactly one of its features)"
        )
    })??;
    JwtVerifier::new(&probe, 8192)?
        .verify(&token)
        .await
        .map_err(|e| anyhow::anyhow!("token self-check failed: {e}"))?;
    Ok(())
}

/// Parses a token lifetime: `900`, `15m`, `12h`, `7d`.
pub fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (digits, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration like 900, 15m, 12h or 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{raw}`: unit must be s, m, h or d")),
    };
    if secs == 0 || secs > 366 * 86_400 {
        return Err(format!(
            "`{raw}`: a token lives between 1 second and 366 days"
        ));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (JwtVerifier, TokenMinter) {
        let config = JwtConfig::hs256(
            "steward",
            "steward",
            b"unit-test-secret-unit-test-secret-0123",
            Duration::from_secs(86_400),
        );
        (
            JwtVerifier::new(&config, 8192).unwrap(),
            TokenMinter::new(&config).unwrap().unwrap(),
        )
    }

    #[tokio::test]
    async fn a_kept_token_is_still_held_to_its_validity_window() {
        let (verifier, minter) = pair();
        let tenant = TenantId::new();
        let token = minter
            .mint(
                "ada",
                ActorKind::Client,
                Some(tenant),
                Duration::from_secs(600),
            )
            .unwrap();
        let now = jsonwebtoken::get_current_timestamp();
        let first = verifier.verify(&token).await.unwrap();
        assert_eq!(first.tenant_id, Some(tenant));
        assert_eq!(verifier.verified.len(), 1, "kept after verifying");
        // Served from what was kept: same caller, while the clock is inside the window (leeway included) ...
        assert_eq!(
            verifier.kept(&token, now + 600 + LEEWAY_SECS - 5).unwrap(),
            Some(first)
        );
        // ... and refused outside it, as jsonwebtoken would.
        let late = verifier
            .kept(&token, now + 600 + LEEWAY_SECS + 5)
            .unwrap_err();
        assert!(late.0.contains("expired"), "{}", late.0);
        let early = verifier.kept(&token, now - LEEWAY_SECS - 5).unwrap_err();
        assert!(early.0.contains("not valid yet"), "{}", early.0);
        // A token that fails is never kept, and one altered by a byte is a different token.
        // (A signature character well inside the segment: the last one carries padding bits.)
        let at = token.len() - 10;
        let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
        let forged = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert!(verifier.verify(&forged).await.is_err());
        assert!(verifier.verify(&forged).await.is_err());
        assert_eq!(verifier.verified.len(), 1);
    }

    #[test]
    fn ttl_forms() {
        assert_eq!(parse_ttl("900").unwrap().as_secs(), 900);
        assert_eq!(parse_ttl("15m").unwrap().as_secs(), 900);
        assert_eq!(parse_ttl("12h").unwrap().as_secs(), 43_200);
        assert_eq!(parse_ttl("7d").unwrap().as_secs(), 604_800);
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("5y").is_err());
        assert!(parse_ttl("h").is_err());
        assert!(parse_ttl("999d").is_err());
    }
}
