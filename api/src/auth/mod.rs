//! Identity: a bearer JWT becomes a [`Principal`] (who is calling), or the request is refused as `UNAUTHENTICATED`.
//!
//! Every check is explicit rather than left to jsonwebtoken's defaults: one algorithm, signature, `exp` and `nbf` with
//! at most 30 s leeway, issuer, audience, and the required claims `sub`, `iss`, `aud`, `exp`. Oversized tokens are
//! refused before any decoding. Roles are never read from the token: they live in the policy store.

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
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

/// The claims of tokens Steward mints itself (`steward token`, the demo).
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
}

/// The claims that say who the caller is; the standard ones were checked by jsonwebtoken already (their times are
/// kept to check them again when the token comes back, see [`JwtVerifier`]).
#[derive(Deserialize)]
struct IdentityClaims {
    sub: String,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    tid: Option<String>,
}

/// Verifies bearer tokens with the one configured key.
///
/// A client sends the same token with every request until it expires, so a token that verified is kept (by its
/// exact text, signature included) with the caller it names and its validity window: a later request with it skips
/// the signature and JSON work but not the clock — `exp` and `nbf` are checked again, with the same leeway, every
/// time. Tokens that failed are not kept. Bounded by the total length of the kept tokens.
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
    max_lifetime: u64,
    max_token_bytes: usize,
    verified: quick_cache::sync::Cache<String, Verified, TokenLength>,
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
    pub fn new(config: &JwtConfig, max_token_bytes: usize) -> anyhow::Result<Self> {
        let (key, algorithm) = match &config.key {
            JwtKey::Hs256(secret) => (DecodingKey::from_secret(secret)?, Algorithm::HS256),
            JwtKey::PublicPem { algorithm, pem } => {
                let key = match algorithm {
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(pem)?,
                    _ => DecodingKey::from_ec_pem(pem)?,
                };
                (key, *algorithm)
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        Ok(JwtVerifier {
            key,
            validation,
            max_lifetime: config.max_lifetime.as_secs(),
            max_token_bytes,
            verified: quick_cache::sync::Cache::with_weighter(
                (VERIFIED_TOKEN_BYTES / 512) as usize,
                VERIFIED_TOKEN_BYTES,
                TokenLength,
            ),
        })
    }

    /// Reads `Authorization: Bearer <token>` and returns the caller.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, AuthError> {
        let header = authorization.ok_or_else(|| {
            AuthError::new("missing bearer token: send `Authorization: Bearer <token>`")
        })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::new("the Authorization header must be `Bearer <token>`"))?;
        self.verify(token)
    }

    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_at(token, jsonwebtoken::get_current_timestamp())
    }

    /// [`JwtVerifier::verify`] at time `now` (seconds since the epoch) for a token verified before; a token seen for
    /// the first time is verified against the real clock by jsonwebtoken.
    fn verify_at(&self, token: &str, now: u64) -> Result<Principal, AuthError> {
        if token.len() > self.max_token_bytes {
            return Err(AuthError::new(format!(
                "token is larger than {} bytes",
                self.max_token_bytes
            )));
        }
        if let Some(known) = self.verified.get(token) {
            // The checks jsonwebtoken made, with the same leeway.
            if known.exp.saturating_add(LEEWAY_SECS) < now {
                return Err(AuthError::new(describe(&ErrorKind::ExpiredSignature)));
            }
            if known
                .nbf
                .is_some_and(|nbf| nbf > now.saturating_add(LEEWAY_SECS))
            {
                return Err(AuthError::new(describe(&ErrorKind::ImmatureSignature)));
            }
            return Ok(known.principal);
        }
        let verified = self.verify_signed(token)?;
        self.verified.insert(token.to_owned(), verified.clone());
        Ok(verified.principal)
    }

    fn verify_signed(&self, token: &str) -> Result<Verified, AuthError> {
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &self.key, &self.validation)
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
        let claims: IdentityClaims = serde_json::from_value(data.claims).map_err(|_| {
            AuthError::new("token claims are malformed: `sub`, `kind` and `tid` must be strings")
        })?;
        // No token lives for ever: its lifetime from issue (or from now, without `iat`) is capped. A token "issued" in
        // the future is refused: its `exp - iat` would say nothing about how long it works from now.
        let now = jsonwebtoken::get_current_timestamp();
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECS))
        {
            return Err(AuthError::new(
                "token `iat` is in the future: check the issuer's clock",
            ));
        }
        let born = claims.iat.map_or(now, |iat| iat.min(now));
        if claims.exp.saturating_sub(born) > self.max_lifetime {
            return Err(AuthError::new(format!(
                "token lives longer than {} seconds (`exp` - `iat`); ask for a shorter-lived token",
                self.max_lifetime
            )));
        }
        if claims.sub.trim().is_empty() || claims.sub.len() > 255 {
            return Err(AuthError::new("token `sub` must be 1-255 characters"));
        }
        let kind = match claims.kind.as_deref() {
            Some("staff") => ActorKind::Staff,
            Some("client") => ActorKind::Client,
            Some(_) => return Err(AuthError::new("token `kind` must be `staff` or `client`")),
            None => {
                return Err(AuthError::new(
                    "token lacks the `kind` claim (`staff` or `client`)",
                ));
            }
        };
        let tenant_id = match (kind, claims.tid.as_deref()) {
            (ActorKind::Client, Some(tid)) => {
                Some(TenantId(uuid::Uuid::parse_str(tid).map_err(|_| {
                    AuthError::new("token `tid` is not a tenant id (UUID)")
                })?))
            }
            (ActorKind::Client, None) => {
                return Err(AuthError::new(
                    "client tokens must carry the tenant id in `tid`",
                ));
            }
            (ActorKind::Staff, Some(_)) => {
                return Err(AuthError::new(
                    "staff tokens must not carry `tid`: staff name the tenant they act on in the query",
                ));
            }
            (ActorKind::Staff, None) => None,
        };
        Ok(Verified {
            principal: Principal {
                subject: claims.sub,
                kind,
                tenant_id,
            },
            exp: claims.exp,
            nbf: claims.nbf,
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
            })),
            JwtKey::PublicPem { .. } => Ok(None),
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
        let claims = Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now + ttl.as_secs(),
            iat: Some(now),
            nbf: Some(now),
            kind: Some(kind.as_str().to_owned()),
            tid: tenant.map(|t| t.to_string()),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.key,
        )?)
    }
}

/// Fails at start (not at the first request) if no crypto backend is usable: a feature mix-up in the dependency graph
/// would otherwise surface as a panic while verifying the first token.
pub fn ensure_crypto_backend() -> anyhow::Result<()> {
    let probe = JwtConfig {
        issuer: "probe".into(),
        audience: "probe".into(),
        key: JwtKey::Hs256(vec![7; 32]),
        max_lifetime: Duration::from_secs(3600),
    };
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
        let config = JwtConfig {
            issuer: "steward".into(),
            audience: "steward".into(),
            key: JwtKey::Hs256(b"unit-test-secret-unit-test-secret-0123".to_vec()),
            max_lifetime: Duration::from_secs(86_400),
        };
        (
            JwtVerifier::new(&config, 8192).unwrap(),
            TokenMinter::new(&config).unwrap().unwrap(),
        )
    }

    #[test]
    fn a_kept_token_is_still_held_to_its_validity_window() {
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
        let first = verifier.verify(&token).unwrap();
        assert_eq!(first.tenant_id, Some(tenant));
        assert_eq!(verifier.verified.len(), 1, "kept after verifying");
        // Served from what was kept: same caller, while the clock is inside the window (leeway included) ...
        assert_eq!(
            verifier
                .verify_at(&token, now + 600 + LEEWAY_SECS - 5)
                .unwrap(),
            first
        );
        // ... and refused outside it, as jsonwebtoken would.
        let late = verifier
            .verify_at(&token, now + 600 + LEEWAY_SECS + 5)
            .unwrap_err();
        assert!(late.0.contains("expired"), "{}", late.0);
        let early = verifier
            .verify_at(&token, now - LEEWAY_SECS - 5)
            .unwrap_err();
        assert!(early.0.contains("not valid yet"), "{}", early.0);
        // A token that fails is never kept, and one altered by a byte is a different token.
        // (A signature character well inside the segment: the last one carries padding bits.)
        let at = token.len() - 10;
        let swapped = if &token[at..=at] == "A" { "B" } else { "A" };
        let forged = format!("{}{swapped}{}", &token[..at], &token[at + 1..]);
        assert!(verifier.verify(&forged).is_err());
        assert!(verifier.verify(&forged).is_err());
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
