#![forbid(unsafe_code)]
//! Harness for the black-box tests: a whole Steward server per test, on its own databases, driven through its real
//! router.
//!
//! Every test runs on SQLite (temporary files) and on PostgreSQL when `STEWARD_TEST_POSTGRES_URL` is set (e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`): each test then creates its own control and region databases there
//! and drops them when it ends. `STEWARD_TEST_REQUIRE_POSTGRES=1` (set by CI) turns a missing URL into a failure, so
//! the PostgreSQL runs can never be skipped silently.

use std::path::PathBuf;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use steward::Application;
use steward::auth::TokenMinter;
use steward::config::{Config, ConfigArgs, KeySource};
use steward_policy::ActorKind;
use tower::ServiceExt;

/// The HS256 secret every test server verifies with.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
/// The master key of every test server.
pub const MASTER_KEY: &str = "5e1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";
/// The bootstrap platform admin of every test server.
pub const ROOT: &str = "root-admin";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend, if configured; panics when CI requires it and it is not.
    pub fn postgres() -> Option<Backend> {
        match std::env::var("STEWARD_TEST_POSTGRES_URL") {
            Ok(url) if !url.trim().is_empty() => Some(Backend::Postgres(url)),
            _ => {
                if std::env::var("STEWARD_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                    panic!(
                        "STEWARD_TEST_REQUIRE_POSTGRES=1 but STEWARD_TEST_POSTGRES_URL is not set"
                    );
                }
                eprintln!("STEWARD_TEST_POSTGRES_URL is not set: PostgreSQL variant not run");
                None
            }
        }
    }
}

/// Runs each named `async fn(Backend)` as one test, `<name>::postgres`: a race staged with PostgreSQL's row locks
/// (SQLite has one writer, so there is no race to stage), or a deployment only PostgreSQL serves.
#[macro_export]
macro_rules! postgres_only {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(backend) = $crate::Backend::postgres() {
                        super::$name(backend).await
                    }
                }
            }
        )*
    };
}

/// Runs each named `async fn(Backend)` as two tests: `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if let Some(backend) = $crate::Backend::postgres() {
                        super::$name(backend).await
                    }
                }
            }
        )*
    };
}

/// The result of one HTTP exchange.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `extensions.code` of the first error, if any.
    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    pub fn message(&self) -> &str {
        self.body["errors"][0]["message"].as_str().unwrap_or("")
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// Asserts the request succeeded and returns `data`.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{:#}", self.body);
        assert!(
            self.body.get("errors").is_none(),
            "unexpected errors: {:#}",
            self.body
        );
        &self.body["data"]
    }

    /// Asserts the first error has `code`.
    #[track_caller]
    pub fn expect_code(&self, code: &str) -> &Self {
        assert_eq!(self.code(), Some(code), "{:#}", self.body);
        self
    }
}

struct PgDatabases {
    admin_url: String,
    names: Vec<String>,
}

impl Drop for PgDatabases {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let names = std::mem::take(&mut self.names);
        // Drop runs outside any runtime we may block: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    for name in names {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            ))
                            .await;
                    }
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// One running server with its own databases.
pub struct TestApp {
    pub router: Router,
    pub state: steward::AppState,
    pub config: Config,
    pub backend: Backend,
    minter: TokenMinter,
    /// The first client admin invited into each tenant, who invites the rest.
    tenant_admins: std::sync::Mutex<std::collections::HashMap<String, String>>,
    _dir: tempfile::TempDir,
    _pg: Option<PgDatabases>,
}

/// Configuration flags as the command line would give them, for tests that tweak the defaults.
pub fn default_args(data_dir: PathBuf) -> ConfigArgs {
    ConfigArgs {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        database_url: None,
        regions: None,
        key_databases: None,
        jwt_issuer: None,
        jwt_audience: "steward".into(),
        jwt_hs256_secret: Some(SECRET.into()),
        jwt_public_key_file: None,
        oidc_issuer: None,
        oidc_refresh_secs: 3600,
        kind_claim: "kind".into(),
        tenant_claim: "tid".into(),
        secret_files: Default::default(),
        master_key: Some(MASTER_KEY.into()),
        master_keys: None,
        bootstrap_admin: Some(ROOT.into()),
        max_query_depth: 10,
        max_query_complexity: 1000,
        request_timeout_secs: 30,
        db_pool_size: 4,
        processor_name: "Steward Test Processor".into(),
        processor_contact: "privacy@test.example".into(),
        processor_dpo: Some("Dana Protect, dpo@test.example".into()),
        processor_eu_representative: None,
        job_interval_secs: 3600,
        job_poll_ms: 1000,
        policy_notice_days: 30,
        smtp_url: None,
        smtp_from: "Steward Test <notices@test.example>".into(),
        public_url: Some("http://steward.test".into()),
        job_lease_secs: 60,
        db_acquire_timeout_ms: None,
        max_query_aliases: 30,
        introspection: steward::config::Introspection::Authenticated,
        rate_limit_per_sec: 0,
        rate_limit_burst: 0,
        header_timeout_secs: 10,
        write_timeout_secs: 30,
        jwt_max_lifetime_secs: 86_400,
        max_connections: 4096,
        shutdown_drain_secs: 5,
        shutdown_timeout_secs: 30,
        public_rate_limit_per_sec: 0,
        public_rate_limit_burst: 0,
        metrics_token: None,
        role_changes: steward::config::RoleChanges::Notify,
        // The tests' webhook peers listen on loopback; `outbound` tests turn this off to see the default.
        allow_loopback_webhooks: true,
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Spawns with the default flags changed by `tweak` (databases are filled in afterwards).
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut ConfigArgs)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut args = default_args(dir.path().to_path_buf());
        let pg = match &backend {
            Backend::Sqlite => None,
            Backend::Postgres(url) => {
                let pg = create_pg_databases(url).await;
                let url_of = |name: &str| database_url(url, name);
                args.database_url = Some(url_of(&pg.names[0]).into());
                args.regions =
                    Some(format!("eu={},us={}", url_of(&pg.names[1]), url_of(&pg.names[2])).into());
                args.key_databases =
                    Some(format!("eu={},us={}", url_of(&pg.names[3]), url_of(&pg.names[4])).into());
                Some(pg)
            }
        };
        tweak(&mut args);
        let config = Config::from_args(&args, KeySource::Configured).expect("valid test config");
        let app = Application::build(&config).await.expect("server starts");
        // Tokens as the server expects them (its claim names), signed with the test secret.
        let minter = TokenMinter::new(&steward::config::JwtConfig {
            key: steward::config::JwtKey::Hs256(SECRET.as_bytes().to_vec()),
            ..config.jwt.clone()
        })
        .unwrap()
        .unwrap();
        TestApp {
            router: app.router(),
            state: app.state().clone(),
            config,
            backend,
            minter,
            tenant_admins: Default::default(),
            _dir: dir,
            _pg: pg,
        }
    }

    pub fn staff_token(&self, subject: &str) -> String {
        self.minter
            .mint(subject, ActorKind::Staff, None, Duration::from_secs(600))
            .unwrap()
    }

    pub fn client_token(&self, subject: &str, tenant: &str) -> String {
        let tenant = steward::ids::TenantId::parse("tenant", tenant).unwrap();
        self.minter
            .mint(
                subject,
                ActorKind::Client,
                Some(tenant),
                Duration::from_secs(600),
            )
            .unwrap()
    }

    /// Statements run on the server's databases so far.
    pub fn statements(&self) -> u64 {
        self.state.databases().statements_executed()
    }

    pub fn root(&self) -> String {
        self.staff_token(ROOT)
    }

    /// Sends any request through the router.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// POSTs a raw body to `/graphql`.
    pub async fn post_raw(&self, token: Option<&str>, body: impl Into<Body>) -> Reply {
        let mut request =
            Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        self.send(request.body(body.into()).unwrap()).await
    }

    /// Runs a GraphQL operation with variables.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Reply {
        let body = json!({ "query": query, "variables": variables }).to_string();
        self.post_raw(Some(token), body).await
    }

    /// GETs `path` with a bearer token.
    pub async fn get_with(&self, token: &str, path: &str) -> Reply {
        self.send(
            Request::get(path)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    /// Creates a tenant as the root admin and returns its id.
    pub async fn create_tenant(&self, name: &str, region: &str) -> String {
        let reply = self
            .gql(
                &self.root(),
                "mutation($input: CreateTenantInput!) { createTenant(input: $input) { id } }",
                // Days in UTC, as the tests count them (`jurisdiction.rs` tests tenants' own time zones).
                json!({ "input": { "name": name, "region": region, "timeZone": "UTC" } }),
            )
            .await;
        reply.ok()["createTenant"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Invites a client user with `role` (GraphQL enum name) into `tenant` and returns a token for them: the root
    /// admin sets up a tenant's first `CLIENT_ADMIN`; once it has one, that admin invites (staff may not).
    pub async fn invite(&self, tenant: &str, subject: &str, role: &str) -> String {
        let admin = self
            .tenant_admins
            .lock()
            .unwrap()
            .get(tenant)
            .map(|admin| self.client_token(admin, tenant));
        let reply = self
            .gql(
                &admin.unwrap_or_else(|| self.root()),
                "mutation($input: InviteUserInput!) { inviteUser(input: $input) { id } }",
                json!({ "input": { "tenantId": tenant, "email": format!("{subject}@example.org"), "subject": subject, "role": role } }),
            )
            .await;
        reply.ok();
        if role == "CLIENT_ADMIN" {
            self.tenant_admins
                .lock()
                .unwrap()
                .entry(tenant.to_owned())
                .or_insert_with(|| subject.to_owned());
        }
        self.client_token(subject, tenant)
    }

    /// Grants a staff role (GraphQL enum name) as the root admin and returns a token for that person.
    pub async fn staff_with(&self, subject: &str, role: &str) -> String {
        let reply = self
            .gql(
                &self.root(),
                "mutation($input: RoleChangeInput!) { assignRole(input: $input) { role } }",
                json!({ "input": { "subject": subject, "role": role } }),
            )
            .await;
        reply.ok();
        self.staff_token(subject)
    }

    /// A separate connection to one of the server's databases: `control`, `eu` or `us`.
    /// A platform admin who has held the role for 60 days (appointed by the root admin): a second person for the
    /// root's offboardings, unlike one appointed just now.
    pub async fn long_standing_platform_admin(&self, subject: &str) -> String {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        use steward_entities::role_assignment;
        let token = self.staff_with(subject, "PLATFORM_ADMIN").await;
        let db = self.raw_db("control").await;
        role_assignment::Entity::update_many()
            .col_expr(
                role_assignment::Column::AssignedAt,
                (chrono::Utc::now() - chrono::Duration::days(60)).into(),
            )
            .filter(role_assignment::Column::Subject.eq(subject))
            .exec(&db)
            .await
            .expect("backdating a role assignment");
        db.close().await.unwrap();
        token
    }

    /// Stops this server and starts a new one on the same databases and configuration, as an upgrade or a restart
    /// would (migrations pending by then run at start).
    pub async fn restart(self) -> TestApp {
        self.restart_with(async {}).await
    }

    /// [`TestApp::restart`], running `between` while the server is down (every pool closed): the moment an operator
    /// backs up or restores database files.
    pub async fn restart_with(self, between: impl std::future::Future<Output = ()>) -> TestApp {
        let TestApp {
            router,
            state,
            config,
            backend,
            minter,
            tenant_admins,
            _dir,
            _pg,
        } = self;
        drop(router);
        state.databases().close().await;
        drop(state);
        between.await;
        let app = Application::build(&config).await.expect("server restarts");
        TestApp {
            router: app.router(),
            state: app.state().clone(),
            config,
            backend,
            minter,
            tenant_admins,
            _dir,
            _pg,
        }
    }

    pub async fn raw_db(&self, which: &str) -> DatabaseConnection {
        Database::connect(self.db_url(which))
            .await
            .expect("raw connection")
    }

    /// PostgreSQL: drives `work` until a session of database `which` waits on a lock (a row or a table another
    /// session holds), so a test stages a race at the point it means, not after a guessed delay. Panics if `work`
    /// finishes first, or if no session waits within 20 s.
    pub async fn until_a_session_waits<F: std::future::Future>(
        &self,
        which: &str,
        work: std::pin::Pin<&mut F>,
    ) {
        self.until_sessions_wait(which, 1, work).await
    }

    /// As [`TestApp::until_a_session_waits`], until `n` sessions wait on locks.
    pub async fn until_sessions_wait<F: std::future::Future>(
        &self,
        which: &str,
        n: i64,
        work: std::pin::Pin<&mut F>,
    ) {
        let db = self.raw_db(which).await;
        let waiting = async {
            loop {
                let row = db
                    .query_one_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT count(*) AS n FROM pg_stat_activity \
                         WHERE wait_event_type = 'Lock' AND datname = current_database()",
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                if row.try_get::<i64>("", "n").unwrap() >= n {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            _ = work => panic!("the work finished without waiting on a lock"),
            waited = tokio::time::timeout(Duration::from_secs(20), waiting) => {
                waited.expect("the sessions did not wait on locks within 20 s")
            }
        }
    }

    /// The file of SQLite database `which` (`control` or a region).
    pub fn sqlite_file(&self, which: &str) -> String {
        let url = self.db_url(which);
        url.trim_start_matches("sqlite://")
            .split('?')
            .next()
            .unwrap()
            .to_owned()
    }

    /// The URL of database `which`: `control`, a region's name, or `keys-<region>` for its subject-key database.
    pub fn db_url(&self, which: &str) -> String {
        if let Some(region) = which.strip_prefix("keys-") {
            return self
                .config
                .regions
                .iter()
                .find(|r| r.name == region)
                .map(|r| r.keys_url.expose().to_owned())
                .expect("known region");
        }
        match which {
            "control" => self.config.control_url.expose().to_owned(),
            region => self
                .config
                .regions
                .iter()
                .find(|r| r.name == region)
                .map(|r| r.url.expose().to_owned())
                .expect("known region"),
        }
    }

    /// As a version before the subject-key databases left region `region`: each subject's wrapped key back in its
    /// `data_subjects` row, none in the subject-key database. Run while the server is down or between requests.
    pub async fn keys_back_in_region(&self, region: &str) {
        let rdb = self.raw_db(region).await;
        let kdb = self.raw_db(&format!("keys-{region}")).await;
        let rows = kdb
            .query_all_raw(Statement::from_string(
                kdb.get_database_backend(),
                "SELECT subject_id, wrapped_key FROM subject_keys",
            ))
            .await
            .unwrap();
        let update = match self.backend {
            Backend::Postgres(_) => "UPDATE data_subjects SET wrapped_key = $1 WHERE id = $2",
            Backend::Sqlite => "UPDATE data_subjects SET wrapped_key = ? WHERE id = ?",
        };
        for row in rows {
            let id: uuid::Uuid = row.try_get("", "subject_id").unwrap();
            let wrapped: Vec<u8> = row.try_get("", "wrapped_key").unwrap();
            rdb.execute_raw(Statement::from_sql_and_values(
                rdb.get_database_backend(),
                update,
                [wrapped.into(), id.into()],
            ))
            .await
            .unwrap();
        }
        kdb.execute_unprepared("DELETE FROM subject_keys")
            .await
            .unwrap();
        let _ = rdb.close().await;
        let _ = kdb.close().await;
    }

    /// Does `needle` appear anywhere in database `which`? SQLite: in the raw bytes of the file and its WAL (what a
    /// thief of the disk would see). PostgreSQL: in the text form of any row of any table.
    pub async fn database_contains(&self, which: &str, needle: &str) -> bool {
        match &self.backend {
            Backend::Sqlite => {
                let path = self.sqlite_file(which);
                [path.clone(), format!("{path}-wal")].iter().any(|p| {
                    std::fs::read(p).is_ok_and(|bytes| {
                        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
                    })
                })
            }
            Backend::Postgres(_) => {
                let db = self.raw_db(which).await;
                let tables = db
                    .query_all_raw(Statement::from_string(
                        DbBackend::Postgres,
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
                    ))
                    .await
                    .unwrap();
                for row in tables {
                    let table: String = row.try_get("", "tablename").unwrap();
                    let hit = db
                        .query_one_raw(Statement::from_sql_and_values(
                            DbBackend::Postgres,
                            format!(
                                "SELECT count(*) AS n FROM \"{table}\" t WHERE t::text LIKE $1"
                            ),
                            [format!("%{needle}%").into()],
                        ))
                        .await
                        .unwrap()
                        .unwrap();
                    if hit.try_get::<i64>("", "n").unwrap() > 0 {
                        return true;
                    }
                }
                false
            }
        }
    }

    /// Does this byte string appear in database `which`? SQLite: raw file and WAL bytes. PostgreSQL: the hex text of
    /// any `bytea` column of any row.
    pub async fn database_contains_bytes(&self, which: &str, needle: &[u8]) -> bool {
        match &self.backend {
            Backend::Sqlite => {
                let path = self.sqlite_file(which);
                [path.clone(), format!("{path}-wal")].iter().any(|p| {
                    std::fs::read(p)
                        .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
                })
            }
            Backend::Postgres(_) => {
                let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
                self.database_contains(which, &hex).await
            }
        }
    }

    /// Runs every due job of every queue, as the server's worker would at `now`. Returns how many ran.
    pub async fn run_jobs_at(&self, now: chrono::DateTime<chrono::Utc>) -> usize {
        let runner = self.state.job_runner();
        let worker = steward::jobs::Worker::new(Duration::from_secs(60));
        steward::jobs::run_due(&runner, &worker, now)
            .await
            .expect("job queue readable")
    }

    pub async fn run_jobs(&self) -> usize {
        self.run_jobs_at(chrono::Utc::now()).await
    }

    /// Counts rows of `table` in database `which` matching a SQL condition (written for both backends).
    pub async fn count(&self, which: &str, table: &str, condition: &str) -> i64 {
        let db = self.raw_db(which).await;
        let backend = db.get_database_backend();
        let row = db
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT count(*) AS n FROM {table} WHERE {condition}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    }
}

/// A tenant id as it is stored in a region table, for [`TestApp::count`] conditions.
pub fn stored_uuid(app: &TestApp, id: &str) -> String {
    let uuid = uuid::Uuid::parse_str(id).unwrap();
    match app.backend {
        Backend::Sqlite => format!("X'{}'", uuid.simple()),
        Backend::Postgres(_) => format!("'{}'::uuid", uuid.hyphenated()),
    }
}

/// Empty databases, never migrated, for tests that start server processes on them: SQLite files in `dir`, or
/// throwaway PostgreSQL databases dropped with this value.
pub struct FreshDatabases {
    pub control: String,
    /// `STEWARD_REGIONS`: `eu=…,us=…`.
    pub regions: String,
    /// `STEWARD_KEY_DATABASES`: `eu=…,us=…`.
    pub key_databases: String,
    _pg: Option<PgDatabases>,
}

pub async fn fresh_databases(backend: &Backend, dir: &std::path::Path) -> FreshDatabases {
    match backend {
        Backend::Sqlite => {
            let url = |file: &str| format!("sqlite://{}?mode=rwc", dir.join(file).display());
            FreshDatabases {
                control: url("control.db"),
                regions: format!("eu={},us={}", url("region-eu.db"), url("region-us.db")),
                key_databases: format!(
                    "eu={},us={}",
                    url("region-eu-keys.db"),
                    url("region-us-keys.db")
                ),
                _pg: None,
            }
        }
        Backend::Postgres(admin) => {
            let pg = create_pg_databases(admin).await;
            let url = |i: usize| database_url(admin, &pg.names[i]);
            FreshDatabases {
                control: url(0),
                regions: format!("eu={},us={}", url(1), url(2)),
                key_databases: format!("eu={},us={}", url(3), url(4)),
                _pg: Some(pg),
            }
        }
    }
}

async fn create_pg_databases(admin_url: &str) -> PgDatabases {
    let admin = Database::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at STEWARD_TEST_POSTGRES_URL: {e}"));
    let stem = format!("steward_t_{}", uuid::Uuid::new_v4().simple());
    let names: Vec<String> = ["control", "eu", "us", "eu_keys", "us_keys"]
        .iter()
        .map(|k| format!("{stem}_{k}"))
        .collect();
    for name in &names {
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    }
    let _ = admin.close().await;
    PgDatabases {
        admin_url: admin_url.to_owned(),
        names,
    }
}

/// The same server URL with another database name.
fn database_url(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (base, String::new()),
    };
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    let server = match without_query[scheme_end..].find('/') {
        Some(slash) => &without_query[..scheme_end + slash],
        None => without_query,
    };
    format!("{server}/{name}{query}")
}

/// One request a [`WebhookSink`] received.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: String,
}

/// The Standard Webhooks reference library this suite verifies deliveries with, as a receiver would.
pub const STANDARD_WEBHOOKS: &str = "standardwebhooks==1.3.0";

/// Verifies `delivery` with the Standard Webhooks reference library (PyPI, [`STANDARD_WEBHOOKS`]; installed once per
/// machine into the temp folder, and the test fails if it cannot be): the parsed body, or the library's refusal.
pub fn standard_webhooks_verify(secret: &str, delivery: &Delivery) -> Result<Value, String> {
    use std::io::Write;
    let library = standard_webhooks_library();
    let headers: serde_json::Map<String, Value> =
        ["webhook-id", "webhook-timestamp", "webhook-signature"]
            .into_iter()
            .filter_map(|name| {
                let value = delivery.headers.get(name)?.to_str().ok()?;
                Some((name.to_owned(), Value::String(value.to_owned())))
            })
            .collect();
    let input = json!({ "secret": secret, "headers": headers, "body": delivery.body });
    let script = "import json, sys\n\
                  from standardwebhooks import Webhook, WebhookVerificationError\n\
                  d = json.load(sys.stdin)\n\
                  try:\n    print(json.dumps({'ok': Webhook(d['secret']).verify(d['body'].encode(), d['headers'])}))\n\
                  except WebhookVerificationError as e:\n    print(json.dumps({'error': str(e)}))\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .env("PYTHONPATH", library)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the verifier script failed");
    let verdict: Value = serde_json::from_slice(&output.stdout).expect("the verifier answers JSON");
    match verdict.get("ok") {
        Some(body) => Ok(body.clone()),
        None => Err(verdict["error"].as_str().unwrap_or("refused").to_owned()),
    }
}

fn standard_webhooks_library() -> &'static std::path::Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir()
            .join("steward-test-python")
            .join(STANDARD_WEBHOOKS.replace("==", "-"));
        if !dir.join("standardwebhooks").join("webhooks.py").exists() {
            // Installed beside, then moved in place: test processes running at once never see half a package.
            let staging = dir.with_extension(format!("staging-{}", std::process::id()));
            let installed = std::process::Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--root-user-action=ignore", "--no-deps", "--target"])
                .arg(&staging)
                .arg(STANDARD_WEBHOOKS)
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                installed,
                "cannot install {STANDARD_WEBHOOKS} from PyPI with python3 -m pip: the webhook tests verify deliveries \
                 with it, as a receiver would"
            );
            std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
            let _ = std::fs::rename(&staging, &dir);
            let _ = std::fs::remove_dir_all(&staging);
        }
        dir
    })
}

/// A local HTTP server standing in for a sub-processor's erasure endpoint: answers with the scripted statuses in
/// turn (then 200 with `{"reference": "..."}`) and records every request.
pub struct WebhookSink {
    pub url: String,
    pub deliveries: std::sync::Arc<std::sync::Mutex<Vec<Delivery>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl WebhookSink {
    pub async fn start(script: Vec<u16>) -> WebhookSink {
        use axum::routing::post;
        let deliveries = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let script = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::from(
            script,
        )));
        let (seen, plan) = (deliveries.clone(), script.clone());
        let app = Router::new().route(
            "/{*path}",
            post(move |headers: HeaderMap, body: String| {
                let (seen, plan) = (seen.clone(), plan.clone());
                async move {
                    seen.lock().unwrap().push(Delivery { headers, body });
                    let status = plan.lock().unwrap().pop_front().unwrap_or(200);
                    (
                        StatusCode::from_u16(status).unwrap(),
                        json!({ "reference": "SP-ERASE-0001" }).to_string(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookSink {
            url: format!("http://127.0.0.1:{port}/erase"),
            deliveries,
            _server: server,
        }
    }

    pub fn received(&self) -> Vec<Delivery> {
        self.deliveries.lock().unwrap().clone()
    }
}

/// One message an [`SmtpSink`] accepted.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

/// A local SMTP server that accepts every message and keeps it, standing in for the mail relay.
pub struct SmtpSink {
    pub port: u16,
    pub url: String,
    pub mails: std::sync::Arc<std::sync::Mutex<Vec<Mail>>>,
    _server: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_on(0).await
    }

    /// Starts on a given port (0: any), e.g. one a server was configured with before the sink was up.
    pub async fn start_on(port: u16) -> SmtpSink {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = mails.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    let (mut to, mut data, mut in_data) = (Vec::new(), String::new(), false);
                    while let Ok(Some(line)) = lines.next_line().await {
                        if in_data {
                            if line == "." {
                                in_data = false;
                                kept.lock().unwrap().push(Mail {
                                    to: std::mem::take(&mut to),
                                    data: std::mem::take(&mut data),
                                });
                                let _ = write.write_all(b"250 queued\r\n").await;
                            } else {
                                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                                data.push('\n');
                            }
                            continue;
                        }
                        let upper = line.to_ascii_uppercase();
                        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO")
                        {
                            b"250 sink\r\n"
                        } else if upper.starts_with("RCPT TO:") {
                            to.push(
                                line[8..]
                                    .trim()
                                    .trim_matches(|c| c == '<' || c == '>')
                                    .to_owned(),
                            );
                            b"250 ok\r\n"
                        } else if upper.starts_with("DATA") {
                            in_data = true;
                            b"354 go ahead\r\n"
                        } else if upper.starts_with("QUIT") {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 ok\r\n"
                        };
                        let _ = write.write_all(reply).await;
                    }
                });
            }
        });
        SmtpSink {
            port,
            url: format!("smtp://127.0.0.1:{port}"),
            mails,
            _server: server,
        }
    }

    pub fn received(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

/// Rolls the control database back to the schema it had just before migration `name` (the migration's file name), as
/// an older version left it. Counted from the list, so a migration added later does not move the target.
pub async fn control_schema_before(db: &DatabaseConnection, name: &str) {
    use steward_migration::{ControlMigrator, MigratorTrait};
    let all = ControlMigrator::migrations();
    let at = all
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no control migration named {name}"));
    ControlMigrator::down(db, Some((all.len() - at) as u32))
        .await
        .unwrap();
}

/// Rolls a region database back to the schema it had just before migration `name` (the migration's file name), as
/// an older version left it. Counted from the list, so a migration added later does not move the target.
pub async fn region_schema_before(db: &DatabaseConnection, name: &str) {
    use steward_migration::{MigratorTrait, RegionMigrator};
    let all = RegionMigrator::migrations();
    let at = all
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no region migration named {name}"));
    RegionMigrator::down(db, Some((all.len() - at) as u32))
        .await
        .unwrap();
}
