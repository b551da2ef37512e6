//! [`Work`]: a transaction on one tenant's region database that can end only by saying what happened.
//!
//! Every change to a tenant's data is recorded in the tenant's audit chain in the transaction of the change. A
//! `Work` makes that the shape of the code rather than a habit: it commits through [`Work::commit`], which takes the
//! event and appends it, through [`Work::commit_recorded`] after one or more [`Work::record`] calls, or through
//! [`Work::commit_unaudited`], which names why nothing the client would see changed. Dropped, it rolls back. Rows
//! inserted through [`Work::insert`] get the tenant's id from the scope, whatever the caller set. The audit walk test
//! (`audit_walk`) stays the second line: it checks every mutation of the schema appends an event.

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction,
    DbBackend, DbErr, DeleteMany, EntityTrait, ExecResult, IntoActiveModel, QueryFilter,
    QueryResult, Select, Statement, UpdateMany,
};
use steward_entities::TenantOwned;

use crate::audit::{self, AuditEntry};
use crate::error::AppError;
use crate::ids::TenantId;

/// Why a transaction commits without an event in the tenant's chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unaudited {
    /// The work found nothing left to do (someone else did it, or the request it served was closed meanwhile), and
    /// records only that in the job queue.
    NothingChanged,
    /// The platform's own bookkeeping: job state, an export's progress, a cache of what a sweep found. The event
    /// that the client sees is appended where the work it serves finishes.
    Bookkeeping,
}

/// A transaction on a tenant's region database; see the module documentation.
pub struct Work {
    tenant: TenantId,
    txn: DatabaseTransaction,
    recorded: usize,
}

impl Work {
    pub(super) fn new(tenant: TenantId, txn: DatabaseTransaction) -> Self {
        Work {
            tenant,
            txn,
            recorded: 0,
        }
    }

    /// The tenant this work is for.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// A query on a tenant-owned table, restricted to this tenant (run it on `&work`).
    pub fn find<E: TenantOwned>(&self) -> Select<E> {
        E::find().filter(E::tenant_column().eq(self.tenant.0))
    }

    /// An update of a tenant-owned table, restricted to this tenant.
    pub fn update_many<E: TenantOwned>(&self) -> UpdateMany<E> {
        E::update_many().filter(E::tenant_column().eq(self.tenant.0))
    }

    /// A delete from a tenant-owned table, restricted to this tenant.
    pub fn delete_many<E: TenantOwned>(&self) -> DeleteMany<E> {
        E::delete_many().filter(E::tenant_column().eq(self.tenant.0))
    }

    /// Inserts a row of a tenant-owned table, with this tenant's id.
    pub async fn insert<A>(&self, mut row: A) -> Result<<A::Entity as EntityTrait>::Model, DbErr>
    where
        A: ActiveModelTrait + ActiveModelBehavior + Send,
        A::Entity: TenantOwned,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        row.set(
            <A::Entity as TenantOwned>::tenant_column(),
            self.tenant.0.into(),
        );
        row.insert(&self.txn).await
    }

    /// Appends an event to the tenant's chain now, for work that records several; end with
    /// [`Work::commit_recorded`].
    pub async fn record(&mut self, entry: AuditEntry) -> Result<(), AppError> {
        audit::append_tenant(&self.txn, self.tenant, entry).await?;
        self.recorded += 1;
        Ok(())
    }

    /// Appends the event that says what this work did, and commits both.
    pub async fn commit(mut self, entry: AuditEntry) -> Result<(), AppError> {
        self.record(entry).await?;
        Ok(self.txn.commit().await?)
    }

    /// Appends an event deferred from the control database under the id it was given there, unless a run that died
    /// before deleting its outbox row appended it already; returns whether it was appended now.
    pub(crate) async fn record_deferred(
        &mut self,
        id: uuid::Uuid,
        entry: AuditEntry,
    ) -> Result<bool, AppError> {
        let appended = audit::append_deferred(&self.txn, self.tenant, id, entry).await?;
        if appended {
            self.recorded += 1;
        }
        Ok(appended)
    }

    /// Commits the events [`Work::record`] appended; refuses (and rolls back) when there were none.
    pub async fn commit_recorded(self) -> Result<(), AppError> {
        if self.recorded == 0 {
            return Err(AppError::internal(anyhow::anyhow!(
                "a change to tenant {} was about to commit without its audit event",
                self.tenant
            )));
        }
        Ok(self.txn.commit().await?)
    }

    /// Commits work that changed nothing the tenant's chain records, saying why.
    pub async fn commit_unaudited(self, _why: Unaudited) -> Result<(), AppError> {
        Ok(self.txn.commit().await?)
    }
}

impl std::ops::Deref for Work {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

/// Queries run inside the work's transaction, so `&work` goes wherever a connection does.
#[async_trait::async_trait]
impl ConnectionTrait for Work {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute_raw(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one_raw(stmt).await
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all_raw(stmt).await
    }
}
