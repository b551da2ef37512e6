//! Opening the pools: per SQLite database its one writer and the read-only connections beside it, per PostgreSQL
//! database one pool; every statement counted and traced.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use super::SLOW_STATEMENT;
use crate::config::{Config, redact_url};

/// How many read-only connections an SQLite database gets: the pool size, at most twice the cores (a reader is CPU
/// work in this process; more only hold more page cache).
pub(super) fn sqlite_readers(config: &Config) -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    config.db_pool_size.min(2 * cores).max(1)
}

/// An SQLite database's readers: `pool_size` read-only connections (a write through them fails, it never waits). In WAL
/// mode each statement reads the last committed state, so a request reads its own committed writes, and a long write
/// transaction delays no reader.
pub(super) async fn connect_readers(
    name: &str,
    url: &str,
    pool_size: u32,
    acquire: Option<Duration>,
    statements: &Arc<AtomicU64>,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(acquire_timeout(url, acquire))
        .max_connections(pool_size)
        .min_connections(0)
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|o: SqliteConnectOptions| {
            o.read_only(true)
                .create_if_missing(false)
                .busy_timeout(Duration::from_secs(5))
        });
    open(options, "cannot open readers of the", name, url, statements).await
}

/// How long a statement waits for a pooled connection: `STEWARD_DB_ACQUIRE_TIMEOUT_MS` when set, else 10 s on SQLite
/// (one writer, whose queue can be long) and 2 s on PostgreSQL.
fn acquire_timeout(url: &str, configured: Option<Duration>) -> Duration {
    configured.unwrap_or(if url.starts_with("sqlite:") {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(2)
    })
}

pub(super) async fn connect_one(
    name: &str,
    url: &str,
    pool_size: u32,
    acquire: Option<Duration>,
    request_timeout: Duration,
    statements: &Arc<AtomicU64>,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(acquire_timeout(url, acquire))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        // One writer connection: SQLite has one writer, and a single connection never meets SQLITE_BUSY between our
        // own transactions; reads outside a transaction go to a pool of readers beside it (`connect_readers`). WAL
        // keeps readers (ours, and other processes': backups, the tests' scans) out of the writer's way;
        // secure_delete overwrites deleted rows so erased values do not linger in free pages.
        options
            .max_connections(1)
            .map_sqlx_sqlite_opts(|o: SqliteConnectOptions| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5))
                    .pragma("secure_delete", "on")
            });
    } else {
        // No ping on every checkout (it doubled the round trips of a request); a connection idle for 30 s is pinged
        // first, and one that broke while in use fails its statement with 503 UNAVAILABLE and is replaced.
        // Work a request gave up on (the request timeout cut it off) must not go on in the server: no statement
        // outlives the request timeout, and a transaction left idle that long is ended by PostgreSQL.
        let limit = request_timeout.as_millis().max(1).to_string();
        options
            .max_connections(pool_size)
            .min_connections(1)
            .test_before_acquire_if_idle_for(Duration::from_secs(30))
            .map_sqlx_postgres_opts(move |o| {
                o.options([
                    ("statement_timeout", limit.as_str()),
                    ("idle_in_transaction_session_timeout", limit.as_str()),
                ])
            });
    }
    open(options, "cannot connect to the", name, url, statements).await
}

/// Connects; on SQLite, a new file that other instances are opening at the same moment can answer "database is locked"
/// while one of them switches it to WAL (a pragma that does not wait for the busy timeout), so that is tried again
/// for up to 5 s.
async fn connect_retrying(options: ConnectOptions) -> Result<DatabaseConnection, DbErr> {
    let mut tries = 0;
    loop {
        match Database::connect(options.clone()).await {
            Err(e) if tries < 50 && e.to_string().contains("database is locked") => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            result => return result,
        }
    }
}

/// Opens a pool (see [`connect_retrying`]) that counts its statements; an error names the database, never a password.
async fn open(
    options: ConnectOptions,
    failure: &str,
    name: &str,
    url: &str,
    statements: &Arc<AtomicU64>,
) -> anyhow::Result<DatabaseConnection> {
    let mut conn = connect_retrying(options).await.map_err(|e| {
        anyhow::anyhow!(
            "{failure} {name} database at {}: {}",
            redact_url(url),
            crate::config::redact_in(&e.to_string(), url)
        )
    })?;
    count_statements(&mut conn, name, statements);
    Ok(conn)
}

/// Counts every statement, traces it (verb and time only) and logs slow ones.
fn count_statements(conn: &mut DatabaseConnection, name: &str, statements: &Arc<AtomicU64>) {
    let counter = statements.clone();
    let database: Arc<str> = Arc::from(name);
    conn.set_metric_callback(move |info| {
        counter.fetch_add(1, Ordering::Relaxed);
        // For trace export: one span per statement, under the request's (or job's) span, recorded as the statement
        // completes (its length in `elapsed_ms`). Only the SQL verb: never the text, never a parameter.
        let span = tracing::debug_span!(
            target: "steward::statement",
            "statement",
            database = &*database,
            db.operation = verb(&info.statement.sql),
            elapsed_ms = info.elapsed.as_secs_f64() * 1000.0,
            failed = info.failed,
        );
        drop(span);
        if info.elapsed > SLOW_STATEMENT {
            // The SQL text only: parameter values may be personal data.
            // Its own target, which trace export leaves out (`telemetry`): the SQL text stays in the local log.
            tracing::warn!(target: "steward::sql", elapsed_ms = info.elapsed.as_millis() as u64, sql = %info.statement.sql, "slow statement");
        }
    });
}

/// The statement's verb (`SELECT`, `INSERT`, …), for trace spans.
fn verb(sql: &str) -> &'static str {
    let first = sql.split_whitespace().next().unwrap_or("");
    const VERBS: [&str; 10] = [
        "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK", "PRAGMA",
        "CREATE",
    ];
    VERBS
        .into_iter()
        .find(|v| first.eq_ignore_ascii_case(v))
        .unwrap_or("OTHER")
}
