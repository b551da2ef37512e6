//! Database connections: one control database, and per region a database and a subject-key database, each migrated
//! at start.
//!
//! The region maps are private to this module and [`tenancy`](crate::tenancy): nothing else can pick a region's
//! connection, so tenant data is reached only through a `Scope`, which routes to the tenant's own region.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
};
use sea_orm_migration::MigratorTrait;
use steward_migration::{ControlMigrator, KeysMigrator, RegionMigrator};

use crate::config::Config;

mod checkpoint;
mod key_databases;
mod pools;
use crate::crypto::{Keyring, TenantKeys};
use crate::ids::TenantId;
pub(crate) use checkpoint::{checkpoint, checkpoint_later, checkpoint_now};
use pools::{connect_one, connect_readers, sqlite_readers};

const SLOW_STATEMENT: Duration = Duration::from_millis(500);

/// All of Steward's databases.
#[derive(Clone)]
pub struct Databases {
    control: DatabaseConnection,
    regions: BTreeMap<String, DatabaseConnection>,
    /// Each region's subject-key database (see [`steward_entities::subject_key`]).
    keys: BTreeMap<String, DatabaseConnection>,
    /// Where reads outside a transaction go, per region and per subject-key database: on SQLite a pool of read-only
    /// connections beside the one writer (WAL: a reader sees every committed write and never waits for a writer); on
    /// PostgreSQL the same pool as writes.
    region_readers: BTreeMap<String, DatabaseConnection>,
    keys_readers: BTreeMap<String, DatabaseConnection>,
    /// Each database's URL, for the connection that holds the migration lock.
    control_url: crate::config::Secret,
    region_urls: BTreeMap<String, crate::config::Secret>,
    keys_urls: BTreeMap<String, crate::config::Secret>,
    statements: Arc<AtomicU64>,
}

/// Makes a file or folder readable by its owner only (Unix). The embedded databases hold users' emails and the
/// audit chains: other accounts on the machine have no business reading them. Best effort: a file system without
/// Unix permissions keeps what it has.
fn private(path: &std::path::Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if path.exists()
            && let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot make private");
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}

/// Held while one database is migrated: on PostgreSQL a session advisory lock on a connection of its own (released
/// when that connection closes, so a process that dies mid-migration frees it); on SQLite an exclusive lock on a file
/// beside the database (`<file>.migrate-lock`, released when the process lets go of it or dies).
pub struct MigrationLock {
    _held: Held,
}

enum Held {
    Postgres(DatabaseConnection),
    File(std::fs::File),
    Nothing,
}

/// The advisory lock's key: one value for Steward's migrations, per database (locks are per database).
const MIGRATION_LOCK_KEY: i64 = 0x5374_6577_6172_6401;

impl MigrationLock {
    pub async fn take(url: &crate::config::Secret, name: &str) -> anyhow::Result<MigrationLock> {
        let url = url.expose();
        if url.starts_with("postgres") {
            let options = ConnectOptions::new(url.to_owned())
                .max_connections(1)
                .min_connections(1)
                .sqlx_logging(false)
                .to_owned();
            let conn = Database::connect(options).await.map_err(|e| {
                anyhow::anyhow!("cannot connect to the {name} database to lock its migrations: {e}")
            })?;
            let waited = std::time::Instant::now();
            conn.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
                .await
                .map_err(|e| anyhow::anyhow!("locking the migrations of {name}: {e}"))?;
            log_wait(name, waited);
            return Ok(MigrationLock {
                _held: Held::Postgres(conn),
            });
        }
        let Some(file) = sqlite_file(url) else {
            return Ok(MigrationLock {
                _held: Held::Nothing,
            });
        };
        let mut path = file.into_os_string();
        path.push(".migrate-lock");
        let name = name.to_owned();
        let held = tokio::task::spawn_blocking(move || -> anyhow::Result<std::fs::File> {
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
            private(std::path::Path::new(&path), 0o600);
            let waited = std::time::Instant::now();
            lock.lock()
                .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", path.display()))?;
            log_wait(&name, waited);
            Ok(lock)
        })
        .await??;
        Ok(MigrationLock {
            _held: Held::File(held),
        })
    }

    /// Lets go now (dropping the lock lets go too, a PostgreSQL one once its connection closes).
    pub async fn release(self) {
        match self._held {
            Held::Postgres(conn) => {
                let _ = conn
                    .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
                    .await;
                let _ = conn.close().await;
            }
            Held::File(file) => {
                let _ = file.unlock();
            }
            Held::Nothing => {}
        }
    }
}

/// Held by a serving process for every SQLite database it opens: an exclusive lock on a file beside each
/// (`<file>.serve-lock`), taken without waiting and released when the process exits or dies. An SQLite database belongs
/// to one process: a second one serving it would keep its own role assignments and tenant directory in memory, so a
/// role revoked through one would still be honoured by the other (several instances need PostgreSQL, whose
/// notifications keep them in step).
pub struct ServingLock {
    _files: Vec<std::fs::File>,
}

impl ServingLock {
    pub fn take(config: &crate::config::Config) -> anyhow::Result<ServingLock> {
        let urls = std::iter::once(&config.control_url)
            .chain(config.regions.iter().flat_map(|r| [&r.url, &r.keys_url]));
        let mut files = Vec::new();
        // Each file once, by its real path: two databases configured on one file are one lock (a second lock of
        // the same file from this process would fail), and two spellings of one file are one lock too.
        let mut seen = std::collections::BTreeSet::new();
        for url in urls {
            let Some(file) = sqlite_file(url.expose()) else {
                continue;
            };
            let folder = file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            std::fs::create_dir_all(folder)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", folder.display()))?;
            let real = match std::fs::canonicalize(&file) {
                Ok(real) => real,
                // Not created yet: its folder's real path and its name.
                Err(_) => std::fs::canonicalize(folder)
                    .map_err(|e| anyhow::anyhow!("cannot resolve {}: {e}", folder.display()))?
                    .join(file.file_name().unwrap_or_default()),
            };
            if !seen.insert(real.clone()) {
                continue;
            }
            let mut path = real.into_os_string();
            path.push(".serve-lock");
            let path = std::path::PathBuf::from(path);
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
            private(&path, 0o600);
            match lock.try_lock() {
                Ok(()) => files.push(lock),
                Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
                    "another Steward process is serving {}: an SQLite database belongs to one process (stop the \
                     other one, give this one its own --data-dir, or run several instances on PostgreSQL)",
                    file.display()
                ),
                Err(std::fs::TryLockError::Error(e)) => {
                    anyhow::bail!("cannot lock {}: {e}", path.display())
                }
            }
        }
        Ok(ServingLock { _files: files })
    }
}

fn log_wait(name: &str, since: std::time::Instant) {
    let waited = since.elapsed();
    if waited > Duration::from_millis(100) {
        tracing::info!(
            database = name,
            waited_ms = waited.as_millis() as u64,
            "waited for another instance's migrations"
        );
    }
}

/// The file of an SQLite URL (`sqlite://path?…`), or `None` for another database or an in-memory one.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| std::path::PathBuf::from(path))
}

impl Databases {
    /// Connects to every configured database (creating SQLite files as needed).
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        if config.uses_sqlite() {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                anyhow::anyhow!("cannot create data dir {}: {e}", config.data_dir.display())
            })?;
            private(&config.data_dir, 0o700);
        }
        let statements = Arc::new(AtomicU64::new(0));
        let acquire = config.limits.db_acquire_timeout;
        let control = connect_one(
            "control",
            config.control_url.expose(),
            config.db_pool_size,
            acquire,
            config.limits.request_timeout,
            &statements,
        )
        .await?;
        let mut regions = BTreeMap::new();
        let mut keys = BTreeMap::new();
        let mut region_readers = BTreeMap::new();
        let mut keys_readers = BTreeMap::new();
        for region in &config.regions {
            for (name, url, into, readers) in [
                (
                    format!("region {}", region.name),
                    &region.url,
                    &mut regions,
                    &mut region_readers,
                ),
                (
                    format!("subject keys of region {}", region.name),
                    &region.keys_url,
                    &mut keys,
                    &mut keys_readers,
                ),
            ] {
                let conn = connect_one(
                    &name,
                    url.expose(),
                    config.db_pool_size,
                    acquire,
                    config.limits.request_timeout,
                    &statements,
                )
                .await?;
                // After the writer: it made the file and put it in WAL mode.
                let reader = match sqlite_file(url.expose()) {
                    Some(_) => {
                        connect_readers(
                            &name,
                            url.expose(),
                            sqlite_readers(config),
                            acquire,
                            &statements,
                        )
                        .await?
                    }
                    None => conn.clone(),
                };
                into.insert(region.name.clone(), conn);
                readers.insert(region.name.clone(), reader);
            }
        }
        // The files exist now (and SQLite gives its WAL and shared-memory files the database file's mode).
        let urls = std::iter::once(&config.control_url)
            .chain(config.regions.iter().flat_map(|r| [&r.url, &r.keys_url]));
        for file in urls.filter_map(|url| sqlite_file(url.expose())) {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = file.clone().into_os_string();
                name.push(suffix);
                private(std::path::Path::new(&name), 0o600);
            }
        }
        Ok(Databases {
            control,
            regions,
            keys,
            region_readers,
            keys_readers,
            control_url: config.control_url.clone(),
            region_urls: config
                .regions
                .iter()
                .map(|r| (r.name.clone(), r.url.clone()))
                .collect(),
            keys_urls: config
                .regions
                .iter()
                .map(|r| (r.name.clone(), r.keys_url.clone()))
                .collect(),
            statements,
        })
    }

    /// Applies pending migrations to the control database (first: the keys the regions' migrations may need are
    /// read from it, see [`crate::keys::migrate`]).
    ///
    /// Several instances starting at once (a rolling deploy, a scaled-out set) migrate one at a time: each database is
    /// migrated under a lock ([`MigrationLock`]), and an instance that waited finds the work done.
    /// The control database's migration lock, for other one-time set-up that must not race between instances (the
    /// key root's first storing).
    pub async fn lock_control(&self) -> anyhow::Result<MigrationLock> {
        MigrationLock::take(&self.control_url, "control").await
    }

    pub async fn migrate_control(&self) -> anyhow::Result<()> {
        let lock = MigrationLock::take(&self.control_url, "control").await?;
        ControlMigrator::up(&self.control, None)
            .await
            .map_err(|e| anyhow::anyhow!("migrating the control database: {e}"))?;
        lock.release().await;
        Ok(())
    }

    /// Applies pending migrations to every region database, each under its lock. `keys` lets a migration seal values
    /// stored in clear by an older version, with each tenant's keys as the control database stores them (without
    /// `keys` such a migration fails, changing nothing).
    pub async fn migrate_regions(&self, keys: Option<&Keyring>) -> anyhow::Result<()> {
        for (name, conn) in &self.keys {
            let lock = MigrationLock::take(&self.keys_urls[name], &format!("keys:{name}")).await?;
            KeysMigrator::up(conn, None).await.map_err(|e| {
                anyhow::anyhow!("migrating region {name}'s subject-key database: {e}")
            })?;
            lock.release().await;
        }
        let mut stored: Option<Arc<StoredTenantKeys>> = None;
        for (name, conn) in &self.regions {
            // Under the lock: reading the pending migrations creates the migrations table, which must not race.
            let lock = MigrationLock::take(&self.region_urls[name], name).await?;
            let pending = RegionMigrator::get_pending_migrations(conn)
                .await
                .map_err(|e| anyhow::anyhow!("reading region {name}'s migrations: {e}"))?;
            if pending.is_empty() {
                lock.release().await;
                // A conversion by an earlier start committed, then its checkpoint failed (the start with it): the
                // WAL that may still hold the values in clear is emptied now, in the background if a reader holds it.
                checkpoint::checkpoint(conn).await;
                continue;
            }
            let tenant_keys = match (&stored, keys) {
                (Some(known), _) => known.clone(),
                (None, Some(_)) => {
                    let loaded = Arc::new(stored_tenant_keys(&self.control).await?);
                    stored = Some(loaded.clone());
                    loaded
                }
                (None, None) => Arc::default(),
            };
            let sealer = Arc::new(MigrationSealer {
                keys: keys.cloned(),
                tenant_keys,
                converted: AtomicU64::new(0),
            });
            steward_migration::with_sealer(sealer.clone(), RegionMigrator::up(conn, None))
                .await
                .map_err(|e| anyhow::anyhow!("migrating region {name}: {e}"))?;
            lock.release().await;
            let converted = sealer.converted.load(Ordering::Relaxed);
            if converted == 0 {
                checkpoint::checkpoint(conn).await;
                continue;
            }
            if conn.get_database_backend() == DbBackend::Sqlite {
                // The overwritten clear values were zeroed in the file (secure_delete); the WAL still holds them.
                checkpoint::checkpoint_now(conn)
                    .await
                    .map_err(|e| anyhow::anyhow!("checkpointing region {name}: {e}"))?;
                tracing::info!(region = %name, converted, "sealed values stored in clear by an older version");
            } else {
                tracing::warn!(
                    region = %name,
                    converted,
                    "sealed values stored in clear by an older version; their old row versions stay in the table \
                     files until `VACUUM FULL data_subjects, personal_data, dsr_requests` is run, and in WAL archives \
                     and backups taken before"
                );
            }
        }
        Ok(())
    }

    /// Closes every pool: their connections end now rather than whenever the last handle is dropped.
    pub async fn close(&self) {
        // Readers first: on SQLite the last connection to close folds the WAL into the database file, and a read-only
        // connection cannot, so the writer must be last (a file copied after a stop is then the whole database).
        for conn in self
            .region_readers
            .values()
            .chain(self.keys_readers.values())
            .chain(std::iter::once(&self.control))
            .chain(self.regions.values())
            .chain(self.keys.values())
        {
            if let Err(e) = conn.close_by_ref().await {
                tracing::warn!(error = %e, "closing a database pool");
            }
        }
    }

    /// Statements run on all databases since start (outside transactions): how tests prove a page costs a bounded
    /// number of queries.
    pub fn statements_executed(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    pub fn control(&self) -> &DatabaseConnection {
        &self.control
    }

    pub fn has_region(&self, name: &str) -> bool {
        self.regions.contains_key(name)
    }

    pub fn region_names(&self) -> impl Iterator<Item = &str> {
        self.regions.keys().map(String::as_str)
    }

    /// Only the tenancy module routes to a region.
    pub(crate) fn region(&self, name: &str) -> Option<&DatabaseConnection> {
        self.regions.get(name)
    }

    /// A region's subject-key database; only the tenancy module routes to it.
    pub(crate) fn region_keys(&self, name: &str) -> Option<&DatabaseConnection> {
        self.keys.get(name)
    }

    /// Where a region's reads outside a transaction go (see [`Databases::region_readers`]).
    pub(crate) fn region_reader(&self, name: &str) -> Option<&DatabaseConnection> {
        self.region_readers.get(name)
    }

    /// Where reads of a region's subject keys go.
    pub(crate) fn region_keys_reader(&self, name: &str) -> Option<&DatabaseConnection> {
        self.keys_readers.get(name)
    }

    /// A stored subject key of a tenant whose keys are derived from the key root — `(tenant, subject, wrapped key)` —
    /// to check a key root against the data before storing it ([`crate::keys::open_root`]).
    pub(crate) async fn sample_derived_subject_key(
        &self,
    ) -> anyhow::Result<Option<(uuid::Uuid, uuid::Uuid, Vec<u8>)>> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
        use steward_entities::{data_subject, subject_key, tenant};
        let tenants = tenant::Entity::find()
            .select_only()
            .column(tenant::Column::Id)
            .column(tenant::Column::Region)
            .filter(tenant::Column::KeysVersion.is_null())
            .limit(50)
            .into_tuple::<(uuid::Uuid, String)>()
            .all(&self.control)
            .await?;
        for (tenant, region) in tenants {
            let Some(db) = self.regions.get(&region) else {
                continue;
            };
            // An older version's region database holds the keys until they are moved; after, the key database.
            let found = data_subject::Entity::find()
                .select_only()
                .column(data_subject::Column::Id)
                .column(data_subject::Column::WrappedKey)
                .filter(data_subject::Column::TenantId.eq(tenant))
                .filter(data_subject::Column::WrappedKey.ne(Vec::<u8>::new()))
                .limit(1)
                .into_tuple::<(uuid::Uuid, Vec<u8>)>()
                .one(db)
                .await?;
            if let Some((subject, wrapped)) = found {
                return Ok(Some((tenant, subject, wrapped)));
            }
            let Some(keys) = self.keys.get(&region) else {
                continue;
            };
            // Before its first migration a key database has no table yet: nothing to sample there.
            let moved = subject_key::Entity::find()
                .select_only()
                .column(subject_key::Column::SubjectId)
                .column(subject_key::Column::WrappedKey)
                .filter(subject_key::Column::TenantId.eq(tenant))
                .limit(1)
                .into_tuple::<(uuid::Uuid, Vec<u8>)>()
                .one(keys)
                .await
                .ok()
                .flatten();
            if let Some((subject, wrapped)) = moved {
                return Ok(Some((tenant, subject, wrapped)));
            }
        }
        Ok(None)
    }

    pub(crate) fn regions(&self) -> impl Iterator<Item = (&str, &DatabaseConnection)> {
        self.regions
            .iter()
            .map(|(name, conn)| (name.as_str(), conn))
    }

    /// Per database: reachable and fully migrated?
    pub async fn readiness(&self) -> Vec<(String, Readiness)> {
        let mut out = vec![(
            "control".to_owned(),
            readiness::<ControlMigrator>(&self.control).await,
        )];
        for (name, conn) in &self.regions {
            out.push((
                format!("region:{name}"),
                readiness::<RegionMigrator>(conn).await,
            ));
            let keys = &self.keys[name];
            let mut state = readiness::<KeysMigrator>(keys).await;
            // Every value read goes through this table: a server that cannot read it serves no value.
            if state == Readiness::Ready
                && keys
                    .execute_unprepared("SELECT 1 FROM subject_keys LIMIT 1")
                    .await
                    .is_err()
            {
                state = Readiness::Unusable;
            }
            out.push((format!("keys:{name}"), state));
        }
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    Unreachable,
    MigrationsPending,
    /// Reachable and migrated, but a table every request needs cannot be read.
    Unusable,
}

impl Readiness {
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::Unreachable => "unreachable",
            Readiness::MigrationsPending => "migrations pending",
            Readiness::Unusable => "unusable",
        }
    }
}

async fn readiness<M: MigratorTrait>(conn: &DatabaseConnection) -> Readiness {
    let probe = async {
        conn.ping().await?;
        M::get_pending_migrations_read_only(conn).await
    };
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Ok(pending)) if pending.is_empty() => Readiness::Ready,
        Ok(Ok(_)) => Readiness::MigrationsPending,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness probe failed");
            Readiness::Unreachable
        }
        Err(_) => Readiness::Unreachable,
    }
}

/// Serialises appends to one chain (or any other per-key critical section) inside a transaction. PostgreSQL takes a
/// transaction-scoped advisory lock; SQLite needs nothing, its one writer connection already serialises writers.
pub async fn lock_for_transaction<C: ConnectionTrait>(conn: &C, key: i64) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [key.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Tenants' keys as the control database stores them: master key version and sealed bytes, by tenant.
type StoredTenantKeys = HashMap<uuid::Uuid, (i32, Vec<u8>)>;

/// Every tenant's keys as stored (`None` rows left out: derived), for [`MigrationSealer`].
async fn stored_tenant_keys(control: &DatabaseConnection) -> anyhow::Result<StoredTenantKeys> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
    use steward_entities::tenant;
    let rows = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .column(tenant::Column::KeysVersion)
        .column(tenant::Column::KeysSealed)
        .filter(tenant::Column::KeysVersion.is_not_null())
        .into_tuple::<(uuid::Uuid, Option<i32>, Option<Vec<u8>>)>()
        .all(control)
        .await
        .map_err(|e| anyhow::anyhow!("reading the tenants' keys: {e}"))?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, version, sealed)| Some((id, (version?, sealed?))))
        .collect())
}

/// The server's keys, lent to the migrations that seal values an older version stored in clear.
struct MigrationSealer {
    keys: Option<Keyring>,
    /// The tenants whose keys are stored (the others' are derived from the key root).
    tenant_keys: Arc<StoredTenantKeys>,
    converted: AtomicU64,
}

impl MigrationSealer {
    fn keys_of(&self, keys: &Keyring, tenant: uuid::Uuid) -> Result<Arc<TenantKeys>, String> {
        keys.tenant_keys(
            TenantId(tenant),
            self.tenant_keys
                .get(&tenant)
                .map(|(version, sealed)| (*version, sealed.as_slice())),
        )
        .map_err(|e| e.to_string())
    }
}

impl steward_migration::Sealer for MigrationSealer {
    fn seal(
        &self,
        tenant: uuid::Uuid,
        subject: uuid::Uuid,
        wrapped_key: &[u8],
        context: &str,
        value: &str,
    ) -> Result<Vec<u8>, String> {
        let keys = self.keys.as_ref().ok_or(
            "no master key: give STEWARD_MASTER_KEY (or STEWARD_MASTER_KEYS) to the migration (values stored in clear \
             are sealed with it)",
        )?;
        let key = self
            .keys_of(keys, tenant)?
            .tenant_key()
            .unwrap(subject, wrapped_key)
            .map_err(|e| e.to_string())?;
        key.seal(context, value).map_err(|e| e.to_string())
    }

    fn external_id_index(&self, tenant: uuid::Uuid, external_id: &str) -> String {
        // Without keys `seal` fails first, before any index is used.
        self.keys
            .as_ref()
            .and_then(|keys| self.keys_of(keys, tenant).ok())
            .map(|keys| keys.external_id_index(external_id))
            .unwrap_or_default()
    }

    fn converted(&self) {
        self.converted.fetch_add(1, Ordering::Relaxed);
    }
}
