//! Tenancy: the tenants directory, and the [`Scope`] through which every tenant-owned table is reached.
//!
//! A `Scope` is built only by [`Tenancy::scope`], after the caller was allowed into that tenant; it carries the
//! connection of the tenant's region database and adds the tenant filter to every query it starts. No other code can
//! pick a region's connection ([`Databases::region`] is private to the crate and used only here), so a query on a
//! tenant's data that forgets its tenant cannot be written.
//!
//! Visibility follows one rule: a client names only its own tenant, and any other tenant's id is `NOT_FOUND` (never
//! `FORBIDDEN`, which would confirm the tenant exists). Staff are checked for the permission first, and only then is
//! the tenant looked up, so a refusal says nothing about existence either.

pub mod assignments;
mod subject_keys;
mod work;

pub use subject_keys::{KeyCache, SubjectKeys};
pub use work::{Unaudited, Work};

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Select, TransactionTrait,
};
use steward_entities::{ControlTenantOwned, TenantOwned, tenant};
use steward_policy::{ActorKind, Authorizer, Domain, Permission};

use crate::auth::Principal;
use crate::crypto::{Keyring, TenantKey, TenantKeys};
use crate::db::{Databases, Readiness};
use crate::error::AppError;
use crate::ids::TenantId;

pub use steward_entities::tenant::TenantStatus;

/// A tenant as the directory knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: String,
    pub region: String,
    pub status: TenantStatus,
    pub status_reason: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Where the controller is established (ISO 3166-1 alpha-2), its subdivision with its own holidays, and the
    /// time zone its days are counted in.
    pub country: String,
    pub subdivision: Option<String>,
    pub time_zone: String,
    /// The tenant's keys as stored: sealed under a master key version; `None` while derived from the key root.
    pub keys: Option<StoredKeys>,
}

/// A tenant's keys as the directory stores them: the master key version they are sealed under, and the sealed bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKeys {
    pub version: i32,
    pub sealed: Arc<[u8]>,
}

impl fmt::Debug for StoredKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoredKeys(version {}, <sealed>)", self.version)
    }
}

impl TenantRecord {
    /// The tenant's keys, opened (or derived, for a tenant whose keys are not stored) with the keyring.
    fn open_keys(&self, keyring: &Keyring) -> Result<Arc<TenantKeys>, AppError> {
        keyring
            .tenant_keys(
                self.id,
                self.keys.as_ref().map(|k| (k.version, k.sealed.as_ref())),
            )
            .map_err(|e| AppError::internal(anyhow::anyhow!("the keys of tenant {}: {e}", self.id)))
    }

    /// The tenant's clock: its public holidays and the time zone its deadlines' days are counted in.
    pub fn clock(&self) -> Result<crate::deadlines::Clock, AppError> {
        crate::deadlines::Clock::new(&self.country, self.subdivision.as_deref(), &self.time_zone)
    }
}

impl TryFrom<tenant::Model> for TenantRecord {
    type Error = AppError;
    fn try_from(m: tenant::Model) -> Result<Self, AppError> {
        Ok(TenantRecord {
            id: TenantId(m.id),
            name: m.name,
            region: m.region,
            status: m.status,
            status_reason: m.status_reason,
            created_at: m.created_at,
            updated_at: m.updated_at,
            country: m.country,
            subdivision: m.subdivision,
            time_zone: m.time_zone,
            keys: m
                .keys_version
                .zip(m.keys_sealed)
                .map(|(version, sealed)| StoredKeys {
                    version,
                    sealed: sealed.into(),
                }),
        })
    }
}

/// The PostgreSQL channel on which every change to role assignments or the tenant directory announces the new
/// version of the assignments (`crate::tenancy::assignments::bump_version`).
pub const AUTHZ_CHANNEL: &str = "steward_authz";

/// A committed change to one role assignment, for [`Tenancy::apply_role_change`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum AssignmentChange<'a> {
    Assign(&'a steward_policy::Assignment),
    Revoke(&'a steward_policy::Assignment),
}

/// What this instance has heard on [`AUTHZ_CHANNEL`].
#[derive(Debug, Default)]
struct VersionWatch {
    /// A listener is connected, and `announced` covers every change committed since it began listening.
    live: std::sync::atomic::AtomicBool,
    /// The highest version known committed: read right after `LISTEN`, raised by each notification.
    announced: std::sync::atomic::AtomicI64,
}

/// Routes callers to tenants. Cheap to clone.
#[derive(Clone)]
pub struct Tenancy {
    dbs: Databases,
    authz: Authorizer,
    keyring: Arc<Keyring>,
    /// The assignments' version the authorizer holds; `-1` until the first check.
    authz_version: Arc<std::sync::atomic::AtomicI64>,
    reload: Arc<tokio::sync::Mutex<()>>,
    /// What the `steward_authz` channel has announced, when this instance listens to it.
    watch: Arc<VersionWatch>,
    /// Full reloads of the assignments so far (also counted in `/metrics`).
    reloads: Arc<std::sync::atomic::AtomicU64>,
    /// Tenants looked up so far. Dropped entry by entry when this instance changes one, and whole when another
    /// instance did (the shared version moved).
    directory: Arc<std::sync::RwLock<std::collections::HashMap<TenantId, TenantRecord>>>,
    /// The client for webhooks and the address policy their URLs are checked against.
    outbound: crate::outbound::Outbound,
    /// Wrapped subject keys read lately (see [`SubjectKeys`]).
    key_cache: Arc<KeyCache>,
    /// This server's metrics.
    metrics: Arc<crate::metrics::Metrics>,
}

impl Tenancy {
    pub fn new(
        dbs: Databases,
        authz: Authorizer,
        keyring: Keyring,
        outbound: crate::outbound::Outbound,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Self {
        Tenancy {
            dbs,
            authz,
            keyring: Arc::new(keyring),
            authz_version: Arc::new(std::sync::atomic::AtomicI64::new(-1)),
            reload: Arc::default(),
            watch: Arc::default(),
            reloads: Arc::default(),
            directory: Arc::new(std::sync::RwLock::new(std::collections::HashMap::new())),
            outbound,
            metrics,
            key_cache: Arc::new(KeyCache::new(subject_keys::CACHED_KEYS)),
        }
    }

    /// This server's metrics.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// Outbound HTTP (webhooks), with its address policy.
    pub fn outbound(&self) -> &crate::outbound::Outbound {
        &self.outbound
    }

    /// The raw databases, for [`crate::http::AppState::databases`] (tests and operators' tooling) alone.
    pub(crate) fn databases(&self) -> &Databases {
        &self.dbs
    }

    /// The regions this server routes to, by name.
    pub fn region_names(&self) -> impl Iterator<Item = &str> {
        self.dbs.region_names()
    }

    pub fn has_region(&self, name: &str) -> bool {
        self.dbs.has_region(name)
    }

    /// Whether each database answers, for `/readyz`.
    pub async fn readiness(&self) -> Vec<(String, Readiness)> {
        self.dbs.readiness().await
    }

    /// The platform capability for Steward's own work: jobs, sweeps, start-up, and reads bound to their caller by
    /// construction (a staff member's own grants). Never handed to a resolver acting for a caller who did not pass
    /// [`Tenancy::require_platform`].
    pub(crate) fn system(&self) -> Platform<'_> {
        Platform { dbs: &self.dbs }
    }

    pub fn authorizer(&self) -> &Authorizer {
        &self.authz
    }

    /// May the caller do `permission` on the platform as a whole (e.g. create tenants)? If so, the capability for it.
    pub async fn require_platform(
        &self,
        principal: &Principal,
        permission: Permission,
    ) -> Result<Platform<'_>, AppError> {
        if principal.kind == ActorKind::Staff
            && self
                .authz
                .is_allowed(&principal.actor(), Domain::Platform, permission)
                .await
        {
            Ok(Platform { dbs: &self.dbs })
        } else {
            Err(forbidden(permission))
        }
    }

    /// Which tenant a request is about: a client's own (from its token), or the one a staff member names.
    pub fn target(
        &self,
        principal: &Principal,
        requested: Option<TenantId>,
    ) -> Result<TenantId, AppError> {
        match (principal.kind, principal.tenant_id, requested) {
            (ActorKind::Client, Some(own), None) => Ok(own),
            (ActorKind::Client, Some(own), Some(asked)) if own == asked => Ok(own),
            (ActorKind::Client, _, Some(asked)) => Err(not_found(asked)),
            (ActorKind::Client, None, None) => Err(AppError::Unauthenticated(
                "client token without a tenant".into(),
            )),
            (ActorKind::Staff, _, Some(asked)) => Ok(asked),
            (ActorKind::Staff, _, None) => Err(AppError::BadInput(
                "staff must name the tenant they act on (`tenantId` / `tenant(id:)`)".into(),
            )),
        }
    }

    /// The door to a tenant's data: checks that the caller may do `permission` in the tenant and returns a scope on
    /// the tenant's region database.
    pub async fn scope(
        &self,
        principal: &Principal,
        requested: Option<TenantId>,
        permission: Permission,
    ) -> Result<Scope, AppError> {
        let tenant_id = self.target(principal, requested)?;
        let actor = principal.actor();
        let domain = Domain::Tenant(tenant_id.0);
        // Staff are checked before the lookup: a refusal must not reveal whether the tenant exists.
        if principal.kind == ActorKind::Staff
            && !self.authz.is_allowed(&actor, domain, permission).await
        {
            return Err(forbidden(permission));
        }
        let tenant = self
            .find(tenant_id)
            .await?
            .ok_or_else(|| not_found(tenant_id))?;
        // Nothing new is collected from a departing tenant, by anyone.
        if matches!(
            tenant.status,
            TenantStatus::Offboarding | TenantStatus::Terminated
        ) && matches!(
            permission,
            Permission::SubjectWrite | Permission::PiiWrite | Permission::TransferManage
        ) {
            return Err(AppError::Refused {
                reason: crate::error::RefusalReason::TenantOffboarding,
                message: format!(
                    "this tenant is {}: no new personal data is collected",
                    tenant.status.as_str()
                ),
            });
        }
        if principal.kind == ActorKind::Client {
            if tenant.status == TenantStatus::Terminated && permission != Permission::TenantRead {
                return Err(AppError::Forbidden(
                    "this tenant's contract has ended and its data is deleted; its offboarding certificate remains readable".into(),
                ));
            }
            if tenant.status == TenantStatus::Suspended {
                return Err(AppError::Forbidden(
                    "this tenant is suspended; contact the processor to reactivate it".into(),
                ));
            }
            if !self.authz.is_allowed(&actor, domain, permission).await {
                return Err(forbidden(permission));
            }
        }
        self.scope_for_new_tenant(principal, tenant)
    }

    /// Brings this instance's role assignments up to date when another instance changed them, before a request
    /// decides anything; a full reload only when the shared version moved.
    ///
    /// How this instance learns the version: while [`Tenancy::listen_for_changes`] is connected, from the
    /// `steward_authz` notifications every change sends as it commits (no statement per request); otherwise — no
    /// listener, or its connection lost — by reading the version, one statement per request.
    ///
    /// Several instances share PostgreSQL only: one SQLite database belongs to one process, which keeps its
    /// authorizer and directory current itself, so the check is skipped there (it would cost a round trip to SQLite's
    /// worker thread on every request).
    pub async fn sync_authorizer(&self) -> Result<(), AppError> {
        use std::sync::atomic::Ordering;
        if self.dbs.control().get_database_backend() == sea_orm::DbBackend::Sqlite {
            return Ok(());
        }
        if self.watch.live.load(Ordering::Acquire)
            && self.watch.announced.load(Ordering::Acquire)
                <= self.authz_version.load(Ordering::Acquire)
        {
            return Ok(());
        }
        let current = assignments::assignments_version(self.dbs.control()).await?;
        if current == self.authz_version.load(Ordering::Acquire) {
            return Ok(());
        }
        // One reload at a time, each from assignments read after its version: a slow reload of an older snapshot can
        // never replace a newer one (which once refused a just-invited user while role changes came fast).
        let _reloading = self.reload.lock().await;
        let current = assignments::assignments_version(self.dbs.control()).await?;
        if current == self.authz_version.load(Ordering::Acquire) {
            return Ok(());
        }
        let assignments = assignments::load_assignments(self.dbs.control()).await?;
        self.authz.reload(assignments).await?;
        if let Ok(mut directory) = self.directory.write() {
            directory.clear();
        }
        self.authz_version.store(current, Ordering::Release);
        self.reloads.fetch_add(1, Ordering::Relaxed);
        self.metrics.role_assignments_reloaded();
        tracing::debug!(version = current, "role assignments reloaded");
        Ok(())
    }

    /// Applies a role change this instance has just committed as version `version` to its own authorizer. When this
    /// instance held exactly the version before it, it now holds `version` without reloading every assignment (so
    /// onboarding thousands of tenants through one instance costs no reload per invitation); otherwise some other
    /// change is missing here and the next request reloads as usual. Under the reload lock: a reload running
    /// meanwhile either finished first (and the change is applied on top of it) or starts after (and reads it).
    pub(crate) async fn apply_role_change(
        &self,
        version: i64,
        change: AssignmentChange<'_>,
    ) -> Result<(), AppError> {
        use std::sync::atomic::Ordering;
        let _reloading = self.reload.lock().await;
        match change {
            AssignmentChange::Assign(assignment) => self.authz.assign(assignment).await?,
            AssignmentChange::Revoke(assignment) => self.authz.revoke(assignment).await?,
        };
        let _ = self.authz_version.compare_exchange(
            version - 1,
            version,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        Ok(())
    }

    /// Listens on PostgreSQL's `steward_authz` channel for as long as the server runs, so requests need not read the
    /// assignments' version (see [`Tenancy::sync_authorizer`]). Returns at once on SQLite. Each connection starts with
    /// `LISTEN`, then reads the version (so no change can fall between the two), and only then is trusted; when it
    /// breaks, requests read the version again until a new connection is listening.
    pub async fn listen_for_changes(&self) {
        use std::sync::atomic::Ordering;
        if self.dbs.control().get_database_backend() != sea_orm::DbBackend::Postgres {
            return;
        }
        let pool = self.dbs.control().get_postgres_connection_pool().clone();
        loop {
            let ended = self.listen_once(&pool).await;
            self.watch.live.store(false, Ordering::Release);
            match ended {
                Ok(()) => tracing::warn!(
                    "role-change listener lost its connection; reading the version per request"
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "role-change listener failed; reading the version per request")
                }
            }
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }

    async fn listen_once(&self, pool: &sea_orm::sqlx::PgPool) -> anyhow::Result<()> {
        use std::sync::atomic::Ordering;
        let mut listener = sea_orm::sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(AUTHZ_CHANNEL).await?;
        let current = assignments::assignments_version(self.dbs.control())
            .await
            .map_err(|e| anyhow::anyhow!("reading the assignments' version: {e:?}"))?;
        self.watch.announced.fetch_max(current, Ordering::AcqRel);
        self.watch.live.store(true, Ordering::Release);
        tracing::debug!(version = current, "listening for role changes");
        // `try_recv`, not `recv`: `recv` reconnects on its own and would hide the notifications lost meanwhile.
        while let Some(notification) = listener.try_recv().await? {
            let version: i64 = notification.payload().parse().map_err(|_| {
                anyhow::anyhow!(
                    "unexpected payload on {AUTHZ_CHANNEL}: {:?}",
                    notification.payload()
                )
            })?;
            self.watch.announced.fetch_max(version, Ordering::AcqRel);
        }
        Ok(())
    }

    /// How many times this instance reloaded every role assignment.
    pub fn role_reloads(&self) -> u64 {
        self.reloads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether requests currently rely on notifications rather than reading the version (for tests and `/readyz`).
    pub fn listening_for_changes(&self) -> bool {
        self.watch.live.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The keys derived from the master key.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// A scope for Steward's own jobs (erasure, reminders), acting as `system`. Never reachable from a request.
    pub(crate) async fn system_scope(&self, tenant_id: TenantId) -> Result<Scope, AppError> {
        let tenant = self
            .find(tenant_id)
            .await?
            .ok_or_else(|| not_found(tenant_id))?;
        self.scope_for_new_tenant(&Principal::system(), tenant)
    }

    /// Looks a tenant up in the directory, with no access check: for callers that already hold a permission.
    pub(crate) async fn find(&self, id: TenantId) -> Result<Option<TenantRecord>, AppError> {
        if let Some(found) = self.directory.read().ok().and_then(|d| d.get(&id).cloned()) {
            return Ok(Some(found));
        }
        let found = tenant::Entity::find_by_id(id.0)
            .one(self.dbs.control())
            .await?
            .map(TenantRecord::try_from)
            .transpose()?;
        if let (Some(record), Ok(mut directory)) = (&found, self.directory.write()) {
            directory.insert(id, record.clone());
        }
        Ok(found)
    }

    /// Forgets what this instance knows of a tenant, after changing it (call once the change committed). Other
    /// instances learn of it through the shared version, which the change bumped.
    pub(crate) fn forget_tenant(&self, id: TenantId) {
        if let Ok(mut directory) = self.directory.write() {
            directory.remove(&id);
        }
    }

    /// A scope on a tenant being created (its directory row is not committed yet), for the creator.
    pub(crate) fn scope_for_new_tenant(
        &self,
        principal: &Principal,
        tenant: TenantRecord,
    ) -> Result<Scope, AppError> {
        let unconfigured = || {
            AppError::internal(anyhow::anyhow!(
                "tenant {} lives in region `{}`, which is not configured",
                tenant.id,
                tenant.region
            ))
        };
        let route = |db: Option<&DatabaseConnection>| db.cloned().ok_or_else(unconfigured);
        let writer = route(self.dbs.region(&tenant.region))?;
        let db = route(self.dbs.region_reader(&tenant.region))?;
        let keys_db = route(self.dbs.region_keys(&tenant.region))?;
        let keys_reader = route(self.dbs.region_keys_reader(&tenant.region))?;
        Ok(Scope {
            keys: tenant.open_keys(&self.keyring)?,
            tenant,
            db,
            writer,
            keys_db,
            keys_reader,
            key_cache: self.key_cache.clone(),
            control: self.dbs.control().clone(),
            principal: principal.clone(),
        })
    }
}

/// Proof that the caller may act on the platform as a whole ([`Tenancy::require_platform`]), or that Steward itself
/// acts ([`Tenancy::system`]): the handle on the control database's platform tables and on reads that span every
/// region. Outside this module there is no other way to a region's database than this and a [`Scope`].
#[derive(Clone, Copy)]
pub struct Platform<'a> {
    dbs: &'a Databases,
}

impl<'a> Platform<'a> {
    /// The control database.
    pub fn control(&self) -> &'a DatabaseConnection {
        self.dbs.control()
    }

    /// Every region's database, by name.
    pub fn regions(&self) -> impl Iterator<Item = (&'a str, &'a DatabaseConnection)> + 'a {
        self.dbs.regions()
    }

    /// For a command that deleted data and exits next (`steward restore`): every SQLite region database and its
    /// subject-key database with its WAL emptied into the file, or an error (no background retry outlives the
    /// process). Nothing to do on PostgreSQL.
    pub(crate) async fn checkpoint_now(&self) -> Result<(), sea_orm::DbErr> {
        for (name, region) in self.dbs.regions() {
            if let Some(keys) = self.dbs.region_keys(name) {
                crate::db::checkpoint_now(keys).await?;
            }
            crate::db::checkpoint_now(region).await?;
        }
        Ok(())
    }
}

/// Proof that the caller was allowed into one tenant, and the only handle on that tenant's tables.
pub struct Scope {
    tenant: TenantRecord,
    /// Reads of the region's database outside a transaction (on SQLite, its pool of read-only connections).
    db: DatabaseConnection,
    /// Writes to the region's database: transactions ([`Scope::begin`]) and the rare statement on its own.
    writer: DatabaseConnection,
    /// The region's subject-key database, and where reads of it go.
    keys_db: DatabaseConnection,
    keys_reader: DatabaseConnection,
    key_cache: Arc<KeyCache>,
    control: DatabaseConnection,
    principal: Principal,
    /// The tenant's keys, opened once for the scope.
    keys: Arc<TenantKeys>,
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("tenant", &self.tenant.id)
            .field("region", &self.tenant.region)
            .field("principal", &self.principal.subject)
            .finish()
    }
}

impl Scope {
    pub fn tenant(&self) -> &TenantRecord {
        &self.tenant
    }

    pub fn tenant_id(&self) -> TenantId {
        self.tenant.id
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// A query on a tenant-owned table, already restricted to this tenant.
    pub fn find<E: TenantOwned>(&self) -> Select<E> {
        E::find().filter(E::tenant_column().eq(self.tenant.id.0))
    }

    /// An update of a tenant-owned table, already restricted to this tenant.
    pub fn update_many<E: TenantOwned>(&self) -> sea_orm::UpdateMany<E> {
        E::update_many().filter(E::tenant_column().eq(self.tenant.id.0))
    }

    /// A delete from a tenant-owned table, already restricted to this tenant.
    pub fn delete_many<E: TenantOwned>(&self) -> sea_orm::DeleteMany<E> {
        E::delete_many().filter(E::tenant_column().eq(self.tenant.id.0))
    }

    /// The tenant's region database, for running the queries [`Scope::find`] starts. Reads only: on SQLite this is a
    /// pool of read-only connections beside the one writer, so a write through it fails. Writes go through
    /// [`Scope::begin`] (or, for a statement on its own, [`Scope::writer`]).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The tenant's region database for a write outside a [`Work`] transaction: one statement that needs no audit
    /// event of its own (a delivery record, a job's progress). Never for a transaction (`layers.rs` checks).
    pub(crate) fn writer(&self) -> &DatabaseConnection {
        &self.writer
    }

    /// After deleting personal data and subject keys, once the transaction committed: on SQLite, empties the WAL of the
    /// subject-key database and of the region database into their files (see [`crate::db::checkpoint`]). The key
    /// database first (an erased key is what leaves every copy of the subject's values unreadable), and each whatever
    /// the other did: one that cannot complete is retried in the background.
    pub async fn checkpoint(&self) {
        crate::db::checkpoint(&self.keys_db).await;
        crate::db::checkpoint(&self.writer).await;
    }

    /// As [`Scope::checkpoint`], after deleting rows of the region database only (values past their retention, an
    /// expired export): the subject-key database lost nothing.
    pub async fn checkpoint_region(&self) {
        crate::db::checkpoint(&self.writer).await;
    }

    /// A query on a tenant's rows in the control database (change notices, objections, breach notifications, legal
    /// disclosures), already restricted to this tenant; run it on [`Scope::control`].
    pub fn find_control<E: ControlTenantOwned>(&self) -> Select<E> {
        E::find().filter(E::tenant_column().eq(self.tenant.id.0))
    }

    /// The control database, for this tenant's own rows there (through [`Scope::find_control`]) and for the
    /// platform's shared tables it reads (the sub-processor registry).
    pub fn control(&self) -> &DatabaseConnection {
        &self.control
    }

    /// This tenant's subject keys, in its region's subject-key database.
    pub fn subject_keys(&self) -> SubjectKeys<'_> {
        SubjectKeys::new(
            self.tenant.id,
            &self.keys_db,
            &self.keys_reader,
            &self.key_cache,
        )
    }

    /// The key that wraps this tenant's subject keys.
    pub fn tenant_key(&self) -> TenantKey {
        self.keys.tenant_key()
    }

    /// The keyed hash of a lookup value within this tenant.
    pub fn blind_index(&self, normalised: &str) -> String {
        self.keys.blind_index(normalised)
    }

    /// The keyed hash that stands for an external id within this tenant.
    pub fn external_id_index(&self, external_id: &str) -> String {
        self.keys.external_id_index(external_id)
    }

    /// A handle that can start [`Work`] for this tenant after the scope is gone.
    pub fn detach(&self) -> Detached {
        Detached {
            tenant: self.tenant.id,
            db: self.writer.clone(),
        }
    }

    /// Starts a change to the tenant's data: a transaction on its region database that commits with the change's
    /// audit event ([`Work`]).
    pub async fn begin(&self) -> Result<Work, AppError> {
        Ok(Work::new(self.tenant.id, self.writer.begin().await?))
    }
}

/// A handle on one tenant's region database that outlives the request's [`Scope`], for what is recorded after the
/// response is complete (the staff access log). It can only start [`Work`] for that tenant.
#[derive(Clone)]
pub struct Detached {
    tenant: TenantId,
    db: DatabaseConnection,
}

impl Detached {
    pub async fn begin(&self) -> Result<Work, AppError> {
        Ok(Work::new(self.tenant, self.db.begin().await?))
    }
}

pub fn not_found(id: TenantId) -> AppError {
    AppError::NotFound(format!("no tenant {id}"))
}

fn forbidden(permission: Permission) -> AppError {
    let (object, action) = permission.object_action();
    AppError::Forbidden(format!(
        "your roles do not allow `{action}` on `{object}` here"
    ))
}
