//! The erasure journal: restores that keep erasures.
//!
//! A region's database restored from a backup taken before an erasure would bring the erased person back: their row,
//! their wrapped key and their values are all in the backup. So every erasure of subjects (a request, a child's data,
//! a departing tenant) and every retention deletion is first written to the control database ([`record`]), by id
//! only, and then carried out in the region. After restoring a region's backup, `steward restore` ([`replay`]) deletes
//! again whatever the journal names that the restored database still holds, through the same cascade, and appends
//! `erasure.reapplied` to each tenant's audit chain.
//!
//! Written before the region's transaction: if that transaction then fails, the journal names an erasure that did not
//! happen yet, which its job retries anyway; a replay would only do it sooner. Never the reverse.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;
use steward_entities::{data_subject, erasure_journal, personal_data};
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::error::AppError;
use crate::ids::{SubjectId, TenantId};
use crate::tenancy::{Scope, Tenancy};

/// What one journal entry names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Erased {
    /// Whole subjects (their ids).
    Subjects,
    /// Records of personal data (their ids), deleted by retention.
    Values,
}

impl Erased {
    fn as_str(self) -> &'static str {
        match self {
            Erased::Subjects => "subjects",
            Erased::Values => "values",
        }
    }
}

/// Records an erasure about to be carried out in the scope's region; the entry's id, to [`forget`] it if the erasure
/// turns out not to happen (a hold placed meanwhile, a request rejected meanwhile).
pub(crate) async fn record(
    scope: &Scope,
    erased: Erased,
    ids: &[Uuid],
    request: Option<Uuid>,
) -> Result<Option<Uuid>, AppError> {
    if ids.is_empty() {
        return Ok(None);
    }
    let id = Uuid::now_v7();
    erasure_journal::ActiveModel {
        id: Set(id),
        tenant_id: Set(scope.tenant_id().0),
        region: Set(scope.tenant().region.clone()),
        kind: Set(erased.as_str().into()),
        ids: Set(ids
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(",")),
        request_id: Set(request),
        recorded_at: Set(Utc::now()),
    }
    .insert(scope.control())
    .await?;
    Ok(Some(id))
}

/// Takes back an entry whose erasure did not happen after all. Best effort: an entry left behind only makes a replay
/// erase what was asked to be erased.
pub(crate) async fn forget(scope: &Scope, entry: Option<Uuid>) {
    if let Some(entry) = entry
        && let Err(e) = erasure_journal::Entity::delete_by_id(entry)
            .exec(scope.control())
            .await
    {
        tracing::warn!(error = %e, "an erasure journal entry whose erasure did not happen stays");
    }
}

/// How many of the newest journal entries [`held_again`] checks per region.
const CHECKED_AT_START: u64 = 200;

/// Subjects a region still holds though the journal says they were erased, by region: a sign that the region was
/// restored from a backup and `steward restore` has not run. Checks the newest journal entries only (a backup older
/// than some erasures is older than the newest ones), and only those recorded more than ten minutes ago (an erasure
/// in flight is journalled before its transaction).
pub async fn held_again(tenancy: &Tenancy) -> Result<Vec<(String, usize)>, AppError> {
    use sea_orm::{PaginatorTrait, QuerySelect};
    let platform = tenancy.system();
    let before = Utc::now() - chrono::Duration::minutes(10);
    let mut found = Vec::new();
    for (region, db) in platform.regions() {
        let entries: Vec<String> = erasure_journal::Entity::find()
            .select_only()
            .column(erasure_journal::Column::Ids)
            .filter(erasure_journal::Column::Region.eq(region))
            .filter(erasure_journal::Column::Kind.eq(Erased::Subjects.as_str()))
            .filter(erasure_journal::Column::RecordedAt.lt(before))
            .order_by_desc(erasure_journal::Column::Id)
            .limit(CHECKED_AT_START)
            .into_tuple()
            .all(platform.control())
            .await?;
        let ids: Vec<Uuid> = entries
            .iter()
            .flat_map(|ids| ids.split(','))
            .filter_map(|id| Uuid::parse_str(id).ok())
            .collect();
        let mut held = 0;
        for chunk in ids.chunks(REPLAY_CHUNK) {
            held += data_subject::Entity::find()
                .filter(data_subject::Column::Id.is_in(chunk.iter().copied()))
                .count(db)
                .await? as usize;
        }
        if held > 0 {
            found.push((region.to_owned(), held));
        }
    }
    Ok(found)
}

/// What a replay deleted again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Journal entries read.
    pub entries: usize,
    /// Subjects the restored database still held, erased again.
    pub subjects: u64,
    /// Records the restored database still held, deleted again.
    pub values: u64,
    /// Subject keys a restored subject-key database still held, deleted again.
    pub keys: u64,
    /// Tenants an `erasure.reapplied` event was appended for.
    pub tenants: usize,
}

/// The most ids one statement of [`replay`] names.
const REPLAY_CHUNK: usize = 500;

/// Deletes again, in `region` (every region when `None`), whatever the journal names that the database still holds.
/// Idempotent: a second run finds nothing left.
pub async fn replay(tenancy: &Tenancy, region: Option<&str>) -> Result<Replayed, AppError> {
    let mut query = erasure_journal::Entity::find().order_by_asc(erasure_journal::Column::Id);
    if let Some(region) = region {
        if !tenancy.has_region(region) {
            return Err(AppError::BadInput(format!(
                "no region `{region}` is configured"
            )));
        }
        query = query.filter(erasure_journal::Column::Region.eq(region));
    }
    let entries = query.all(tenancy.system().control()).await?;
    let mut by_tenant: std::collections::BTreeMap<Uuid, Vec<&erasure_journal::Model>> =
        Default::default();
    for entry in &entries {
        by_tenant.entry(entry.tenant_id).or_default().push(entry);
    }
    let mut replayed = Replayed {
        entries: entries.len(),
        ..Replayed::default()
    };
    for (tenant, entries) in by_tenant {
        let scope = match tenancy.system_scope(TenantId(tenant)).await {
            Ok(scope) => scope,
            // A tenant no longer in the directory has nothing left to erase from.
            Err(AppError::NotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        let ids_of = |kind: Erased| -> Vec<Uuid> {
            entries
                .iter()
                .filter(|e| e.kind == kind.as_str())
                .flat_map(|e| e.ids.split(',').filter_map(|id| Uuid::parse_str(id).ok()))
                .collect()
        };
        let (subjects, values) = (ids_of(Erased::Subjects), ids_of(Erased::Values));
        // Every erased subject's key, whether or not the region still holds the subject: a subject-key database
        // restored on its own brings keys back too.
        let keys = scope.subject_keys().delete(&subjects).await?;
        let mut txn = scope.begin().await?;
        // In chunks: a departed tenant's journal can name more ids than one statement may bind (SQLite 32,766,
        // PostgreSQL 65,535).
        let mut present: Vec<SubjectId> = Vec::new();
        for chunk in subjects.chunks(REPLAY_CHUNK) {
            present.extend(
                txn.find::<data_subject::Entity>()
                    .filter(data_subject::Column::Id.is_in(chunk.iter().copied()))
                    .all(&txn)
                    .await?
                    .into_iter()
                    .map(|s| SubjectId(s.id)),
            );
        }
        let mut deleted_values = 0;
        for chunk in values.chunks(REPLAY_CHUNK) {
            deleted_values += txn
                .delete_many::<personal_data::Entity>()
                .filter(personal_data::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?
                .rows_affected;
        }
        if present.is_empty() && deleted_values == 0 && keys == 0 {
            txn.commit_unaudited(crate::tenancy::Unaudited::NothingChanged)
                .await?;
            continue;
        }
        // The export is emptied once, after every chunk (each of which takes its subjects' rows first).
        for chunk in present.chunks(REPLAY_CHUNK) {
            crate::erasure::delete_subjects(
                &scope,
                &txn,
                chunk,
                crate::erasure::TenantExport::Keep,
            )
            .await?;
        }
        crate::erasure::invalidate(&txn).await?;
        txn.record(
            AuditEntry::system("erasure.reapplied", "tenant", tenant).with_detail(json!({
                // The requests whose erasures these were (the restored chain may have lost their events).
                "requests": entries.iter().filter_map(|e| e.request_id).collect::<std::collections::BTreeSet<_>>(),
                "subjects": present.iter().map(|s| s.0).collect::<Vec<_>>(),
                "values": deleted_values,
                "keys": keys,
            })),
        )
        .await?;
        txn.commit_recorded().await?;
        // As after any erasure on SQLite: the deleted pages were zeroed (secure_delete); the WAL is emptied too.
        scope.checkpoint().await;
        replayed.subjects += present.len() as u64;
        replayed.values += deleted_values;
        replayed.keys += keys;
        replayed.tenants += 1;
    }
    if replayed.subjects + replayed.values + replayed.keys > 0 {
        tracing::warn!(
            subjects = replayed.subjects,
            values = replayed.values,
            keys = replayed.keys,
            "erasures recorded since the backup were applied again"
        );
    }
    Ok(replayed)
}
