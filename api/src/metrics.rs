//! Prometheus metrics, served at `GET /metrics` in the text exposition format.
//!
//! Labels never carry a tenant id, a user or a personal value: operations are named by the schema's root field
//! (bounded), databases by their configured name (`control`, `eu`, …). Counters and histograms are updated as requests
//! run; the database-derived gauges (pool use, job queue, grants in force) are read when scraped.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use steward_entities::job::JobState;

use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use steward_entities::{access_grant, job};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LookupLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DatabaseLabels {
    database: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    database: String,
    state: &'static str,
}

type Seconds = Gauge<f64, AtomicU64>;

fn latency_buckets() -> Histogram {
    // 0.25 ms … ~8 s
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// Every metric of one server: each [`Application`](crate::http::Application) has its own, so tests running many servers
/// in one process read exact counts. Only the audit-append timing is process-wide ([`record_audit_append`]): appends
/// happen deep inside transactions that carry no server state.
pub struct Metrics {
    registry: Registry,
    graphql_duration: Family<OperationLabels, Histogram, fn() -> Histogram>,
    graphql_errors: Family<CodeLabels, Counter>,
    http_responses: Family<StatusLabels, Counter>,
    rate_limited: Counter,
    silent_connections: Counter,
    stalled_connections: Counter,
    document_lookups: Family<LookupLabels, Counter>,
    validation_skipped: Counter,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_max: Family<DatabaseLabels, Gauge>,
    jobs_queued: Family<DatabaseLabels, Gauge>,
    jobs_dead: Family<DatabaseLabels, Gauge>,
    jobs_oldest_due: Family<DatabaseLabels, Seconds>,
    grants_active: Family<DatabaseLabels, Gauge>,
    role_reloads: Counter,
    role_listener: Gauge,
}

/// Time to append to an audit chain, for the whole process; every server's registry shows it.
static AUDIT_APPEND: LazyLock<Histogram> = LazyLock::new(latency_buckets);

/// Records one audit append's duration.
pub fn record_audit_append(elapsed: Duration) {
    AUDIT_APPEND.observe(elapsed.as_secs_f64());
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("steward");
        let graphql_duration: Family<OperationLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_buckets);
        registry.register(
            "graphql_request_duration_seconds",
            "GraphQL requests by operation (type and root field): count and time to answer",
            graphql_duration.clone(),
        );
        let graphql_errors = Family::<CodeLabels, Counter>::default();
        registry.register(
            "graphql_errors",
            "Errors returned in GraphQL responses, by extensions.code",
            graphql_errors.clone(),
        );
        let http_responses = Family::<StatusLabels, Counter>::default();
        registry.register(
            "http_responses",
            "HTTP responses of every route, by status",
            http_responses.clone(),
        );
        let rate_limited = Counter::default();
        registry.register(
            "rate_limited_requests",
            "Requests refused with 429 by the per-tenant rate limit",
            rate_limited.clone(),
        );
        let silent_connections = Counter::default();
        registry.register(
            "silent_connections_closed",
            "Connections closed because they sent nothing within the header timeout",
            silent_connections.clone(),
        );
        let stalled_connections = Counter::default();
        registry.register(
            "stalled_connections_closed",
            "Connections closed because the client stopped reading a response for the write timeout",
            stalled_connections.clone(),
        );
        let document_lookups = Family::<LookupLabels, Counter>::default();
        registry.register(
            "graphql_document_cache_lookups",
            "GraphQL documents found parsed in the document cache (hit) or parsed afresh (miss)",
            document_lookups.clone(),
        );
        let validation_skipped = Counter::default();
        registry.register(
            "graphql_validation_skipped",
            "GraphQL requests whose document had passed full validation before, run without re-checking the rules",
            validation_skipped.clone(),
        );
        registry.register(
            "audit_append_duration_seconds",
            "Time to append one event to an audit chain (inside its transaction), over the whole process",
            AUDIT_APPEND.clone(),
        );
        let pool_connections = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections",
            "Connections of each database pool, by state (idle, in_use)",
            pool_connections.clone(),
        );
        let pool_max = Family::<DatabaseLabels, Gauge>::default();
        registry.register(
            "db_pool_max_connections",
            "Largest size of each database pool",
            pool_max.clone(),
        );
        let jobs_queued = Family::<DatabaseLabels, Gauge>::default();
        registry.register(
            "jobs_queued",
            "Jobs waiting or running in each database's queue",
            jobs_queued.clone(),
        );
        let jobs_dead = Family::<DatabaseLabels, Gauge>::default();
        registry.register(
            "jobs_dead",
            "Jobs that used up their attempts (jobs(state: DEAD))",
            jobs_dead.clone(),
        );
        let jobs_oldest_due = Family::<DatabaseLabels, Seconds>::default();
        registry.register(
            "jobs_oldest_due_age_seconds",
            "How long the oldest job that is due has waited (0 when none is due)",
            jobs_oldest_due.clone(),
        );
        let grants_active = Family::<DatabaseLabels, Gauge>::default();
        registry.register(
            "access_grants_active",
            "Staff access grants approved and not expired",
            grants_active.clone(),
        );
        let role_reloads = Counter::default();
        registry.register(
            "role_assignment_reloads",
            "Full reloads of the role assignments after another change moved their version",
            role_reloads.clone(),
        );
        let role_listener = Gauge::default();
        registry.register(
            "role_changes_listening",
            "1 while this instance hears role changes on steward_authz; 0 while it reads the version per request",
            role_listener.clone(),
        );
        Metrics {
            registry,
            graphql_duration,
            graphql_errors,
            http_responses,
            rate_limited,
            silent_connections,
            stalled_connections,
            document_lookups,
            validation_skipped,
            pool_connections,
            pool_max,
            jobs_queued,
            jobs_dead,
            jobs_oldest_due,
            grants_active,
            role_reloads,
            role_listener,
        }
    }

    pub fn role_assignments_reloaded(&self) {
        self.role_reloads.inc();
    }

    pub fn graphql_request(&self, operation: String, elapsed: Duration) {
        self.graphql_duration
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
    }

    pub fn graphql_error(&self, code: &str) {
        self.graphql_errors
            .get_or_create(&CodeLabels { code: code.into() })
            .inc();
    }

    pub fn http_response(&self, status: u16) {
        self.http_responses
            .get_or_create(&StatusLabels { status })
            .inc();
    }

    pub fn rate_limited(&self) {
        self.rate_limited.inc();
    }

    pub fn connection_closed_silent(&self) {
        self.silent_connections.inc();
    }

    pub fn connection_closed_stalled(&self) {
        self.stalled_connections.inc();
    }

    pub fn document_cache(&self, hit: bool) {
        let result = if hit { "hit" } else { "miss" };
        self.document_lookups
            .get_or_create(&LookupLabels { result })
            .inc();
    }

    pub fn validation_skipped(&self) {
        self.validation_skipped.inc();
    }

    /// Reads the database-derived gauges, then renders everything in the Prometheus text format.
    /// `databases`: the control database (named `control`) and each region's; `listening`: whether role changes
    /// arrive by notification.
    pub async fn render<'a>(
        &self,
        listening: bool,
        databases: impl Iterator<Item = (&'a str, &'a DatabaseConnection)>,
    ) -> String {
        self.role_listener.set(i64::from(listening));
        for (name, db) in databases {
            let labels = DatabaseLabels {
                database: name.to_owned(),
            };
            let (size, idle, max) = pool_use(db);
            self.pool_max.get_or_create(&labels).set(max);
            self.pool_connections
                .get_or_create(&PoolLabels {
                    database: name.to_owned(),
                    state: "idle",
                })
                .set(idle);
            self.pool_connections
                .get_or_create(&PoolLabels {
                    database: name.to_owned(),
                    state: "in_use",
                })
                .set(size - idle);
            match queue_state(db).await {
                Ok((queued, dead, oldest)) => {
                    self.jobs_queued.get_or_create(&labels).set(queued);
                    self.jobs_dead.get_or_create(&labels).set(dead);
                    self.jobs_oldest_due.get_or_create(&labels).set(oldest);
                }
                Err(e) => {
                    tracing::warn!(database = name, error = %e, "job queue unreadable for /metrics")
                }
            }
            if name != "control" {
                match access_grant::Entity::find()
                    .filter(
                        access_grant::Column::Status
                            .eq(steward_entities::access_grant::GrantDecision::Approved),
                    )
                    .filter(access_grant::Column::ExpiresAt.gt(Utc::now()))
                    .count(db)
                    .await
                {
                    Ok(n) => {
                        self.grants_active
                            .get_or_create(&labels)
                            .set(i64::try_from(n).unwrap_or(i64::MAX));
                    }
                    Err(e) => {
                        tracing::warn!(database = name, error = %e, "grants unreadable for /metrics")
                    }
                }
            }
        }
        let mut text = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "encoding metrics failed");
        }
        text
    }
}

/// (connections open, idle, maximum) of a pool.
fn pool_use(db: &DatabaseConnection) -> (i64, i64, i64) {
    let (size, idle, max) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        DbBackend::Sqlite => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            )
        }
        _ => (0, 0, 0),
    };
    let idle = i64::try_from(idle).unwrap_or(i64::MAX);
    (i64::from(size), idle.min(i64::from(size)), i64::from(max))
}

/// (queued or running, dead, seconds the oldest due job has waited).
async fn queue_state(db: &DatabaseConnection) -> Result<(i64, i64, f64), sea_orm::DbErr> {
    let now = Utc::now();
    let queued = job::Entity::find()
        .filter(job::Column::State.is_in([JobState::Queued, JobState::Running]))
        .count(db)
        .await?;
    let dead = job::Entity::find()
        .filter(job::Column::State.eq(JobState::Dead))
        .count(db)
        .await?;
    let oldest = job::Entity::find()
        .select_only()
        .column(job::Column::RunAt)
        .filter(job::Column::State.eq(JobState::Queued))
        .filter(job::Column::RunAt.lte(now))
        .order_by_asc(job::Column::RunAt)
        .into_tuple::<chrono::DateTime<Utc>>()
        .one(db)
        .await?;
    let age = oldest.map_or(0.0, |due| {
        (now - due).num_milliseconds().max(0) as f64 / 1000.0
    });
    Ok((
        i64::try_from(queued).unwrap_or(i64::MAX),
        i64::try_from(dead).unwrap_or(i64::MAX),
        age,
    ))
}
