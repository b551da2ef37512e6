//! The one erasure cascade: what erasing a subject deletes. An erasure request and a tenant's offboarding both call
//! [`delete_subjects`]; a table that comes to hold a subject's data is added here, once, and
//! `tests/tests/api/requests.rs` (`erasure_leaves_no_residue`) fails until it is.

pub mod graphql;
pub mod journal;
pub mod propagation;
pub mod recipients;

pub(crate) use propagation::{propagate, requeue_erasure};
pub(crate) use recipients::{Extent, recipients, registry_of, transfers_concerning};

use chrono::Utc;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use steward_entities::job::JobState;
use steward_entities::{
    data_subject, dsr_request, guardian_consent, job, personal_data, subject_export, tenant_export,
    tenant_export_chunk,
};

use crate::error::AppError;
use crate::ids::SubjectId;
use crate::tenancy::{Scope, Work};

/// Whether the subject's data key is gone, read from the databases: no key in the subject-key database and no
/// subject row. Certificates state this, never assume it.
pub(crate) async fn key_destroyed(scope: &Scope, subject: SubjectId) -> Result<bool, AppError> {
    if scope.subject_keys().get(subject.0).await?.is_some() {
        return Ok(false);
    }
    let left = scope
        .find::<data_subject::Entity>()
        .filter(data_subject::Column::Id.eq(subject));
    Ok(crate::pagination::count(left, scope.db()).await? == 0)
}

/// What becomes of a departing tenant's export when subjects are erased.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TenantExport {
    /// An erasure on request: the export must not keep the subjects, so it is emptied and built again.
    Rebuild,
    /// The offboarding's own erasure: the export was delivered (or its window closed) and goes with the tenant.
    Keep,
}

/// Deletes the subjects' values, guardian consents, exports, the sealed parts of their requests (rectification
/// payloads, notes and reasons, sealed with the keys about to go), the subject rows, and their keys. Run inside the
/// caller's transaction, with its tombstones and propagations, once every check that could stop the erasure passed.
///
/// The keys are in the subject-key database, outside that transaction: they are deleted last, before the caller
/// commits. Should the commit fail, the subjects are left with values nothing opens, and the erasure's retry (its
/// job, or `steward restore` from the journal) deletes them; the reverse order could leave a key that opens a
/// restored backup's copy of values already erased.
pub(crate) async fn delete_subjects(
    scope: &Scope,
    txn: &Work,
    subjects: &[SubjectId],
    tenant_export: TenantExport,
) -> Result<(), AppError> {
    let ids = || subjects.iter().copied();
    // The subjects' rows first: a value being added holds its subject's row (`add_personal_data`), so it either
    // commits before the values are deleted below, or finds its subject gone; deleting the values first would let
    // it commit one after that deletion, left behind once the subject goes.
    lock_subjects(txn, subjects, Lock::Erase).await?;
    txn.delete_many::<personal_data::Entity>()
        .filter(personal_data::Column::SubjectId.is_in(ids()))
        .exec(txn)
        .await?;
    txn.delete_many::<guardian_consent::Entity>()
        .filter(guardian_consent::Column::SubjectId.is_in(ids()))
        .exec(txn)
        .await?;
    txn.delete_many::<subject_export::Entity>()
        .filter(subject_export::Column::SubjectId.is_in(ids()))
        .exec(txn)
        .await?;
    txn.update_many::<dsr_request::Entity>()
        .col_expr(
            dsr_request::Column::PayloadSealed,
            Option::<Vec<u8>>::None.into(),
        )
        .col_expr(
            dsr_request::Column::NoteSealed,
            Option::<Vec<u8>>::None.into(),
        )
        .col_expr(
            dsr_request::Column::PauseReasonSealed,
            Option::<Vec<u8>>::None.into(),
        )
        .col_expr(
            dsr_request::Column::ExtensionReasonSealed,
            Option::<Vec<u8>>::None.into(),
        )
        .col_expr(
            dsr_request::Column::RejectionReasonSealed,
            Option::<Vec<u8>>::None.into(),
        )
        .filter(dsr_request::Column::SubjectId.is_in(ids()))
        .exec(txn)
        .await?;
    txn.delete_many::<data_subject::Entity>()
        .filter(data_subject::Column::Id.is_in(ids()))
        .exec(txn)
        .await?;
    if tenant_export == TenantExport::Rebuild {
        crate::erasure::invalidate(txn).await?;
    }
    let ids: Vec<uuid::Uuid> = subjects.iter().map(|s| s.0).collect();
    scope.subject_keys().delete(&ids).await?;
    Ok(())
}

/// How a transaction holds the rows of the subjects whose data it changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lock {
    /// Deleting them (`FOR UPDATE`): waits for, and holds off, every other change to their data.
    Erase,
    /// Changing a request about them or their restriction (`FOR NO KEY UPDATE`).
    Change,
}

/// Takes the subjects' rows, in id order, before anything else of theirs is written. Every transaction that erases
/// or deletes a subject's values or moves its requests does this first (an erasure, an erase batch, a retention sweep,
/// a request transition; adding a value takes its subject's row itself), so they queue on the one row instead of each
/// holding a row the other waits for (a deadlock PostgreSQL ends by aborting one of them). A subject already gone is
/// simply not locked. SQLite has one writer.
pub(crate) async fn lock_subjects(
    txn: &Work,
    subjects: &[SubjectId],
    lock: Lock,
) -> Result<(), AppError> {
    if txn.get_database_backend() != sea_orm::DbBackend::Postgres || subjects.is_empty() {
        return Ok(());
    }
    let _: Vec<uuid::Uuid> = txn
        .find::<data_subject::Entity>()
        .select_only()
        .column(data_subject::Column::Id)
        .filter(data_subject::Column::Id.is_in(subjects.iter().copied()))
        .order_by_asc(data_subject::Column::Id)
        .lock(match lock {
            Lock::Erase => sea_orm::sea_query::LockType::Update,
            Lock::Change => sea_orm::sea_query::LockType::NoKeyUpdate,
        })
        .into_tuple()
        .all(txn)
        .await?;
    Ok(())
}

/// Data was erased (a request, a retention sweep) while the tenant's export holds it: the export is emptied and built
/// again from what is left, in the caller's transaction, so no copy outlives the erasure. Downloads already made
/// stay counted (the controller had its copy before it instructed the erasure).
pub(crate) async fn invalidate(txn: &Work) -> Result<(), AppError> {
    let Some(export) = txn.find::<tenant_export::Entity>().one(txn).await? else {
        return Ok(());
    };
    // The export row first: on PostgreSQL this waits for a build storing a chunk (it holds the row), so the chunks
    // deleted next include that one.
    // The count is raised in the statement, not written back as read: two erasures emptying it at once (two instances)
    // count two rebuilds, so a build that read the export between them cannot match either.
    txn.update_many::<tenant_export::Entity>()
        .col_expr(tenant_export::Column::Ready, false.into())
        .col_expr(
            tenant_export::Column::Cursor,
            Option::<uuid::Uuid>::None.into(),
        )
        .col_expr(tenant_export::Column::Chunks, 0.into())
        .col_expr(tenant_export::Column::Subjects, 0.into())
        .col_expr(tenant_export::Column::ValuesExported, 0.into())
        .col_expr(
            tenant_export::Column::Rebuilds,
            sea_orm::sea_query::Expr::col(tenant_export::Column::Rebuilds).add(1),
        )
        .filter(tenant_export::Column::Id.eq(export.id))
        .exec(txn)
        .await?;
    txn.delete_many::<tenant_export_chunk::Entity>()
        .exec(txn)
        .await?;
    // The build job (done, or running and about to find its chunk count changed) runs again.
    job::Entity::update_many()
        .col_expr(job::Column::State, JobState::Queued.into())
        .col_expr(job::Column::RunAt, Utc::now().into())
        .col_expr(job::Column::Attempts, 0.into())
        .col_expr(
            job::Column::FinishedAt,
            Option::<chrono::DateTime<Utc>>::None.into(),
        )
        .col_expr(job::Column::LockedBy, Option::<String>::None.into())
        .col_expr(
            job::Column::LockedUntil,
            Option::<chrono::DateTime<Utc>>::None.into(),
        )
        .filter(job::Column::DedupeKey.eq(crate::jobs::tenant_export_key(txn.tenant_id())))
        .exec(txn)
        .await?;
    Ok(())
}
