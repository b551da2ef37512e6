//! One typed configuration, from flags and `STEWARD_*` environment variables, validated once at start.
//!
//! Defaults are the embedded ones (SQLite under `./data/`, regions `eu` and `us`, listening on loopback). Secrets are
//! never printed: [`JwtKey`]'s `Debug` redacts them and database URLs are shown without credentials.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::crypto::{MasterKey, MasterKeys};

mod keys;

use keys::*;
pub use keys::{JwtConfig, JwtKey, MIN_HS256_SECRET_BYTES, Secret, SecretFiles};

/// The flags (and their environment variables) shared by every command that touches the databases or tokens.
#[derive(Clone, Debug, clap::Args)]
pub struct ConfigArgs {
    /// Address to listen on.
    #[arg(long, env = "STEWARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Folder for the embedded SQLite databases and demo keys.
    #[arg(long, env = "STEWARD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Control database URL (tenants directory, roles, platform audit). Default: SQLite in the data dir.
    #[arg(long, env = "STEWARD_DATABASE_URL")]
    pub database_url: Option<Secret>,
    /// Region databases, `name=url,name=url`. Default: `eu` and `us` as SQLite files in the data dir.
    #[arg(long, env = "STEWARD_REGIONS")]
    pub regions: Option<Secret>,
    /// Each region's subject-key database, `name=url,name=url`: the subjects' keys, kept apart from the values so a
    /// restored backup of a region cannot bring an erased person back. Default for an SQLite region: a file beside it
    /// (`region-eu-keys.db`); a PostgreSQL region needs one given.
    #[arg(long, env = "STEWARD_KEY_DATABASES")]
    pub key_databases: Option<Secret>,
    /// Required `iss` of tokens. Default `steward` with an HS256 secret; must be set with a public key.
    #[arg(long, env = "STEWARD_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of tokens.
    #[arg(long, env = "STEWARD_JWT_AUDIENCE", default_value = "steward")]
    pub jwt_audience: String,
    /// The longest a token may live, in seconds (`exp - iat`); longer-lived tokens are refused.
    #[arg(long, env = "STEWARD_JWT_MAX_LIFETIME_SECS", default_value_t = 86_400)]
    pub jwt_max_lifetime_secs: u64,
    /// HS256 secret (development), at least 32 bytes.
    #[arg(long, env = "STEWARD_JWT_HS256_SECRET", hide_env_values = true)]
    pub jwt_hs256_secret: Option<Secret>,
    /// PEM public key (RSA → RS256, EC P-256 → ES256) of the identity provider (production).
    #[arg(long, env = "STEWARD_JWT_PUBLIC_KEY_FILE")]
    pub jwt_public_key_file: Option<PathBuf>,
    /// OpenID Connect issuer (`https://…`; `http://` on loopback only). Its discovery document names the JWKS whose
    /// keys verify tokens (RS256, ES256, EdDSA, chosen by `kid`): a key the provider rotates in is fetched when a token
    /// first names it, and the set is refreshed every STEWARD_OIDC_REFRESH_SECS, so rotations need no restart.
    #[arg(long, env = "STEWARD_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// Seconds between refreshes of the identity provider's key set (STEWARD_OIDC_ISSUER).
    #[arg(long, env = "STEWARD_OIDC_REFRESH_SECS", default_value_t = 3600)]
    pub oidc_refresh_secs: u64,
    /// The token claim saying whether the caller is `staff` or `client`.
    #[arg(long, env = "STEWARD_KIND_CLAIM", default_value = "kind")]
    pub kind_claim: String,
    /// The token claim carrying a client's tenant id (Entra ID puts its own directory in `tid`: name another claim
    /// there, such as `steward_tenant`).
    #[arg(long, env = "STEWARD_TENANT_CLAIM", default_value = "tid")]
    pub tenant_claim: String,
    /// Secrets read from files (container and orchestrator secrets), instead of their variables.
    #[command(flatten)]
    pub secret_files: SecretFiles,
    /// Root key of personal-data encryption: 64 hex characters (`openssl rand -hex 32`). Keep it out of the database.
    #[arg(long, env = "STEWARD_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<Secret>,
    /// Master keys with versions, for rotating the master key: `2:<new>,1:<old>` (the highest version is current;
    /// older ones only open what is still sealed under them until `steward keys rotate`). Instead of
    /// `STEWARD_MASTER_KEY`, which is version 1.
    #[arg(long, env = "STEWARD_MASTER_KEYS", hide_env_values = true)]
    pub master_keys: Option<Secret>,
    /// Token `sub` made `platform_admin` at start, to bootstrap a deployment.
    #[arg(long, env = "STEWARD_BOOTSTRAP_ADMIN")]
    pub bootstrap_admin: Option<String>,
    /// Deepest GraphQL selection nesting accepted.
    #[arg(long, env = "STEWARD_MAX_QUERY_DEPTH", default_value_t = 10)]
    pub max_query_depth: usize,
    /// Highest GraphQL query complexity accepted (each field 1, lists times their page size).
    #[arg(long, env = "STEWARD_MAX_QUERY_COMPLEXITY", default_value_t = 1000)]
    pub max_query_complexity: usize,
    /// Seconds a request may take before it is answered 408.
    #[arg(long, env = "STEWARD_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// The processor's name, as it appears in records of processing.
    #[arg(
        long,
        env = "STEWARD_PROCESSOR_NAME",
        default_value = "Steward operator"
    )]
    pub processor_name: String,
    /// The processor's privacy contact, as it appears in records of processing.
    #[arg(
        long,
        env = "STEWARD_PROCESSOR_CONTACT",
        default_value = "privacy@example.invalid"
    )]
    pub processor_contact: String,
    /// The processor's data protection officer (name and contact), for records of processing (Art. 30(2)(a)).
    #[arg(long, env = "STEWARD_PROCESSOR_DPO")]
    pub processor_dpo: Option<String>,
    /// The processor's representative in the Union (Art. 27), when it is established outside it.
    #[arg(long, env = "STEWARD_PROCESSOR_EU_REPRESENTATIVE")]
    pub processor_eu_representative: Option<String>,
    /// Seconds between runs of the recurring sweeps (sub-processor activation, disclosure-notice release).
    #[arg(long, env = "STEWARD_JOB_INTERVAL_SECS", default_value_t = 300)]
    pub job_interval_secs: u64,
    /// SMTP server for notices by email: `smtp://host:port` (plain, local relay), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtps://user:password@host` (implicit TLS). Unset: notices stay in the console and webhooks.
    #[arg(long, env = "STEWARD_SMTP_URL")]
    pub smtp_url: Option<Secret>,
    /// The sender of notice emails.
    #[arg(
        long,
        env = "STEWARD_SMTP_FROM",
        default_value = "Steward <notices@example.invalid>"
    )]
    pub smtp_from: String,
    /// The address clients reach this server at, for links in emails (unsubscribe). Default: `http://` and the
    /// listen address, so a local try on another port gets working links.
    #[arg(long, env = "STEWARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Days ahead a material privacy-policy or terms change must be published.
    #[arg(long, env = "STEWARD_POLICY_NOTICE_DAYS", default_value_t = 30)]
    pub policy_notice_days: u32,
    /// Milliseconds between polls of the job queue (erasures, webhook deliveries, reminders, export expiry).
    #[arg(long, env = "STEWARD_JOB_POLL_MS", default_value_t = 1000)]
    pub job_poll_ms: u64,
    /// Seconds a claimed job stays with its worker; a worker that died loses it to another after this.
    #[arg(long, env = "STEWARD_JOB_LEASE_SECS", default_value_t = 60)]
    pub job_lease_secs: u64,
    /// Connections per PostgreSQL database pool; on SQLite, read-only connections beside the one writer (at most twice
    /// the cores).
    #[arg(long, env = "STEWARD_DB_POOL_SIZE", default_value_t = 10)]
    pub db_pool_size: u32,
    /// Milliseconds a request waits for a free database connection before it is answered 503 with `Retry-After`.
    /// Default: 2000 on PostgreSQL; 10000 on SQLite, whose one writer connection every write queues for.
    #[arg(long, env = "STEWARD_DB_ACQUIRE_TIMEOUT_MS")]
    pub db_acquire_timeout_ms: Option<u64>,
    /// Most aliases one GraphQL document may use.
    #[arg(long, env = "STEWARD_MAX_QUERY_ALIASES", default_value_t = 30)]
    pub max_query_aliases: usize,
    /// Who may introspect the schema: `authenticated` (any valid token) or `off` (nobody).
    #[arg(
        long,
        env = "STEWARD_INTROSPECTION",
        value_enum,
        default_value = "authenticated"
    )]
    pub introspection: Introspection,
    /// GraphQL requests per second allowed to one tenant (to one staff member for staff) on this instance; 0 turns
    /// the limit off. Over it: 429 with `Retry-After`.
    #[arg(long, env = "STEWARD_RATE_LIMIT_PER_SEC", default_value_t = 500)]
    pub rate_limit_per_sec: u32,
    /// Requests a tenant may send at once above its rate before being limited.
    #[arg(long, env = "STEWARD_RATE_LIMIT_BURST", default_value_t = 1000)]
    pub rate_limit_burst: u32,
    /// Seconds a connection may take to send a request's headers before it is closed.
    #[arg(long, env = "STEWARD_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a response may wait for the client to read before the connection is closed (a client that stops
    /// reading would otherwise hold the response in memory and its connection slot for ever).
    #[arg(long, env = "STEWARD_WRITE_TIMEOUT_SECS", default_value_t = 30)]
    pub write_timeout_secs: u64,
    /// Seconds between SIGTERM and the listener closing: `/readyz` fails at once so load balancers stop sending, and
    /// requests arriving meanwhile are still served.
    #[arg(long, env = "STEWARD_SHUTDOWN_DRAIN_SECS", default_value_t = 5)]
    pub shutdown_drain_secs: u64,
    /// Seconds the requests in flight and the running jobs get to finish once the listener closed; jobs still running
    /// then are handed back to the queue for another instance.
    #[arg(long, env = "STEWARD_SHUTDOWN_TIMEOUT_SECS", default_value_t = 30)]
    pub shutdown_timeout_secs: u64,
    /// Connections open at once; beyond it new ones wait in the listen backlog until one closes.
    #[arg(long, env = "STEWARD_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Requests per second each client address may send to the public pages (`/subprocessors*`,
    /// `/transparency.json`, `/policies`, `/unsubscribe`, the signing key); 0 turns the limit off. Over it: 429.
    #[arg(long, env = "STEWARD_PUBLIC_RATE_LIMIT_PER_SEC", default_value_t = 20)]
    pub public_rate_limit_per_sec: u32,
    /// Requests a client address may send to the public pages at once above its rate.
    #[arg(long, env = "STEWARD_PUBLIC_RATE_LIMIT_BURST", default_value_t = 60)]
    pub public_rate_limit_burst: u32,
    /// Bearer token that `GET /metrics` requires; unset, `/metrics` answers only callers on loopback.
    #[arg(long, env = "STEWARD_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
    /// How an instance on PostgreSQL learns of role and tenant changes made through another: `notify` (LISTEN on
    /// `steward_authz`; no statement per request) or `read` (read the version on every request: one more statement,
    /// and no delivery delay at all).
    #[arg(
        long,
        env = "STEWARD_ROLE_CHANGES",
        value_enum,
        default_value = "notify"
    )]
    pub role_changes: RoleChanges,
    /// Development only: let webhooks target this machine's loopback addresses (and plain `http://` there). Off by
    /// default; every other private, link-local or reserved address stays refused either way.
    #[arg(
        long,
        env = "STEWARD_ALLOW_LOOPBACK_WEBHOOKS",
        default_value_t = false,
        action = clap::ArgAction::Set
    )]
    pub allow_loopback_webhooks: bool,
}

/// How an instance learns of role changes made through another (PostgreSQL; SQLite has one instance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RoleChanges {
    /// Notifications on `steward_authz`, sent as each change commits; the version is read per request only while
    /// the listener is reconnecting.
    Notify,
    /// Read the version on every request.
    Read,
}

/// Who may introspect the GraphQL schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Introspection {
    /// Every request with a valid token (requests without one are refused anyway).
    Authenticated,
    /// Nobody: `__schema` and `__type` are refused.
    Off,
}

/// Why the configuration was refused; each message says what to set.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no token verification key is configured: set STEWARD_OIDC_ISSUER (your identity provider, keys fetched and \
         rotated from its JWKS), STEWARD_JWT_PUBLIC_KEY_FILE (one PEM public key) or STEWARD_JWT_HS256_SECRET \
         (development, at least 32 bytes), or run `steward serve --demo` to try Steward with a generated key"
    )]
    NoKey,
    #[error(
        "set only one of STEWARD_JWT_HS256_SECRET, STEWARD_JWT_PUBLIC_KEY_FILE and STEWARD_OIDC_ISSUER"
    )]
    TwoKeys,
    #[error(
        "STEWARD_MASTER_KEY (or STEWARD_MASTER_KEYS) is not set: personal data is encrypted under it. Generate one with `openssl rand -hex 32` \
         and keep it outside the database (or run `steward serve --demo`)"
    )]
    NoMasterKey,
    #[error(
        "STEWARD_MASTER_KEY must be 64 hex characters (32 bytes), e.g. from `openssl rand -hex 32`"
    )]
    BadMasterKey,
    #[error(
        "STEWARD_JWT_HS256_SECRET is {0} bytes long; it must be at least {MIN_HS256_SECRET_BYTES} bytes"
    )]
    ShortSecret(usize),
    #[error("STEWARD_JWT_PUBLIC_KEY_FILE {path}: {why}")]
    PublicKey { path: String, why: String },
    #[error(
        "STEWARD_JWT_ISSUER must be set when verifying tokens with STEWARD_JWT_PUBLIC_KEY_FILE"
    )]
    IssuerRequired,
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("STEWARD_REGIONS: {0}")]
    Regions(String),
    #[error("STEWARD_KEY_DATABASES: {0}")]
    KeyDatabases(String),
    #[error("{name}: `{url}` is neither a sqlite: nor a postgres:// URL")]
    DatabaseUrl { name: String, url: String },
    #[error("{0}")]
    Limit(String),
    #[error("data dir {path}: {why}")]
    DataDir { path: String, why: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionConfig {
    pub name: String,
    pub url: Secret,
    /// The region's subject-key database.
    pub keys_url: Secret,
}

#[derive(Clone, Debug)]
pub struct Limits {
    pub max_query_depth: usize,
    pub max_query_complexity: usize,
    pub max_body_bytes: usize,
    pub max_token_bytes: usize,
    pub request_timeout: Duration,
    /// Days ahead a material policy change must be posted.
    pub policy_notice_days: i64,
    pub max_query_aliases: usize,
    pub introspection: Introspection,
    pub rate_limit_per_sec: u32,
    pub rate_limit_burst: u32,
    pub header_timeout: Duration,
    pub write_timeout: Duration,
    pub max_connections: usize,
    pub public_rate_limit_per_sec: u32,
    pub public_rate_limit_burst: u32,
    /// How long a request waits for a pooled connection; `None`: 2 s on PostgreSQL, 10 s on SQLite.
    pub db_acquire_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_query_depth: 10,
            max_query_complexity: 1000,
            max_body_bytes: 1024 * 1024,
            max_token_bytes: 8 * 1024,
            request_timeout: Duration::from_secs(30),
            policy_notice_days: 30,
            max_query_aliases: 30,
            introspection: Introspection::Authenticated,
            rate_limit_per_sec: 500,
            rate_limit_burst: 1000,
            header_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            max_connections: 4096,
            public_rate_limit_per_sec: 20,
            public_rate_limit_burst: 60,
            db_acquire_timeout: None,
        }
    }
}

/// The validated configuration the server runs with.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub control_url: Secret,
    pub regions: Vec<RegionConfig>,
    pub jwt: JwtConfig,
    /// The master keys by version; `None` only for commands that touch no personal data.
    pub master_keys: Option<MasterKeys>,
    pub bootstrap_admin: Option<String>,
    pub limits: Limits,
    pub db_pool_size: u32,
    pub metrics_token: Option<Secret>,
    pub role_changes: RoleChanges,
    pub allow_loopback_webhooks: bool,
    pub processor_name: String,
    pub processor_contact: String,
    pub processor_dpo: Option<String>,
    pub processor_eu_representative: Option<String>,
    pub job_interval: Duration,
    pub smtp_url: Option<Secret>,
    pub smtp_from: String,
    pub public_url: String,
    pub job_poll: Duration,
    pub job_lease: Duration,
    pub shutdown_drain: Duration,
    pub shutdown_timeout: Duration,
}

/// How keys may be found: only `serve --demo` and `token` fall back to the generated demo secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Configured keys only; refuse to start without one.
    Configured,
    /// Configured keys, else the demo secret in the data dir (created when missing).
    DemoCreate,
    /// Configured keys, else an existing demo secret in the data dir.
    DemoExisting,
    /// A command that verifies no token and opens no personal data (`migrate`): keys are optional.
    NotNeeded,
}

impl Config {
    pub fn from_args(args: &ConfigArgs, keys: KeySource) -> Result<Config, ConfigError> {
        let data_dir = args.data_dir.clone();
        let files = &args.secret_files;
        let database_url = secret(
            &args.database_url,
            &files.database_url_file,
            "STEWARD_DATABASE_URL",
        )?;
        let regions_spec = secret(&args.regions, &files.regions_file, "STEWARD_REGIONS")?;
        let hs256_secret = secret(
            &args.jwt_hs256_secret,
            &files.jwt_hs256_secret_file,
            "STEWARD_JWT_HS256_SECRET",
        )?;
        let master_key = secret(
            &args.master_key,
            &files.master_key_file,
            "STEWARD_MASTER_KEY",
        )?;
        let master_keys = secret(
            &args.master_keys,
            &files.master_keys_file,
            "STEWARD_MASTER_KEYS",
        )?;
        let metrics_token = secret(
            &args.metrics_token,
            &files.metrics_token_file,
            "STEWARD_METRICS_TOKEN",
        )?;
        let smtp_url = secret(&args.smtp_url, &files.smtp_url_file, "STEWARD_SMTP_URL")?;
        let control_url = match &database_url {
            Some(url) => check_url("STEWARD_DATABASE_URL", url.expose())?,
            None => sqlite_file_url(&data_dir, "control.db"),
        };
        let regions = match &regions_spec {
            Some(spec) => parse_regions(spec.expose())?,
            None => ["eu", "us"]
                .into_iter()
                .map(|name| {
                    (
                        name.to_owned(),
                        sqlite_file_url(&data_dir, &format!("region-{name}.db")),
                    )
                })
                .collect(),
        };
        let key_databases = secret(
            &args.key_databases,
            &files.key_databases_file,
            "STEWARD_KEY_DATABASES",
        )?;
        let regions = with_key_databases(regions, key_databases.as_ref(), &control_url)?;

        let sources = [
            hs256_secret.is_some(),
            args.jwt_public_key_file.is_some(),
            args.oidc_issuer.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() > 1 {
            return Err(ConfigError::TwoKeys);
        }
        let key = match (&hs256_secret, &args.jwt_public_key_file, &args.oidc_issuer) {
            (Some(secret), _, _) => hs256_key(secret.expose().as_bytes().to_vec())?,
            (_, Some(path), _) => public_key(path)?,
            (_, _, Some(issuer)) => JwtKey::Oidc {
                issuer: oidc_issuer(issuer)?,
                refresh: Duration::from_secs(args.oidc_refresh_secs.clamp(1, 86_400)),
            },
            (None, None, None) => match keys {
                KeySource::Configured => return Err(ConfigError::NoKey),
                KeySource::DemoCreate => JwtKey::Hs256(demo_secret(&data_dir, true)?),
                KeySource::DemoExisting => JwtKey::Hs256(demo_secret(&data_dir, false)?),
                // Never used to verify anything; random so it cannot be guessed either.
                KeySource::NotNeeded => JwtKey::Hs256(random_bytes()?),
            },
        };
        let master_keys = match (&master_key, &master_keys) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Limit(
                    "set only one of STEWARD_MASTER_KEY (version 1) and STEWARD_MASTER_KEYS (with versions)".into(),
                ));
            }
            (Some(hex_key), None) => Some(MasterKeys::single(
                MasterKey::from_hex(hex_key.expose()).ok_or(ConfigError::BadMasterKey)?,
            )),
            (None, Some(versions)) => Some(
                MasterKeys::parse(versions.expose())
                    .map_err(|e| ConfigError::Limit(format!("STEWARD_MASTER_KEYS: {e}")))?,
            ),
            (None, None) => match keys {
                KeySource::Configured => return Err(ConfigError::NoMasterKey),
                KeySource::DemoCreate => {
                    Some(MasterKeys::single(demo_master_key(&data_dir, true)?))
                }
                KeySource::DemoExisting | KeySource::NotNeeded => demo_master_key(&data_dir, false)
                    .ok()
                    .map(MasterKeys::single),
            },
        };
        let issuer = match (&args.jwt_issuer, &key) {
            (Some(iss), _) if iss.trim().is_empty() => {
                return Err(ConfigError::Empty("STEWARD_JWT_ISSUER"));
            }
            (Some(iss), _) => iss.clone(),
            (None, JwtKey::Hs256(_)) => "steward".to_owned(),
            (None, JwtKey::PublicPem { .. }) => return Err(ConfigError::IssuerRequired),
            // The discovery document's `issuer` must be this very string (OpenID Connect Discovery 1.0, 4.3).
            (None, JwtKey::Oidc { .. }) => args.oidc_issuer.clone().unwrap_or_default(),
        };
        for (name, claim) in [
            ("STEWARD_KIND_CLAIM", &args.kind_claim),
            ("STEWARD_TENANT_CLAIM", &args.tenant_claim),
        ] {
            if claim.trim().is_empty() {
                return Err(ConfigError::Empty(name));
            }
        }
        if args.kind_claim == args.tenant_claim {
            return Err(ConfigError::Limit(
                "STEWARD_KIND_CLAIM and STEWARD_TENANT_CLAIM must name different claims".into(),
            ));
        }
        if args.jwt_audience.trim().is_empty() {
            return Err(ConfigError::Empty("STEWARD_JWT_AUDIENCE"));
        }
        if args
            .bootstrap_admin
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(ConfigError::Empty("STEWARD_BOOTSTRAP_ADMIN"));
        }
        if args.max_query_depth == 0 || args.max_query_complexity == 0 {
            return Err(ConfigError::Limit(
                "STEWARD_MAX_QUERY_DEPTH and STEWARD_MAX_QUERY_COMPLEXITY must be at least 1"
                    .into(),
            ));
        }
        if args.request_timeout_secs == 0 {
            return Err(ConfigError::Limit(
                "STEWARD_REQUEST_TIMEOUT_SECS must be at least 1".into(),
            ));
        }
        if args.db_pool_size == 0 {
            return Err(ConfigError::Limit(
                "STEWARD_DB_POOL_SIZE must be at least 1".into(),
            ));
        }

        Ok(Config {
            listen: args.listen,
            data_dir,
            control_url,
            regions,
            jwt: JwtConfig {
                issuer,
                audience: args.jwt_audience.clone(),
                key,
                max_lifetime: Duration::from_secs(args.jwt_max_lifetime_secs.max(60)),
                kind_claim: args.kind_claim.clone(),
                tenant_claim: args.tenant_claim.clone(),
            },
            master_keys,
            bootstrap_admin: args.bootstrap_admin.clone(),
            limits: Limits {
                max_query_depth: args.max_query_depth,
                max_query_complexity: args.max_query_complexity,
                request_timeout: Duration::from_secs(args.request_timeout_secs),
                policy_notice_days: i64::from(args.policy_notice_days.min(3650)),
                max_query_aliases: args.max_query_aliases,
                introspection: args.introspection,
                rate_limit_per_sec: args.rate_limit_per_sec,
                rate_limit_burst: args.rate_limit_burst,
                header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
                write_timeout: Duration::from_secs(args.write_timeout_secs.max(1)),
                max_connections: args.max_connections.max(1),
                public_rate_limit_per_sec: args.public_rate_limit_per_sec,
                public_rate_limit_burst: args.public_rate_limit_burst,
                db_acquire_timeout: args
                    .db_acquire_timeout_ms
                    .map(|ms| Duration::from_millis(ms.max(1))),
                ..Limits::default()
            },
            db_pool_size: args.db_pool_size,
            metrics_token: metrics_token.filter(|t| !t.expose().trim().is_empty()),
            role_changes: args.role_changes,
            allow_loopback_webhooks: args.allow_loopback_webhooks,
            processor_name: args.processor_name.trim().to_owned(),
            processor_contact: args.processor_contact.trim().to_owned(),
            processor_dpo: args
                .processor_dpo
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            processor_eu_representative: args
                .processor_eu_representative
                .as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned),
            job_interval: Duration::from_secs(args.job_interval_secs.max(1)),
            smtp_url: smtp_url.filter(|u| !u.expose().trim().is_empty()),
            smtp_from: args.smtp_from.clone(),
            public_url: args
                .public_url
                .clone()
                .filter(|u| !u.trim().is_empty())
                .unwrap_or_else(|| format!("http://{}", args.listen)),
            job_poll: Duration::from_millis(args.job_poll_ms.clamp(50, 60_000)),
            job_lease: Duration::from_secs(args.job_lease_secs.clamp(5, 3600)),
            shutdown_drain: Duration::from_secs(args.shutdown_drain_secs.min(600)),
            shutdown_timeout: Duration::from_secs(args.shutdown_timeout_secs.clamp(1, 3600)),
        })
    }

    /// Whether any database lives in SQLite files under the data dir (which then must exist).
    pub fn uses_sqlite(&self) -> bool {
        std::iter::once(&self.control_url)
            .chain(self.regions.iter().flat_map(|r| [&r.url, &r.keys_url]))
            .any(|u| u.expose().starts_with("sqlite:"))
    }

    pub fn region_names(&self) -> Vec<&str> {
        self.regions.iter().map(|r| r.name.as_str()).collect()
    }
}

/// A database URL with any password replaced, for logs and messages.
pub fn redact_url(url: &str) -> String {
    let shown = match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    };
    // A password may be an option too (`?password=…`, as libpq and sqlx accept).
    match shown.split_once('?') {
        Some((base, query)) => {
            let options: Vec<String> = query
                .split('&')
                .map(|option| match option.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => option.to_owned(),
                })
                .collect();
            format!("{base}?{}", options.join("&"))
        }
        None => shown,
    }
}

/// An error text with every occurrence of `url` shown redacted (drivers repeat the URL they could not use).
pub fn redact_in(text: &str, url: &str) -> String {
    if url.is_empty() {
        return text.to_owned();
    }
    text.replace(url, &redact_url(url))
}

fn sqlite_file_url(dir: &Path, file: &str) -> Secret {
    Secret::new(format!("sqlite://{}?mode=rwc", dir.join(file).display()))
}

fn check_url(name: &str, url: &str) -> Result<Secret, ConfigError> {
    let url = url.trim();
    if url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://")
    {
        Ok(Secret::new(url))
    } else {
        Err(ConfigError::DatabaseUrl {
            name: name.to_owned(),
            url: redact_url(url),
        })
    }
}

/// Each region with its subject-key database: the one given in `spec` (`name=url,…`), else for an SQLite region a
/// file beside it. A PostgreSQL region needs one given; no two databases may be the same.
fn with_key_databases(
    regions: Vec<(String, Secret)>,
    spec: Option<&Secret>,
    control: &Secret,
) -> Result<Vec<RegionConfig>, ConfigError> {
    let mut given: Vec<(String, Secret)> = match spec {
        Some(spec) => parse_named_urls(
            spec.expose(),
            "STEWARD_KEY_DATABASES",
            ConfigError::KeyDatabases,
        )?,
        None => Vec::new(),
    };
    if let Some((name, _)) = given
        .iter()
        .find(|(name, _)| !regions.iter().any(|(r, _)| r == name))
    {
        return Err(ConfigError::KeyDatabases(format!(
            "`{name}` is not a region in STEWARD_REGIONS"
        )));
    }
    let region_urls: Vec<Secret> = regions.iter().map(|(_, url)| url.clone()).collect();
    let mut out: Vec<RegionConfig> = Vec::with_capacity(regions.len());
    for (name, url) in regions {
        let keys_url = match given.iter().position(|(n, _)| *n == name) {
            Some(at) => given.swap_remove(at).1,
            None => beside(url.expose()).ok_or_else(|| {
                ConfigError::KeyDatabases(format!(
                    "region `{name}` is on PostgreSQL: give its subject-key database too \
                     (STEWARD_KEY_DATABASES={name}=postgres://…/{name}_keys, a database of its own, backed up apart \
                     from the region's), so that a restored backup of the region cannot bring an erased person back"
                ))
            })?,
        };
        let same = |other: &Secret| same_database(other.expose(), keys_url.expose());
        if same(control)
            || region_urls.iter().any(same)
            || out.iter().any(|r: &RegionConfig| same(&r.keys_url))
        {
            return Err(ConfigError::KeyDatabases(format!(
                "region `{name}`'s subject-key database must be a database of its own, not the control database \
                 nor a region's"
            )));
        }
        out.push(RegionConfig {
            name,
            url,
            keys_url,
        });
    }
    Ok(out)
}

/// The subject-key database beside an SQLite region's file: `region-eu.db` → `region-eu-keys.db`; `None` for a
/// PostgreSQL region. An in-memory region (tests) gets an in-memory key database.
fn beside(region_url: &str) -> Option<Secret> {
    if !region_url.starts_with("sqlite:") {
        return None;
    }
    let (path, query) = match region_url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (region_url, None),
    };
    if path.ends_with(":memory:") || path == "sqlite:" || path == "sqlite://" {
        return Some(Secret::new(region_url));
    }
    let keys = match path.strip_suffix(".db") {
        Some(stem) => format!("{stem}-keys.db"),
        None => format!("{path}-keys"),
    };
    Some(Secret::new(match query {
        Some(query) => format!("{keys}?{query}"),
        None => keys,
    }))
}

/// Whether two database URLs name the same database (ignoring an SQLite URL's options; in-memory ones never are).
fn same_database(a: &str, b: &str) -> bool {
    let base = |u: &str| {
        u.split('?')
            .next()
            .unwrap_or(u)
            .trim_end_matches('/')
            .to_owned()
    };
    !a.contains(":memory:") && base(a) == base(b)
}

fn parse_regions(spec: &str) -> Result<Vec<(String, Secret)>, ConfigError> {
    let regions = parse_named_urls(spec, "STEWARD_REGIONS", ConfigError::Regions)?;
    if regions.is_empty() {
        return Err(ConfigError::Regions("no region given".into()));
    }
    Ok(regions)
}

/// `name=url,name=url` of regions' databases; `refused` makes the error of `variable`.
fn parse_named_urls(
    spec: &str,
    variable: &str,
    refused: fn(String) -> ConfigError,
) -> Result<Vec<(String, Secret)>, ConfigError> {
    let mut regions: Vec<(String, Secret)> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, url) = part
            .split_once('=')
            .ok_or_else(|| refused(format!("`{}` is not `name=url`", redact_url(part))))?;
        let name = name.trim();
        if !is_region_name(name) {
            return Err(refused(format!(
                "region name `{name}` must be 1-32 lower-case letters, digits or '-'"
            )));
        }
        if regions.iter().any(|(r, _)| r == name) {
            return Err(refused(format!("region `{name}` is listed twice")));
        }
        let url = check_url(&format!("{variable} region `{name}`"), url)?;
        regions.push((name.to_owned(), url));
    }
    Ok(regions)
}

pub(crate) fn is_region_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use jsonwebtoken::Algorithm;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ConfigArgs,
    }

    fn args(extra: &[&str]) -> ConfigArgs {
        let mut argv = vec![
            "steward",
            "--data-dir",
            "/nonexistent-steward",
            "--master-key",
            MASTER,
        ];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().args
    }

    const MASTER: &str = "0101010101010101010101010101010101010101010101010101010101010101";

    #[test]
    fn refuses_to_start_without_a_valid_master_key() {
        let secret = "x".repeat(32);
        let mut no_master = args(&["--jwt-hs256-secret", &secret]);
        no_master.master_key = None;
        let err = Config::from_args(&no_master, KeySource::Configured).unwrap_err();
        assert!(matches!(err, ConfigError::NoMasterKey), "{err}");
        assert!(err.to_string().contains("openssl rand -hex 32"));
        let mut short = no_master.clone();
        short.master_key = Some("abcd".into());
        assert!(matches!(
            Config::from_args(&short, KeySource::Configured),
            Err(ConfigError::BadMasterKey)
        ));
        // Versions: the highest is current; never both variables; errors name the version, not the key.
        let mut versioned = no_master.clone();
        versioned.master_keys = Some(format!("2:{},1:{MASTER}", "02".repeat(32)).as_str().into());
        let config = Config::from_args(&versioned, KeySource::Configured).unwrap();
        let keys = config.master_keys.as_ref().unwrap();
        assert_eq!((keys.versions(), keys.current()), (vec![1, 2], 2));
        assert!(!format!("{config:?}").contains(MASTER));
        let mut both = versioned.clone();
        both.master_key = Some(MASTER.into());
        let err = Config::from_args(&both, KeySource::Configured).unwrap_err();
        assert!(
            err.to_string().contains("only one of STEWARD_MASTER_KEY"),
            "{err}"
        );
        let mut bad = no_master.clone();
        bad.master_keys = Some(format!("1:{MASTER},1:{MASTER}").as_str().into());
        let err = Config::from_args(&bad, KeySource::Configured).unwrap_err();
        assert!(
            err.to_string().contains("version 1 is given twice"),
            "{err}"
        );
        assert!(!err.to_string().contains(MASTER));
        let config = Config::from_args(
            &args(&["--jwt-hs256-secret", &secret]),
            KeySource::Configured,
        )
        .unwrap();
        assert!(
            !format!("{config:?}").contains(MASTER),
            "the master key never appears in Debug"
        );
    }

    #[test]
    fn an_oidc_issuer_is_https_or_loopback_and_the_only_key_source() {
        let ok = |issuer: &str| {
            Config::from_args(&args(&["--oidc-issuer", issuer]), KeySource::Configured)
                .map(|c| c.jwt.issuer)
        };
        assert_eq!(
            ok("https://login.example/tenant-1/v2.0").unwrap(),
            "https://login.example/tenant-1/v2.0"
        );
        assert!(ok("http://127.0.0.1:8081/realms/x").is_ok());
        assert!(ok("http://localhost:8081").is_ok());
        for bad in [
            "http://idp.example",
            "ftp://idp.example",
            "https://idp.example/?a=b",
            "not a url",
        ] {
            assert!(ok(bad).is_err(), "{bad}");
        }
        let secret = "x".repeat(32);
        let both = args(&[
            "--oidc-issuer",
            "https://idp.example",
            "--jwt-hs256-secret",
            &secret,
        ]);
        assert!(matches!(
            Config::from_args(&both, KeySource::Configured),
            Err(ConfigError::TwoKeys)
        ));
        let same = args(&[
            "--oidc-issuer",
            "https://idp.example",
            "--kind-claim",
            "x",
            "--tenant-claim",
            "x",
        ]);
        assert!(Config::from_args(&same, KeySource::Configured).is_err());
    }

    #[test]
    fn secrets_are_read_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let master = write("master", &format!("{MASTER}\n"));
        let secret = write("hs256", &format!("{}\n", "s".repeat(40)));
        let token = write("metrics", "scrape\r\n");
        let mut parsed = args(&[
            "--master-key-file",
            &master,
            "--jwt-hs256-secret-file",
            &secret,
            "--metrics-token-file",
            &token,
        ]);
        parsed.master_key = None;
        let config = Config::from_args(&parsed, KeySource::Configured).unwrap();
        assert!(matches!(&config.jwt.key, JwtKey::Hs256(s) if s == &b"s".repeat(40)));
        assert_eq!(config.metrics_token.unwrap().expose(), "scrape");
        assert!(config.master_keys.is_some());
        // Both a secret and its file: refused, naming both.
        let both = args(&[
            "--master-key-file",
            &master,
            "--jwt-hs256-secret-file",
            &secret,
        ]);
        let err = Config::from_args(&both, KeySource::Configured)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("STEWARD_MASTER_KEY and STEWARD_MASTER_KEY_FILE"),
            "{err}"
        );
        let mut missing = args(&["--jwt-hs256-secret-file", "/nonexistent/steward-secret"]);
        missing.master_key = None;
        let err = Config::from_args(&missing, KeySource::Configured)
            .unwrap_err()
            .to_string();
        assert!(err.contains("STEWARD_JWT_HS256_SECRET_FILE"), "{err}");
    }

    #[test]
    fn no_secret_appears_in_debug() {
        let secret = "hs256-secret-hs256-secret-hs256-secret".to_owned();
        let parsed = args(&[
            "--jwt-hs256-secret",
            &secret,
            "--metrics-token",
            "scrape-token-9f8e",
            "--smtp-url",
            "smtps://mailer:smtp-pass-77@mail.example",
            "--database-url",
            "postgres://steward:db-pass-55@db.example/control",
            "--regions",
            "eu=postgres://steward:region-pass-66@db.example/eu",
            "--key-databases",
            "eu=postgres://steward:keys-pass-88@db.example/eu_keys",
        ]);
        let config = Config::from_args(&parsed, KeySource::Configured).unwrap();
        for shown in [format!("{parsed:?}"), format!("{config:?}")] {
            for needle in [
                secret.as_str(),
                MASTER,
                "scrape-token-9f8e",
                "smtp-pass-77",
                "db-pass-55",
                "region-pass-66",
                "keys-pass-88",
            ] {
                assert!(!shown.contains(needle), "{needle} in {shown}");
            }
        }
    }

    #[test]
    fn loopback_webhooks_are_off_by_default() {
        assert!(!args(&[]).allow_loopback_webhooks);
        assert!(args(&["--allow-loopback-webhooks", "true"]).allow_loopback_webhooks);
    }

    #[test]
    fn refuses_to_start_without_a_key_and_names_what_to_set() {
        let err = Config::from_args(&args(&[]), KeySource::Configured).unwrap_err();
        assert!(
            err.to_string().contains("STEWARD_JWT_HS256_SECRET"),
            "{err}"
        );
        assert!(
            err.to_string().contains("STEWARD_JWT_PUBLIC_KEY_FILE"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_short_secret() {
        let err = Config::from_args(
            &args(&["--jwt-hs256-secret", "short"]),
            KeySource::Configured,
        )
        .unwrap_err();
        assert!(matches!(err, ConfigError::ShortSecret(5)), "{err}");
    }

    #[test]
    fn defaults_are_embedded_and_on_loopback() {
        let secret = "x".repeat(32);
        let config = Config::from_args(
            &args(&["--jwt-hs256-secret", &secret]),
            KeySource::Configured,
        )
        .unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url, "http://127.0.0.1:8080");
        assert_eq!(config.region_names(), ["eu", "us"]);
        assert!(config.control_url.expose().starts_with("sqlite://"));
        assert_eq!(config.jwt.audience, "steward");
        assert!(
            !format!("{config:?}").contains(&secret),
            "secrets never appear in Debug"
        );
    }

    #[test]
    fn links_follow_the_listen_address_unless_set() {
        let secret = "x".repeat(32);
        let moved = Config::from_args(
            &args(&["--jwt-hs256-secret", &secret, "--listen", "127.0.0.1:18181"]),
            KeySource::Configured,
        )
        .unwrap();
        assert_eq!(moved.public_url, "http://127.0.0.1:18181");
        let set = Config::from_args(
            &args(&[
                "--jwt-hs256-secret",
                &secret,
                "--public-url",
                "https://steward.example.com",
            ]),
            KeySource::Configured,
        )
        .unwrap();
        assert_eq!(set.public_url, "https://steward.example.com");
    }

    #[test]
    fn regions_are_validated() {
        let secret = "x".repeat(32);
        let with = |spec: &str| {
            Config::from_args(
                &args(&["--jwt-hs256-secret", &secret, "--regions", spec]),
                KeySource::Configured,
            )
        };
        assert!(with("eu=sqlite://a/eu.db,us=sqlite://a/us.db").is_ok());
        assert!(matches!(
            with("eu=postgres://h/a,eu=postgres://h/b"),
            Err(ConfigError::Regions(_))
        ));
        assert!(matches!(
            with("EU=postgres://h/a"),
            Err(ConfigError::Regions(_))
        ));
        assert!(matches!(
            with("eu=mysql://h/a"),
            Err(ConfigError::DatabaseUrl { .. })
        ));
        assert!(matches!(with("eu"), Err(ConfigError::Regions(_))));
        let err = with("eu=mysql://user:hunter2@h/a").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn each_region_has_a_subject_key_database_of_its_own() {
        let secret = "x".repeat(32);
        let with = |regions: &str, keys: Option<&str>| {
            let mut flags = vec!["--jwt-hs256-secret", &secret, "--regions", regions];
            if let Some(keys) = keys {
                flags.extend(["--key-databases", keys]);
            }
            Config::from_args(&args(&flags), KeySource::Configured)
        };
        // SQLite: a file beside the region's, options kept.
        let config = with(
            "eu=sqlite:///d/region-eu.db?mode=rwc,us=sqlite:///d/us",
            None,
        )
        .unwrap();
        let keys: Vec<&str> = config.regions.iter().map(|r| r.keys_url.expose()).collect();
        assert_eq!(
            keys,
            [
                "sqlite:///d/region-eu-keys.db?mode=rwc",
                "sqlite:///d/us-keys"
            ]
        );
        // The default embedded set-up.
        let config = Config::from_args(
            &args(&["--jwt-hs256-secret", &secret]),
            KeySource::Configured,
        )
        .unwrap();
        assert!(
            config.regions[0]
                .keys_url
                .expose()
                .ends_with("region-eu-keys.db?mode=rwc")
        );
        // PostgreSQL: given, or refused with what to set (and no password in the message).
        let pg = "eu=postgres://u:hunter2@h/eu,us=postgres://h/us";
        let err = with(pg, None).unwrap_err();
        assert!(matches!(err, ConfigError::KeyDatabases(_)), "{err}");
        assert!(
            err.to_string().contains("STEWARD_KEY_DATABASES=eu="),
            "{err}"
        );
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let config = with(pg, Some("eu=postgres://h/eu_keys,us=postgres://h/us_keys")).unwrap();
        assert_eq!(config.regions[1].keys_url.expose(), "postgres://h/us_keys");
        // One given, the other missing; an unknown region; the same database as a region or the control one.
        for keys in [
            "eu=postgres://h/eu_keys",
            "eu=postgres://h/eu_keys,us=postgres://h/us_keys,ap=postgres://h/ap_keys",
            "eu=postgres://h/us,us=postgres://h/us_keys",
            "eu=postgres://h/eu_keys,us=postgres://h/eu_keys",
            "eu=postgres://h/eu_keys,us=sqlite:///nonexistent-steward/control.db",
        ] {
            assert!(
                matches!(with(pg, Some(keys)), Err(ConfigError::KeyDatabases(_))),
                "{keys}"
            );
        }
    }

    #[test]
    fn a_public_key_must_exist_and_needs_an_issuer() {
        let missing = Config::from_args(
            &args(&["--jwt-public-key-file", "/nonexistent-steward/key.pem"]),
            KeySource::Configured,
        )
        .unwrap_err();
        assert!(
            matches!(missing, ConfigError::PublicKey { .. }),
            "{missing}"
        );

        let key = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/rs256-public.pem"
        );
        let no_issuer = Config::from_args(
            &args(&["--jwt-public-key-file", key]),
            KeySource::Configured,
        )
        .unwrap_err();
        assert!(
            matches!(no_issuer, ConfigError::IssuerRequired),
            "{no_issuer}"
        );

        let config = Config::from_args(
            &args(&[
                "--jwt-public-key-file",
                key,
                "--jwt-issuer",
                "https://idp.example",
            ]),
            KeySource::Configured,
        )
        .unwrap();
        assert!(matches!(
            config.jwt.key,
            JwtKey::PublicPem {
                algorithm: Algorithm::RS256,
                ..
            }
        ));
        let ec = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/es256-public.pem"
        );
        let config = Config::from_args(
            &args(&[
                "--jwt-public-key-file",
                ec,
                "--jwt-issuer",
                "https://idp.example",
            ]),
            KeySource::Configured,
        )
        .unwrap();
        assert!(matches!(
            config.jwt.key,
            JwtKey::PublicPem {
                algorithm: Algorithm::ES256,
                ..
            }
        ));
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://steward:s3cret@db:5432/eu"),
            "postgres://steward:***@db:5432/eu"
        );
        assert_eq!(
            redact_url("sqlite://data/control.db"),
            "sqlite://data/control.db"
        );
        assert_eq!(
            redact_url("postgres://u@db/eu?sslmode=disable&Password=q5ecret&x=1"),
            "postgres://u:***@db/eu?sslmode=disable&Password=***&x=1"
        );
        // A driver's error that repeats a URL it could not parse.
        let url = "postgres://u:pw-s3cret@[::1/x";
        let said = redact_in(
            &format!("the connection string '{url}' cannot be parsed"),
            url,
        );
        assert!(!said.contains("pw-s3cret"), "{said}");
    }
}
