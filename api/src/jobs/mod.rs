//! The durable job queue: erasures, deliveries of erasure requests to sub-processors, deadline reminders, export
//! expiry and the scheduled sweeps (sub-processor activations, disclosure-notice releases).
//!
//! Jobs are rows of a `jobs` table. The control database holds platform jobs; each region database holds the jobs
//! that change its tenants' data, so a job's effect and its completion can commit in one transaction
//! ([`complete_in`]) — a job whose process dies before that commit is run again, one that committed is never run again.
//!
//! A worker claims a due job by setting a lease (`locked_until`). On PostgreSQL the claim reads with
//! `FOR UPDATE SKIP LOCKED`, so several instances share a queue without taking the same job; SQLite has one writer.
//! A job whose lease passed (its worker died) is claimed again. Failures are retried with exponential backoff; after
//! `max_attempts` the job is `dead`, which privacy officers see (`jobs(state: DEAD)`) and can retry.

use steward_entities::job::JobState;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::sea_query::{LockBehavior, LockType, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend,
    DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use steward_entities::{job, staff_notice};
use uuid::Uuid;

use crate::error::AppError;
use crate::ids::{ExportId, JobId, NoticeId, PropagationId, RequestId, SubjectId, TenantId};
use crate::tenancy::Tenancy;

mod run;

use run::DELIVERIES;
pub use run::{CONCURRENCY, Handler, PER_TENANT, run_due};

/// The queue of the control database; region queues are named by their region.
pub const CONTROL: &str = "control";
const DEFAULT_MAX_ATTEMPTS: i32 = 8;
/// At most this many jobs per queue in one [`run_due`] call, so one pass never runs unbounded.
const MAX_PER_PASS: usize = 200;

/// Every kind of job and what it carries. A row stores the variant's name as `kind` and its fields as `payload`
/// (`{"kind": …, "payload": {…}}` split in two), so rows written before this enum existed read back unchanged.
/// The runner knows none of them: each domain owns the handler of its variants, and [`crate::worker`] maps one to
/// the other.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "payload")]
pub enum Job {
    /// Deletes an erasure request's subject (`requests`).
    #[serde(rename = "request.erase")]
    Erase {
        request: RequestId,
        subject: SubjectId,
    },
    /// Sends one erasure request to a sub-processor's webhook (`requests`).
    #[serde(rename = "erasure.deliver")]
    DeliverErasure { propagation: PropagationId },
    /// Reminds of a request's due date, then of it being overdue (`requests`).
    #[serde(rename = "request.deadline")]
    RequestDeadline {
        request: RequestId,
        due_on: NaiveDate,
    },
    /// Deletes an access export whose download window passed (`requests`).
    #[serde(rename = "export.expire")]
    ExpireExport { export: ExportId },
    /// Delivers one notice by email and webhook (`outbox`).
    #[serde(rename = "notice.deliver")]
    DeliverNotice { notice: NoticeId },
    /// Builds an offboarding tenant's export (`tenant_export`).
    #[serde(rename = "offboarding.export")]
    BuildTenantExport { tenant: TenantId },
    /// Ends an offboarding when its grace period is over (`offboarding`).
    #[serde(rename = "offboarding.finish")]
    FinishOffboarding { tenant: TenantId },
    /// Activates sub-processors whose objection window closed (`subprocessors`).
    #[serde(rename = "sweep.subprocessor_activations")]
    ActivateSubProcessors { slot: i64 },
    /// Tells tenants of legal disclosures whose gag order ended (`accountability`).
    #[serde(rename = "sweep.disclosure_notices")]
    ReleaseDisclosureNotices { slot: i64 },
    /// Deletes values past their retention period (`retention`).
    #[serde(rename = "sweep.retention")]
    RetentionSweep { slot: i64 },
    /// Appends the audit events a change in the control database still owes a tenant's chain (`audit`).
    #[serde(rename = "sweep.audit_outbox")]
    ApplyDeferredAudit { slot: i64 },
}

impl Job {
    /// The name stored in the row's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Erase { .. } => "request.erase",
            Job::DeliverErasure { .. } => "erasure.deliver",
            Job::RequestDeadline { .. } => "request.deadline",
            Job::ExpireExport { .. } => "export.expire",
            Job::DeliverNotice { .. } => "notice.deliver",
            Job::BuildTenantExport { .. } => "offboarding.export",
            Job::FinishOffboarding { .. } => "offboarding.finish",
            Job::ActivateSubProcessors { .. } => "sweep.subprocessor_activations",
            Job::ReleaseDisclosureNotices { .. } => "sweep.disclosure_notices",
            Job::RetentionSweep { .. } => "sweep.retention",
            Job::ApplyDeferredAudit { .. } => "sweep.audit_outbox",
        }
    }

    /// Whether the job runs on the control database's queue (the platform's sweeps) rather than a region's.
    pub fn is_platform(&self) -> bool {
        matches!(
            self,
            Job::ActivateSubProcessors { .. }
                | Job::ReleaseDisclosureNotices { .. }
                | Job::RetentionSweep { .. }
                | Job::ApplyDeferredAudit { .. }
        )
    }

    /// The job a row holds; an unknown kind or a payload that does not fit it is an error (the job fails, then dies
    /// where privacy officers see it), never a silently skipped job.
    pub fn of(row: &job::Model) -> Result<Job, AppError> {
        serde_json::from_value(json!({ "kind": row.kind, "payload": row.payload })).map_err(|e| {
            AppError::internal(anyhow::anyhow!(
                "job {} (`{}`) does not fit any known job: {e}",
                row.id,
                row.kind
            ))
        })
    }

    /// A deduplication key for this job: its kind, then what makes it unique.
    pub fn key(&self, unique: impl std::fmt::Display) -> String {
        format!("{}:{unique}", self.kind())
    }

    fn stored(&self) -> (&'static str, Value) {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        let payload = value
            .get_mut("payload")
            .map(Value::take)
            .unwrap_or_else(|| json!({}));
        (self.kind(), payload)
    }
}

/// Moves the queued job with deduplication key `key` to `run_at` (nothing if there is none), in the caller's
/// transaction.
pub async fn reschedule_queued<C: ConnectionTrait>(
    db: &C,
    key: &str,
    run_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::RunAt, run_at.into())
        .filter(job::Column::DedupeKey.eq(key))
        .filter(job::Column::State.eq(JobState::Queued))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the jobs with these deduplication keys, whatever their state, in the caller's transaction.
pub async fn cancel<C: ConnectionTrait>(db: &C, keys: &[String]) -> Result<(), DbErr> {
    job::Entity::delete_many()
        .filter(job::Column::DedupeKey.is_in(keys.iter().cloned()))
        .exec(db)
        .await?;
    Ok(())
}

/// The deduplication key of a tenant's export build: one per tenant, found again to rebuild the export.
pub fn tenant_export_key(tenant: TenantId) -> String {
    Job::BuildTenantExport { tenant }.key(tenant)
}

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub job: Job,
    pub tenant: Option<TenantId>,
    pub dedupe_key: Option<String>,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn new(job: Job) -> Self {
        NewJob {
            job,
            tenant: None,
            dedupe_key: None,
            run_at: Utc::now(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    pub fn for_tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = Some(tenant);
        self
    }

    /// Enqueueing a second job with the same key does nothing. The key starts with the job's kind.
    pub fn dedupe(mut self, key: impl std::fmt::Display) -> Self {
        self.dedupe_key = Some(self.job.key(key));
        self
    }

    pub fn at(mut self, when: DateTime<Utc>) -> Self {
        self.run_at = when;
        self
    }
}

/// Adds a job, inside the caller's transaction when given one. Returns whether it was added (not a duplicate).
pub async fn enqueue<C: ConnectionTrait>(db: &C, job: NewJob) -> Result<bool, DbErr> {
    let now = Utc::now();
    let (kind, payload) = job.job.stored();
    let model = job::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(kind.to_owned()),
        tenant_id: Set(job.tenant.map(|t| t.0)),
        payload: Set(payload),
        dedupe_key: Set(job.dedupe_key),
        state: Set(JobState::Queued),
        attempts: Set(0),
        max_attempts: Set(job.max_attempts),
        run_at: Set(job.run_at),
        locked_by: Set(None),
        locked_until: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
    };
    let inserted = job::Entity::insert(model)
        .on_conflict(
            OnConflict::column(job::Column::DedupeKey)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(inserted > 0)
}

/// Makes a job's transaction a writer from its first statement. On SQLite a transaction that reads first and writes
/// later can fail with "database is locked" when another process does the same; writing first makes the other wait.
pub async fn begin_writing<C: ConnectionTrait>(db: &C, job: &job::Model) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::UpdatedAt, Utc::now().into())
        .filter(job::Column::Id.eq(job.id))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks a claimed job done inside the transaction that made its effect, so the two commit together.
pub async fn complete_in<C: ConnectionTrait>(db: &C, job: &job::Model) -> Result<(), DbErr> {
    let now = Utc::now();
    let done = job::Entity::update_many()
        .col_expr(job::Column::State, JobState::Done.into())
        .col_expr(job::Column::FinishedAt, Some(now).into())
        .col_expr(job::Column::UpdatedAt, now.into())
        .col_expr(
            job::Column::LockedUntil,
            Option::<DateTime<Utc>>::None.into(),
        )
        .filter(job::Column::Id.eq(job.id))
        .filter(job::Column::State.eq(JobState::Running))
        // Only the claim that ran it: a worker whose lease lapsed and whose job was claimed again must not commit.
        .filter(job::Column::LockedBy.eq(job.locked_by.clone()))
        .filter(job::Column::Attempts.eq(job.attempts))
        .exec(db)
        .await?;
    if done.rows_affected != 1 {
        return Err(DbErr::Custom(format!(
            "job {} was claimed again after its lease ran out; this run's effect is rolled back",
            job.id
        )));
    }
    Ok(())
}

/// What a handler reports.
#[derive(Debug)]
pub enum Outcome {
    /// Finished (its effect committed).
    Done,
    /// Not due yet after all: run again at this time (not counted as a failed attempt).
    Later(DateTime<Utc>),
}

/// The settings of one worker.
#[derive(Clone, Debug)]
pub struct Worker {
    pub id: String,
    /// How long a claimed job is ours before another worker may take it over.
    pub lease: Duration,
    /// Set when the process stops: no new job is claimed; the running ones finish.
    stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Worker {
    pub fn new(lease: std::time::Duration) -> Self {
        let suffix = Uuid::new_v4().simple().to_string();
        Worker {
            id: format!("{}-{}", std::process::id(), &suffix[..8]),
            lease: Duration::from_std(lease).unwrap_or(Duration::seconds(60)),
            stopping: Default::default(),
        }
    }

    /// Claims nothing more (every clone of this worker).
    pub fn stop(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Retry delay after the `attempt`th failure: 30 s, 1 min, 2 min, … capped at an hour.
pub fn backoff(attempt: i32) -> Duration {
    let exp = attempt.clamp(1, 8) - 1;
    Duration::seconds((30_i64 << exp).min(3600))
}

/// Claims the next due job of one queue, or `None`; never one of a tenant in `busy` (nor a platform job when
/// `platform_busy`), so one tenant's jobs cannot take every slot of a pass.
async fn claim(
    db: &DatabaseConnection,
    worker: &Worker,
    now: DateTime<Utc>,
    busy: &[TenantId],
    platform_busy: bool,
    deliveries: bool,
) -> Result<Option<job::Model>, DbErr> {
    let txn = db.begin().await?;
    let mut query = job::Entity::find()
        .filter(
            Condition::any()
                .add(
                    Condition::all()
                        .add(job::Column::State.eq(JobState::Queued))
                        .add(job::Column::RunAt.lte(now)),
                )
                .add(
                    Condition::all()
                        .add(job::Column::State.eq(JobState::Running))
                        .add(job::Column::LockedUntil.lt(now)),
                ),
        )
        .order_by_asc(job::Column::RunAt)
        .limit(1);
    if !busy.is_empty() {
        query = query.filter(
            Condition::any()
                .add(job::Column::TenantId.is_null())
                .add(job::Column::TenantId.is_not_in(busy.iter().copied())),
        );
    }
    if platform_busy {
        query = query.filter(job::Column::TenantId.is_not_null());
    }
    query = if deliveries {
        query.filter(job::Column::Kind.is_in(DELIVERIES))
    } else {
        query.filter(job::Column::Kind.is_not_in(DELIVERIES))
    };
    if db.get_database_backend() == DbBackend::Postgres {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let Some(found) = query.one(&txn).await? else {
        txn.commit().await?;
        return Ok(None);
    };
    let attempts = found.attempts + 1;
    let mut model: job::ActiveModel = found.into();
    model.state = Set(JobState::Running);
    model.locked_by = Set(Some(worker.id.clone()));
    model.locked_until = Set(Some(now + worker.lease));
    model.attempts = Set(attempts);
    model.updated_at = Set(Utc::now());
    let claimed = model.update(&txn).await?;
    txn.commit().await?;
    Ok(Some(claimed))
}

/// Records the end of a run that did not commit its own completion.
async fn settle(
    db: &DatabaseConnection,
    worker: &Worker,
    job: &job::Model,
    result: &Result<Outcome, AppError>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mine = |q: sea_orm::UpdateMany<job::Entity>| {
        q.filter(job::Column::Id.eq(job.id))
            .filter(job::Column::State.eq(JobState::Running))
            .filter(job::Column::LockedBy.eq(worker.id.clone()))
    };
    let unlocked = Option::<DateTime<Utc>>::None;
    let mut dead = false;
    let update = match result {
        Ok(Outcome::Done) => job::Entity::update_many()
            .col_expr(job::Column::State, JobState::Done.into())
            .col_expr(job::Column::FinishedAt, Some(now).into()),
        Ok(Outcome::Later(at)) => job::Entity::update_many()
            .col_expr(job::Column::State, JobState::Queued.into())
            .col_expr(job::Column::RunAt, (*at).into())
            .col_expr(job::Column::Attempts, (job.attempts - 1).max(0).into()),
        Err(e) => {
            let message = describe(e);
            if job.attempts >= job.max_attempts {
                dead = true;
                job::Entity::update_many()
                    .col_expr(job::Column::State, JobState::Dead.into())
                    .col_expr(job::Column::FinishedAt, Some(now).into())
                    .col_expr(job::Column::LastError, Some(message).into())
            } else {
                job::Entity::update_many()
                    .col_expr(job::Column::State, JobState::Queued.into())
                    .col_expr(job::Column::RunAt, (now + backoff(job.attempts)).into())
                    .col_expr(job::Column::LastError, Some(message).into())
            }
        }
    };
    mine(
        update
            .col_expr(job::Column::LockedUntil, unlocked.into())
            .col_expr(job::Column::UpdatedAt, Utc::now().into()),
    )
    .exec(db)
    .await?;
    Ok(dead)
}

/// An error as a job records it: what the caller would have been told, internals only in the server log.
fn describe(e: &AppError) -> String {
    match e {
        AppError::Internal(cause) => {
            tracing::error!(error = ?cause, "job failed");
            "internal error (see the server log)".into()
        }
        other => other.to_string(),
    }
}

/// A job as privacy officers see it.
#[derive(Clone, Debug)]
pub struct JobRecord {
    pub queue: String,
    pub model: job::Model,
}

/// Jobs of every queue in a state, newest first (at most 200).
pub async fn list(tenancy: &Tenancy, state: JobState) -> Result<Vec<JobRecord>, AppError> {
    let mut all = Vec::new();
    let control = std::iter::once((CONTROL, tenancy.system().control()));
    for (queue, db) in control.chain(tenancy.system().regions()) {
        let rows = job::Entity::find()
            .filter(job::Column::State.eq(state))
            .order_by_desc(job::Column::Id)
            .limit(200)
            .all(db)
            .await?;
        all.extend(rows.into_iter().map(|model| JobRecord {
            queue: queue.to_owned(),
            model,
        }));
    }
    all.sort_by_key(|j| std::cmp::Reverse(j.model.id));
    all.truncate(200);
    Ok(all)
}

/// Puts a dead job back in the queue with a fresh set of attempts, audited in the same transaction (the tenant's
/// chain for a tenant's job, the platform's otherwise).
pub async fn retry(
    tenancy: &Tenancy,
    principal: &crate::auth::Principal,
    id: JobId,
) -> Result<JobRecord, AppError> {
    let control = std::iter::once((CONTROL, tenancy.system().control()));
    for (queue, db) in control.chain(tenancy.system().regions()) {
        let Some(found) = job::Entity::find_by_id(id).one(db).await? else {
            continue;
        };
        if found.state != JobState::Dead {
            return Err(AppError::Conflict(format!(
                "job {id} is {}; only a dead job can be retried",
                found.state
            )));
        }
        let entry = crate::audit::AuditEntry::by(principal, "job.retried", "job", id)
            .with_detail(json!({ "kind": found.kind, "queue": queue }));
        let tenant = found.tenant_id.map(TenantId);
        let txn = db.begin().await?;
        let mut model: job::ActiveModel = found.into();
        model.state = Set(JobState::Queued);
        model.attempts = Set(0);
        model.run_at = Set(Utc::now());
        model.finished_at = Set(None);
        model.updated_at = Set(Utc::now());
        let model = model.update(&txn).await?;
        if queue == CONTROL {
            crate::audit::append_platform(&txn, entry).await?;
        } else if let Some(tenant) = tenant {
            crate::audit::append_tenant(&txn, tenant, entry).await?;
        } else {
            return Err(AppError::internal(anyhow::anyhow!(
                "region job {id} without a tenant"
            )));
        }
        txn.commit().await?;
        return Ok(JobRecord {
            queue: queue.to_owned(),
            model,
        });
    }
    Err(AppError::NotFound(format!("no job {id}")))
}

/// Enqueues the recurring sweeps of the current period (deduplicated, so each runs once per period across every
/// instance) and prunes finished jobs older than 30 days.
pub async fn schedule_sweeps(
    tenancy: &Tenancy,
    now: DateTime<Utc>,
    period: std::time::Duration,
) -> Result<(), AppError> {
    let period = period.as_secs().max(1) as i64;
    let slot = now.timestamp() / period;
    let control = tenancy.system().control();
    for job in [
        Job::ActivateSubProcessors { slot },
        Job::ReleaseDisclosureNotices { slot },
        Job::RetentionSweep { slot },
        Job::ApplyDeferredAudit { slot },
    ] {
        // `<kind>@<slot>`, as before the jobs were typed, so a sweep already queued by an older build counts.
        let key = format!("{}@{slot}", job.kind());
        let mut new = NewJob::new(job);
        new.dedupe_key = Some(key);
        enqueue(control, new).await?;
    }
    let horizon = now - Duration::days(30);
    let control = std::iter::once((CONTROL, control));
    for (_, db) in control.chain(tenancy.system().regions()) {
        job::Entity::delete_many()
            .filter(job::Column::State.eq(JobState::Done))
            .filter(job::Column::FinishedAt.lt(horizon))
            .exec(db)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::run::unwound;
    use super::*;

    /// Rows keep the shape they had before jobs were typed: the kind names, and payloads with the same fields.
    #[test]
    fn jobs_are_stored_as_before() {
        let id = Uuid::now_v7();
        let erase = Job::Erase {
            request: RequestId(id),
            subject: SubjectId(id),
        };
        let (kind, payload) = erase.stored();
        assert_eq!(kind, "request.erase");
        assert_eq!(payload, json!({ "request": id, "subject": id }));
        let row = |kind: &str, payload: Value| job::Model {
            id,
            kind: kind.into(),
            tenant_id: None,
            payload,
            dedupe_key: None,
            state: JobState::Queued,
            attempts: 0,
            max_attempts: 8,
            run_at: Utc::now(),
            locked_by: None,
            locked_until: None,
            last_error: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            finished_at: None,
        };
        assert_eq!(
            Job::of(&row(
                "request.deadline",
                json!({ "request": id, "due_on": "2026-12-31" })
            ))
            .unwrap(),
            Job::RequestDeadline {
                request: RequestId(id),
                due_on: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()
            }
        );
        assert_eq!(
            Job::of(&row("sweep.retention", json!({ "slot": 7 }))).unwrap(),
            Job::RetentionSweep { slot: 7 }
        );
        assert!(Job::of(&row("sweep.unheard_of", json!({ "slot": 7 }))).is_err());
        assert!(Job::of(&row("notice.deliver", json!({ "other": 7 }))).is_err());
        // Every delivery kind is a kind.
        for kind in DELIVERIES {
            let job = match kind {
                "notice.deliver" => Job::DeliverNotice {
                    notice: NoticeId(id),
                },
                _ => Job::DeliverErasure {
                    propagation: PropagationId(id),
                },
            };
            assert_eq!(job.kind(), kind);
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_fails_its_job_not_the_worker() {
        let panicked = unwound("erasure.run", async {
            if Utc::now().timestamp() > 0 {
                panic!("a bug in a handler");
            }
            Ok(Outcome::Done)
        })
        .await;
        match panicked {
            Err(AppError::Internal(cause)) => {
                assert!(
                    cause
                        .to_string()
                        .contains("`erasure.run` job's handler panicked")
                );
            }
            other => panic!("expected an internal error, got {other:?}"),
        }
        // The same task goes on to run the next job.
        assert!(matches!(
            unwound("retention.sweep", async { Ok(Outcome::Done) }).await,
            Ok(Outcome::Done)
        ));
    }
}
