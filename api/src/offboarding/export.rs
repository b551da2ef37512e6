//! A departing tenant's export (offboarding with `RETURN_THEN_DELETE`), built and served in bounded chunks.
//!
//! The build job walks the tenant's subjects in id order: each chunk's NDJSON lines (one per subject, with its values
//! opened), up to [`CHUNK_BYTES`], are sealed with the export's own key and stored with the export's cursor in one
//! transaction. A run stores at most [`MAX_CHUNKS_PER_RUN`] chunks and yields to other jobs; an instance that dies
//! mid-build is followed by one that resumes after the cursor. Memory is one chunk and one fetch of
//! [`SUBJECTS_PER_FETCH`] subjects, whatever the tenant's size.
//!
//! The download (`GET /exports/tenant`, the tenant's `client_admin`) streams a header line, the chunks opened one at a
//! time, and an end line with the counts, so a truncated download is recognisable. A download is counted and audited
//! when its last chunk was sent, just before the end line.

use std::sync::Arc;

use axum::body::Bytes;
use chrono::{Duration, Utc};
use futures_util::Stream;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use steward_entities::dsr_request::{RequestKind, RequestState};
use steward_entities::{
    data_subject, dsr_request, job, personal_data, tenant_export, tenant_export_chunk,
};
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::crypto::SubjectKey;
use crate::error::AppError;
use crate::ids::ExportId;
use crate::jobs::{self, Outcome};
use crate::offboarding::{Choice, details};
use crate::subjects;
use crate::tenancy::{Scope, Tenancy, TenantStatus, Unaudited, Work};

/// A chunk closes once its lines reach this size: about 1,000 typical subjects, or one with 50 values of 4 KiB
/// (the largest a subject can be) and the next.
const CHUNK_BYTES: usize = 256 * 1024;
/// Subjects read (with their records) per statement while a chunk fills.
const SUBJECTS_PER_FETCH: u64 = 50;
/// A run stores at most this many chunks, and starts no new one after [`RUN_BUDGET`], then yields to the other jobs
/// (which run one at a time) and continues at the worker's next poll.
const MAX_CHUNKS_PER_RUN: usize = 8;
const RUN_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);
/// The shortest download window of a departing tenant's export.
const EXPORT_MIN_DAYS: i64 = 7;
/// Where the client admin downloads it.
pub const DOWNLOAD_PATH: &str = "/exports/tenant";
const FORMAT: &str = "steward.tenant-export/v2";

fn chunk_context(export: ExportId, seq: i32) -> String {
    format!("tenant.export:{export}:{seq}")
}

/// Deletes the tenant's export and its chunks (the offboarding was cancelled, or the tenant's data is gone).
pub(crate) async fn delete(txn: &Work) -> Result<(), AppError> {
    txn.delete_many::<tenant_export_chunk::Entity>()
        .exec(txn)
        .await?;
    txn.delete_many::<tenant_export::Entity>().exec(txn).await?;
    Ok(())
}

/// The build job: up to [`CHUNKS_PER_RUN`] more chunks, then either `Later(now)` (more to do) or the export is ready,
/// the client told, and the job done.
pub(crate) async fn build(
    tenancy: &Tenancy,
    scope: &Scope,
    job: &job::Model,
) -> Result<Outcome, AppError> {
    let tenant = scope.tenant_id();
    let Some(t) = details(tenancy, tenant).await? else {
        return Ok(Outcome::Done);
    };
    // Once the deletion has begun the export is over (delivered, or its window closed): a rebuild queued by an erasure
    // meanwhile would read subjects the erase batches are deleting.
    if t.status != TenantStatus::Offboarding
        || t.offboarding_choice != Some(Choice::ReturnThenDelete)
        || t.offboarding_erasure_started_at.is_some()
    {
        return Ok(Outcome::Done);
    }
    let mut export = match scope
        .find::<tenant_export::Entity>()
        .one(scope.db())
        .await?
    {
        Some(export) if export.ready => {
            let txn = scope.begin().await?;
            jobs::complete_in(&txn, job).await?;
            txn.commit_unaudited(Unaudited::NothingChanged).await?;
            return Ok(Outcome::Done);
        }
        Some(export) => export,
        None => start(scope.writer(), scope, t.offboarding_due_at).await?,
    };
    let key = scope
        .tenant_key()
        .unwrap(export.id, &export.wrapped_key)
        .map_err(|e| AppError::internal(anyhow::anyhow!("tenant export {}: {e}", export.id)))?;
    let started = std::time::Instant::now();
    let mut stored = 0;
    // Subjects whose key is gone for good (see [`stranded`]), exported as such.
    let mut keyless = std::collections::HashSet::new();
    while stored < MAX_CHUNKS_PER_RUN && (stored == 0 || started.elapsed() < RUN_BUDGET) {
        let chunk = match next_chunk(scope, export.cursor, &keyless).await? {
            Built::Chunk(chunk) => chunk,
            // A subject whose key is gone: an erasure deleted it and has not committed yet (read again once it is
            // done), or one failed after deleting it and nothing will finish it (exported as unreadable, staff told).
            Built::Keyless(subject) => {
                if !stranded(scope, subject).await? {
                    return Ok(Outcome::Later(in_flight::again(export.id)));
                }
                report_stranded(tenancy, scope, subject).await?;
                keyless.insert(subject);
                continue;
            }
        };
        let Some(last) = chunk.last else {
            if finish(scope, job, export, t.offboarding_due_at).await? {
                return Ok(Outcome::Done);
            }
            return Ok(Outcome::Later(Utc::now()));
        };
        let seq = export.chunks;
        let txn = scope.begin().await?;
        // The export's progress first, conditional on the export as this run read it before reading any subject: an
        // erasure that emptied it since (`erasure::invalidate` counts a rebuild) wins, and this chunk, which may hold
        // what it erased, is dropped. On PostgreSQL this waits, holding nothing yet, for an erasure that holds the
        // export row; from here to the commit the chunk waits on nothing (its row locks skip what is locked), so it
        // never holds the export row while an erasure, or a journal replay emptying the export once per batch, holds
        // the rows it wants: the two cannot deadlock.
        let moved = txn
            .update_many::<tenant_export::Entity>()
            .col_expr(tenant_export::Column::Cursor, Some(last).into())
            .col_expr(tenant_export::Column::Chunks, (seq + 1).into())
            .col_expr(
                tenant_export::Column::Subjects,
                (export.subjects + chunk.subjects).into(),
            )
            .col_expr(
                tenant_export::Column::ValuesExported,
                (export.values_exported + chunk.values).into(),
            )
            .filter(tenant_export::Column::Id.eq(export.id))
            .filter(tenant_export::Column::Chunks.eq(seq))
            .filter(tenant_export::Column::Rebuilds.eq(export.rebuilds))
            .filter(tenant_export::Column::Ready.eq(false))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            return Ok(Outcome::Later(Utc::now()));
        }
        if !still_there(&txn, export.cursor, last, &chunk).await? {
            // A transaction still open deletes (or adds) a row of this range: read it again once it is done.
            return Ok(Outcome::Later(in_flight::again(export.id)));
        }
        in_flight::clear(export.id);
        let sealed = key
            .seal(&chunk_context(ExportId(export.id), seq), &chunk.lines)
            .map_err(AppError::internal)?;
        drop(chunk.lines);
        txn.insert(tenant_export_chunk::ActiveModel {
            export_id: Set(export.id),
            seq: Set(seq),
            subjects: Set(chunk.subjects),
            sealed: Set(sealed),
            ..Default::default()
        })
        .await?;
        // The export's progress; `tenant.export_ready` is recorded when the last chunk is in.
        txn.commit_unaudited(Unaudited::Bookkeeping).await?;
        export.cursor = Some(last);
        export.subjects += chunk.subjects;
        export.values_exported += chunk.values;
        export.chunks = seq + 1;
        stored += 1;
    }
    // More to do: the next run continues after the cursor, once the other due jobs had their turn.
    Ok(Outcome::Later(Utc::now()))
}

/// Whether the rows of the chunk's range are exactly the subjects and values it read, on PostgreSQL locked against
/// deletion (`FOR KEY SHARE`) until the chunk commits. A row an open transaction deletes is skipped, not waited for
/// (waiting could deadlock with an erasure deleting many subjects), so the sets differ and the chunk is read again
/// later: a chunk holding what an erasure still in flight deleted is never stored, whether or not that erasure found
/// the export to empty (one created after its check, the offboarding having begun meanwhile, is not emptied, and its
/// rebuild count does not move). The ids are compared, not their numbers: a value deleted while another is added in
/// the same range leaves the count as it was. Updates that keep a row (a restriction, an objection, a rectification,
/// which the offboarding freeze still allows) take a lock `FOR KEY SHARE` does not conflict with, so they neither wait
/// for the chunk nor make it read again. SQLite has one writer: an erasure either committed before the export
/// existed, or sees it and counts a rebuild.
async fn still_there(
    txn: &Work,
    after: Option<Uuid>,
    last: Uuid,
    chunk: &Chunk,
) -> Result<bool, AppError> {
    if txn.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(true);
    }
    let mut subjects = txn
        .find::<data_subject::Entity>()
        .select_only()
        .column(data_subject::Column::Id)
        .filter(data_subject::Column::Id.lte(last))
        .order_by_asc(data_subject::Column::Id)
        .lock_with_behavior(LockType::KeyShare, LockBehavior::SkipLocked);
    // The values of the subjects read (a value of a subject that appeared in the range shows as that subject).
    let values = txn
        .find::<personal_data::Entity>()
        .select_only()
        .column(personal_data::Column::Id)
        .filter(personal_data::Column::SubjectId.is_in(chunk.subject_ids.iter().copied()))
        .order_by_asc(personal_data::Column::Id)
        .lock_with_behavior(LockType::KeyShare, LockBehavior::SkipLocked);
    if let Some(after) = after {
        subjects = subjects.filter(data_subject::Column::Id.gt(after));
    }
    let subjects: Vec<Uuid> = subjects.into_tuple().all(txn).await?;
    let values: Vec<Uuid> = values.into_tuple().all(txn).await?;
    Ok(same_rows(&subjects, &chunk.subject_ids) && same_rows(&values, &chunk.value_ids))
}

/// Whether `locked` (in id order) holds exactly the ids in `read` (in any order).
fn same_rows(locked: &[Uuid], read: &[Uuid]) -> bool {
    if locked.len() != read.len() {
        return false;
    }
    let mut read = read.to_vec();
    read.sort_unstable();
    locked == read
}

/// Whether a subject whose key is gone keeps its row with nothing left to finish its erasure: an erasure deletes the
/// key last, so its failure (a transaction that could not commit) leaves the subject so until its job's retry; but
/// with no erasure request still open for the subject (one rejected before that retry), nothing will. Such a subject
/// would otherwise hold the build, and the tenant's deletion behind it, for ever. An erasure that commits meanwhile
/// empties the export (or, on PostgreSQL, fails the chunk's row check), so a subject read just before it went is
/// never exported as unreadable.
async fn stranded(scope: &Scope, subject: Uuid) -> Result<bool, AppError> {
    let open = scope
        .find::<dsr_request::Entity>()
        .filter(dsr_request::Column::SubjectId.eq(subject))
        .filter(dsr_request::Column::Kind.eq(RequestKind::Erasure))
        .filter(dsr_request::Column::State.is_in([
            RequestState::Received,
            RequestState::InProgress,
            RequestState::Paused,
        ]));
    Ok(crate::pagination::count(open, scope.db()).await? == 0)
}

/// Tells the privacy officers (once per subject) of a subject left with its row but no key.
async fn report_stranded(tenancy: &Tenancy, scope: &Scope, subject: Uuid) -> Result<(), AppError> {
    let tenant = scope.tenant_id();
    tracing::error!(tenant = %tenant, subject = %subject, "a subject's data key is gone but its row is not: an erasure failed after deleting the key and was not retried");
    crate::notices::file_staff_once(
        tenancy.system().control(),
        &format!("{NOTICE_STRANDED}:{subject}"),
        NOTICE_STRANDED,
        tenant,
        &subject.to_string(),
        &format!("Subject {subject} has no data key but is not erased"),
        &format!(
            "The data key of subject {subject} of tenant {tenant} was destroyed by an erasure that did not complete, \
             and nothing is retrying it: its values can no longer be opened, but its rows remain. The tenant's export \
             lists it as unreadable. Raise and start an erasure request for it to remove the rows."
        ),
    )
    .await?;
    Ok(())
}

/// The staff notice kind of a subject left without its key.
pub const NOTICE_STRANDED: &str = "subject.key_stranded";

/// Exports whose chunk met rows an open transaction is changing, read again after a pause that doubles (1 s to 30 s)
/// while it goes on, and a warning once it has lasted a while: such a transaction is short (the statement and idle
/// timeouts bound it), so a long run of them means something holds rows of a departing tenant. Kept per process: an
/// instance that takes the job over starts again at 1 s.
mod in_flight {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use chrono::{DateTime, Utc};
    use uuid::Uuid;

    static TRIES: Mutex<Option<HashMap<Uuid, u32>>> = Mutex::new(None);

    /// When to read the chunk again, counting one more try.
    pub(super) fn again(export: Uuid) -> DateTime<Utc> {
        let mut tries = TRIES.lock().unwrap_or_else(|e| e.into_inner());
        let n = tries
            .get_or_insert_with(HashMap::new)
            .entry(export)
            .or_insert(0);
        *n += 1;
        if n.is_multiple_of(10) {
            tracing::warn!(
                export = %export,
                tries = *n,
                "a chunk of a departing tenant's export keeps meeting rows an open transaction is changing, or a \
                 subject whose key is gone (an erasure that has not completed: see its job)"
            );
        }
        Utc::now() + pause(*n)
    }

    /// 1 s after the first try, doubling up to 30 s.
    pub(super) fn pause(tries: u32) -> chrono::Duration {
        chrono::Duration::seconds((1i64 << tries.saturating_sub(1).min(5)).min(30))
    }

    /// The chunk was stored.
    pub(super) fn clear(export: Uuid) {
        if let Some(tries) = TRIES.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            tries.remove(&export);
        }
    }
}

/// A new, empty export with a key of its own: created with the offboarding (so `tenantExport` says at once that it is
/// being built), or by its build job.
pub(crate) async fn start<C: ConnectionTrait>(
    conn: &C,
    scope: &Scope,
    due: Option<chrono::DateTime<Utc>>,
) -> Result<tenant_export::Model, AppError> {
    let id = Uuid::now_v7();
    let key = SubjectKey::generate(scope.tenant_id(), id).map_err(AppError::internal)?;
    let wrapped = scope
        .tenant_key()
        .wrap(id, &key)
        .map_err(AppError::internal)?;
    let now = Utc::now();
    Ok(tenant_export::ActiveModel {
        tenant_id: Set(scope.tenant_id().0),
        id: Set(id),
        wrapped_key: Set(wrapped),
        ready: Set(false),
        cursor: Set(None),
        chunks: Set(0),
        subjects: Set(0),
        values_exported: Set(0),
        downloads: Set(0),
        rebuilds: Set(0),
        created_at: Set(now),
        expires_at: Set(download_until(due)),
        first_ready_at: Set(None),
    }
    .insert(conn)
    .await?)
}

/// At least a week from now to download it, even with a short grace period. An export emptied and built again (an
/// erasure, a rectification or a restriction lifted, several of which the departing tenant can cause) keeps the window
/// it first had, or a week after the grace period if that ends later (`finish`), so it cannot push its deletion back.
fn download_until(due: Option<chrono::DateTime<Utc>>) -> chrono::DateTime<Utc> {
    let now = Utc::now();
    due.unwrap_or(now)
        .max(now + Duration::days(EXPORT_MIN_DAYS))
}

/// The lines of one chunk: the subjects after `cursor`, in id order, until the chunk holds [`CHUNK_BYTES`].
struct Chunk {
    lines: String,
    subjects: i32,
    values: i32,
    /// The ids of its subjects and of their values, checked against the rows before it is stored.
    subject_ids: Vec<Uuid>,
    value_ids: Vec<Uuid>,
    /// The last subject in it; `None` when there was no subject left.
    last: Option<Uuid>,
}

enum Built {
    Chunk(Chunk),
    /// A subject read has no key, and is not in the set of those known to have lost it for good.
    Keyless(Uuid),
}

async fn next_chunk(
    scope: &Scope,
    mut cursor: Option<Uuid>,
    keyless: &std::collections::HashSet<Uuid>,
) -> Result<Built, AppError> {
    let mut chunk = Chunk {
        lines: String::new(),
        subjects: 0,
        values: 0,
        subject_ids: Vec::new(),
        value_ids: Vec::new(),
        last: None,
    };
    'fill: while chunk.lines.len() < CHUNK_BYTES {
        let mut query = scope
            .find::<data_subject::Entity>()
            .order_by_asc(data_subject::Column::Id)
            .limit(SUBJECTS_PER_FETCH);
        if let Some(cursor) = cursor {
            query = query.filter(data_subject::Column::Id.gt(cursor));
        }
        let batch = query.all(scope.db()).await?;
        if batch.is_empty() {
            break;
        }
        let ids: Vec<Uuid> = batch.iter().map(|s| s.id).collect();
        let mut records = subjects::records_of(scope, &ids).await?;
        let keys = scope.subject_keys().get_many(&ids).await?;
        for subject in &batch {
            let records = records.remove(&subject.id).unwrap_or_default();
            match keys.get(&subject.id) {
                Some(wrapped) => {
                    let key = subjects::unwrap_subject_key(scope, subject.id, wrapped)?;
                    chunk
                        .lines
                        .push_str(&subject_line(&key, subject, &records)?);
                    chunk.values += records.len() as i32;
                }
                None if keyless.contains(&subject.id) => {
                    chunk
                        .lines
                        .push_str(&unreadable_line(subject, records.len()));
                }
                None => return Ok(Built::Keyless(subject.id)),
            }
            chunk.lines.push('\n');
            chunk.subjects += 1;
            chunk.subject_ids.push(subject.id);
            chunk.value_ids.extend(records.iter().map(|r| r.id));
            chunk.last = Some(subject.id);
            cursor = Some(subject.id);
            // The rest of this fetch is read again for the next chunk.
            if chunk.lines.len() >= CHUNK_BYTES {
                break 'fill;
            }
        }
    }
    Ok(Built::Chunk(chunk))
}

/// A subject whose values nobody can open any more ([`stranded`]): its id, when it was created and how many values
/// it holds, so the controller knows what its export could not return.
fn unreadable_line(subject: &data_subject::Model, values: usize) -> String {
    json!({
        "type": "unreadable_subject",
        "id": subject.id,
        "created_at": subject.created_at,
        "values": values,
        "reason": "its data key was destroyed by an erasure that did not complete; its values can no longer be opened",
    })
    .to_string()
}

/// One subject as a line of the export: its external id, birth date and every value with its source.
fn subject_line(
    key: &crate::crypto::SubjectKey,
    subject: &data_subject::Model,
    records: &[personal_data::Model],
) -> Result<String, AppError> {
    let mut data = Vec::with_capacity(records.len());
    for r in records {
        data.push(json!({
            "category": r.category,
            "value": subjects::open_value(key, r)?,
            "purpose": r.purpose,
            "source": subjects::open_source(key, r)?,
            "collected_at": r.collected_at,
        }));
    }
    Ok(json!({
        "type": "subject",
        "id": subject.id,
        "external_id": subjects::open_external_id(key, subject)?,
        "birth_date": subjects::open_birth_date(key, subject)?,
        "created_at": subject.created_at,
        // Under restriction (Art. 18) the values are withheld from every reader in the console; returning them to
        // the controller at contract end is storage's end, not new processing, so they are in the export, marked:
        // the controller takes the restriction over with them.
        "restricted_since": subject.restricted_at,
        "personal_data": data,
    })
    .to_string())
}

/// Every subject is in a chunk: the export is ready; the client's admins are told; the job is done. `false` when the
/// export was emptied meanwhile.
async fn finish(
    scope: &Scope,
    job: &job::Model,
    export: tenant_export::Model,
    due: Option<chrono::DateTime<Utc>>,
) -> Result<bool, AppError> {
    let (subjects, values, id, chunks, rebuilds, first_ready_at) = (
        export.subjects,
        export.values_exported,
        export.id,
        export.chunks,
        export.rebuilds,
        export.first_ready_at,
    );
    let tenant = scope.tenant_id();
    let mut txn = scope.begin().await?;
    // The download window runs from when it can be downloaded. Conditional, like each chunk: an export emptied by an
    // erasure meanwhile is not declared ready (its job was queued again), even once another run rebuilt it to as many
    // chunks as this one read.
    let expires_at = match (export.rebuilds, due) {
        (0, _) | (_, None) => download_until(due),
        // Built again: the window it had (at least a week from when it was first ready) or a week after the grace
        // period, whichever ends later, and never later than that.
        (_, Some(end)) => {
            download_until(due).min(export.expires_at.max(end + Duration::days(EXPORT_MIN_DAYS)))
        }
    };
    let done = txn
        .update_many::<tenant_export::Entity>()
        .col_expr(tenant_export::Column::Ready, true.into())
        .col_expr(tenant_export::Column::ExpiresAt, expires_at.into())
        .col_expr(
            tenant_export::Column::FirstReadyAt,
            Some(first_ready_at.unwrap_or_else(Utc::now)).into(),
        )
        .filter(tenant_export::Column::Id.eq(id))
        .filter(tenant_export::Column::Chunks.eq(chunks))
        .filter(tenant_export::Column::Rebuilds.eq(rebuilds))
        .filter(tenant_export::Column::Ready.eq(false))
        .exec(&txn)
        .await?;
    if done.rows_affected != 1 {
        return Ok(false);
    }
    // Rebuilt after its window closed, it is not downloadable: the admins are not told it is.
    if expires_at > Utc::now() {
        crate::notices::notify(
            &txn,
            tenant,
            "tenant.export_ready",
            "Your data export is ready",
            &format!(
                "The export of {subjects} data subjects ({values} values) can be downloaded by your admins \
                 (GET {DOWNLOAD_PATH}) until {}.",
                expires_at.date_naive()
            ),
        )
        .await?;
    }
    txn.record(
        AuditEntry::system("tenant.export_ready", "tenant_export", id)
            .with_detail(json!({ "subjects": subjects, "values": values, "chunks": chunks })),
    )
    .await?;
    jobs::complete_in(&txn, job).await?;
    txn.commit_recorded().await?;
    Ok(true)
}

/// The tenant's export as the console shows it (building or ready), if there is one.
pub async fn status(scope: &Scope) -> Result<tenant_export::Model, AppError> {
    scope
        .find::<tenant_export::Entity>()
        .filter(tenant_export::Column::ExpiresAt.gt(Utc::now()))
        .one(scope.db())
        .await?
        .ok_or_else(no_export)
}

fn no_export() -> AppError {
    AppError::NotFound(
        "no export is available (it is prepared after offboarding with RETURN_THEN_DELETE begins, and deleted when \
         the grace period ends)"
            .into(),
    )
}

/// A whole download was sent: counted and audited. (A `HEAD`, or a download cut short, is neither: only a download
/// that reached its end line lets the offboarding go on.)
async fn record_download(scope: &Scope, export: ExportId) -> Result<(), AppError> {
    let txn = scope.begin().await?;
    txn.update_many::<tenant_export::Entity>()
        .col_expr(
            tenant_export::Column::Downloads,
            sea_orm::sea_query::ExprTrait::add(
                sea_orm::sea_query::Expr::col(tenant_export::Column::Downloads),
                1,
            ),
        )
        .filter(tenant_export::Column::Id.eq(export))
        .exec(&txn)
        .await?;
    txn.commit(AuditEntry::by(
        scope.principal(),
        "tenant.export_downloaded",
        "tenant_export",
        export,
    ))
    .await?;
    Ok(())
}

/// Starts a download: the stream of its lines (counted and audited once its last chunk was sent).
pub async fn download(
    scope: Scope,
) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, AppError> {
    let export = status(&scope).await?;
    if !export.ready {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::ExportNotReady,
            message: format!(
                "the export is still being built ({} subjects so far); you are notified when it is ready",
                export.subjects
            ),
        });
    }
    let key = scope
        .tenant_key()
        .unwrap(export.id, &export.wrapped_key)
        .map_err(|e| AppError::internal(anyhow::anyhow!("tenant export {}: {e}", export.id)))?;
    let header = json!({
        "type": "header",
        "format": FORMAT,
        "tenant": { "id": scope.tenant_id().0, "name": scope.tenant().name },
        "export_id": export.id,
        "built_from": export.created_at,
        "subjects": export.subjects,
        "values": export.values_exported,
    });
    let end =
        json!({ "type": "end", "subjects": export.subjects, "values": export.values_exported });
    let state = Download {
        scope: Arc::new(scope),
        key: Arc::new(key),
        export: export.id,
        chunks: export.chunks,
        next: Next::Header(header.to_string(), end.to_string()),
    };
    Ok(futures_util::stream::try_unfold(state, step))
}

enum Next {
    Header(String, String),
    Chunk(i32, String),
    End(String),
    Done,
}

struct Download {
    scope: Arc<Scope>,
    key: Arc<SubjectKey>,
    export: Uuid,
    chunks: i32,
    next: Next,
}

/// One piece of the download: the header, one chunk opened, or the end line.
async fn step(mut s: Download) -> Result<Option<(Bytes, Download)>, std::io::Error> {
    let line = |text: String| Bytes::from(text + "\n");
    match std::mem::replace(&mut s.next, Next::Done) {
        Next::Header(header, end) => {
            s.next = if s.chunks > 0 {
                Next::Chunk(0, end)
            } else {
                Next::End(end)
            };
            Ok(Some((line(header), s)))
        }
        Next::Chunk(seq, end) => {
            let chunk = s
                .scope
                .find::<tenant_export_chunk::Entity>()
                .filter(tenant_export_chunk::Column::ExportId.eq(s.export))
                .filter(tenant_export_chunk::Column::Seq.eq(seq))
                .one(s.scope.db())
                .await
                .map_err(broken)?
                .ok_or_else(|| broken(format!("chunk {seq} of export {} is missing", s.export)))?;
            let text = s
                .key
                .open(&chunk_context(ExportId(s.export), seq), &chunk.sealed)
                .map_err(|e| broken(format!("chunk {seq} of export {}: {e}", s.export)))?;
            s.next = if seq + 1 < s.chunks {
                Next::Chunk(seq + 1, end)
            } else {
                Next::End(end)
            };
            Ok(Some((Bytes::from(text), s)))
        }
        Next::End(end) => {
            record_download(&s.scope, ExportId(s.export))
                .await
                .map_err(|e| {
                    broken(format!(
                        "recording the download of export {}: {e:?}",
                        s.export
                    ))
                })?;
            Ok(Some((line(end), s)))
        }
        Next::Done => Ok(None),
    }
}

/// A download cut short: logged here; the client sees the body end without its `end` line.
fn broken(cause: impl std::fmt::Display) -> std::io::Error {
    tracing::error!(error = %cause, "tenant export download failed");
    std::io::Error::other("export download failed")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value deleted while another is added in the chunk's range leaves the count as it was; the ids differ.
    #[test]
    fn a_swapped_row_is_not_the_same_rows() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(same_rows(&[a, b], &[b, a]));
        assert!(!same_rows(&[a, c], &[a, b]));
        assert!(!same_rows(&[a], &[a, b]));
        assert!(!same_rows(&[a, b, c], &[a, b]));
        assert!(same_rows(&[], &[]));
    }

    #[test]
    fn the_pause_doubles_to_thirty_seconds() {
        let secs: Vec<i64> = (1..=8).map(|n| in_flight::pause(n).num_seconds()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
