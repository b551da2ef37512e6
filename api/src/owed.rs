//! What a change committed in the control database owes its tenant's region: the event for the tenant's audit chain
//! and the region-side work that goes with the change (a notice to the tenant's admins, a job in the tenant's queue,
//! the departing tenant's export). A change cannot commit in both databases at once, so it commits all of that as one
//! row of the control database's outbox in its own transaction ([`defer`]). The row is then applied in one region
//! transaction — the work done, the event appended, at most once — right after the commit ([`apply_now`]), or by the
//! next process if this one died first ([`apply_all`], at start and as the `sweep.audit_outbox` job). The databases can
//! disagree for a moment, never for good.
//!
//! Each [`Owed`] is carried out by the top layer (`crate::worker::carry_out`), which knows the domains; it registers
//! itself once with [`register`], as the job dispatcher does for jobs.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use steward_entities::audit_outbox;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::error::AppError;
use crate::ids::TenantId;
use crate::jobs::Job;
use crate::tenancy::{Scope, Tenancy, Unaudited, Work};

/// One piece of region-side work a control-database change owes its tenant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "owed", rename_all = "snake_case")]
pub enum Owed {
    /// An administrative notice to the tenant's admins (inbox, then email and webhook).
    Notice {
        kind: String,
        title: String,
        body: String,
    },
    /// A job in the tenant's queue, one per tenant (deduplicated by the job's key and the tenant's id).
    Job { job: Job, run_at: DateTime<Utc> },
    /// A notice of either class to some of the tenant's roles (by name), for announcements to many tenants.
    Announcement {
        kind: String,
        marketing: bool,
        audience: Vec<String>,
        title: String,
        body: String,
    },
    /// Moves the tenant's queued job with this deduplication key to `run_at`.
    RescheduleJob { key: String, run_at: DateTime<Utc> },
    /// Deletes the tenant's jobs with these deduplication keys.
    CancelJobs { keys: Vec<String> },
    /// Starts the departing tenant's export, downloadable until the window after `due` closes.
    StartTenantExport { due: Option<DateTime<Utc>> },
    /// Deletes the tenant's export.
    DeleteTenantExport,
}

impl Owed {
    pub fn announcement(
        kind: &str,
        class: steward_entities::notice::NoticeClass,
        audience: &[steward_policy::Role],
        title: &str,
        body: &str,
    ) -> Self {
        Owed::Announcement {
            kind: kind.to_owned(),
            marketing: class == steward_entities::notice::NoticeClass::Marketing,
            audience: audience.iter().map(|r| r.as_str().to_owned()).collect(),
            title: title.to_owned(),
            body: body.to_owned(),
        }
    }

    pub fn notice(kind: &str, title: &str, body: impl Into<String>) -> Self {
        Owed::Notice {
            kind: kind.to_owned(),
            title: title.to_owned(),
            body: body.into(),
        }
    }
}

/// Carries out one [`Owed`] in the region transaction that appends its event, for the tenant of `scope`.
pub type CarryOut = for<'a> fn(&'a Scope, &'a Work, Owed) -> BoxFuture<'a, Result<(), AppError>>;

static CARRY_OUT: OnceLock<CarryOut> = OnceLock::new();

/// Registers the function that carries out what is owed (the top layer does, when it builds the server).
pub fn register(carry_out: CarryOut) {
    let _ = CARRY_OUT.set(carry_out);
}

/// Carries out a deferred event's effect: the JSON list of [`Owed`] that [`defer`] stored.
async fn carry_out_effect(
    scope: &Scope,
    txn: &Work,
    effect: serde_json::Value,
) -> Result<(), AppError> {
    let owed: Vec<Owed> = serde_json::from_value(effect).map_err(|e| {
        AppError::internal(anyhow::anyhow!(
            "unreadable `audit_outbox.effect` value: {e}"
        ))
    })?;
    let carry_out = CARRY_OUT.get().ok_or_else(|| {
        AppError::internal(anyhow::anyhow!("nothing registered to carry out owed work"))
    })?;
    for o in owed {
        carry_out(scope, txn, o).await?;
    }
    Ok(())
}

/// Records, in the caller's control-database transaction, the event and the work the tenant's region owes. Call
/// [`apply_now`] with the returned id after the commit.
pub async fn defer<C: ConnectionTrait>(
    control_txn: &C,
    tenant: TenantId,
    entry: &AuditEntry,
    owed: Vec<Owed>,
) -> Result<Uuid, AppError> {
    let effect = if owed.is_empty() {
        None
    } else {
        Some(serde_json::to_value(owed).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?)
    };
    Ok(audit::defer_tenant(control_txn, tenant, entry, effect).await?)
}

/// What a control transaction owes tenants' regions: apply it once the transaction commits.
#[derive(Debug, Default)]
#[must_use = "apply what is owed once the control transaction commits"]
pub struct Owing(Vec<Uuid>);

impl Owing {
    pub fn push(&mut self, id: Uuid) {
        self.0.push(id);
    }

    /// Applies each owed row at once (see [`apply_now`]); returns how many tenants were owed.
    pub async fn apply(self, tenancy: &Tenancy) -> usize {
        for id in &self.0 {
            apply_now(tenancy, *id).await;
        }
        self.0.len()
    }
}

/// After the change committed: applies what it owes at once. Should that fail (the region unreachable, the process
/// stopping), it stays owed and the next sweep applies it; the change is done either way, so the caller is not told
/// of it as a failure.
pub async fn apply_now(tenancy: &Tenancy, id: Uuid) {
    if let Err(e) = apply(tenancy, Some(&[id])).await {
        tracing::warn!(event = %id, error = ?e, "owed work waits for the next sweep");
    }
}

/// Applies everything still owed, oldest first; returns how many events were appended.
pub async fn apply_all(tenancy: &Tenancy) -> Result<usize, AppError> {
    apply(tenancy, None).await
}

/// Called after a change and what it owes committed, before that is applied; set only by the test server, to stop a
/// process exactly there.
static BEFORE_APPLY: OnceLock<fn()> = OnceLock::new();

/// Sets [`BEFORE_APPLY`] (once per process): for tests that kill a server between the two databases.
pub fn set_before_apply(hook: fn()) {
    let _ = BEFORE_APPLY.set(hook);
}

/// Applies owed rows: the ones named, or (`None`) every one left, oldest first. Each row's event is appended and its
/// effect carried out in one region transaction, at most once under the event's id; then the row is deleted. A
/// failure between the two databases can delay them, never lose them, apply them twice, or record them without
/// their change. Returns how many were applied now.
async fn apply(tenancy: &Tenancy, only: Option<&[Uuid]>) -> Result<usize, AppError> {
    if only.is_some()
        && let Some(hook) = BEFORE_APPLY.get()
    {
        hook();
    }
    let control = tenancy.system().control();
    let mut query = audit_outbox::Entity::find().order_by_asc(audit_outbox::Column::Id);
    if let Some(ids) = only {
        query = query.filter(audit_outbox::Column::Id.is_in(ids.iter().copied()));
    }
    let mut appended = 0;
    let mut first_failure = None;
    // A row that cannot be applied now (its region unreachable, say) is left for the next sweep and does not hold
    // back the rows after it: each tenant's owed work (a breach notice among them) goes out as soon as it can.
    for row in query.all(control).await? {
        let id = row.id;
        match apply_row(tenancy, row).await {
            Ok(true) => appended += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(outbox_row = %id, error = %e, "owed work not applied; retried by the next sweep");
                first_failure.get_or_insert(e);
            }
        }
    }
    match first_failure {
        Some(e) => Err(e),
        None => Ok(appended),
    }
}

/// Applies one owed row and deletes it; `true` when its event was appended now (not found appended already).
async fn apply_row(tenancy: &Tenancy, row: audit_outbox::Model) -> Result<bool, AppError> {
    let control = tenancy.system().control();
    let entry: AuditEntry = serde_json::from_value(row.entry).map_err(|e| {
        AppError::internal(anyhow::anyhow!(
            "unreadable `audit_outbox.entry` value: {e}"
        ))
    })?;
    let scope = tenancy.system_scope(TenantId(row.tenant_id)).await?;
    let mut work = scope.begin().await?;
    let appended = work.record_deferred(row.id, entry).await?;
    if appended {
        if let Some(effect) = row.effect {
            carry_out_effect(&scope, &work, effect).await?;
        }
        work.commit_recorded().await?;
    } else {
        work.commit_unaudited(Unaudited::NothingChanged).await?;
    }
    audit_outbox::Entity::delete_by_id(row.id)
        .exec(control)
        .await?;
    Ok(appended)
}
