//! What a change committed in the control database owes its tenant's region: the audit event for the tenant's chain
//! and, often, a notice to the tenant's admins. Both are written as one row of the control database's outbox in the
//! change's own transaction ([`defer`]); the row is then applied in one region transaction — the notice filed, the
//! event appended, at most once — right after the commit ([`apply_now`]), or by the next sweep if the process died
//! first ([`apply_all`]: at start and as the `sweep.audit_outbox` job). So the two databases can disagree for a moment,
//! never for good.

use sea_orm::{ConnectionTrait, DatabaseTransaction};
use uuid::Uuid;

use crate::audit::{self, AuditEntry, DeferredEffects};
use crate::error::AppError;
use crate::ids::TenantId;
use crate::tenancy::Tenancy;

/// An administrative notice to the tenant's admins, owed with a deferred event.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct OwedNotice {
    pub kind: String,
    pub title: String,
    pub body: String,
}

impl OwedNotice {
    pub fn new(kind: &str, title: &str, body: impl Into<String>) -> Self {
        OwedNotice {
            kind: kind.to_owned(),
            title: title.to_owned(),
            body: body.into(),
        }
    }
}

/// Files the owed notices, in the region transaction that appends their event.
struct FileNotice;

#[async_trait::async_trait]
impl DeferredEffects for FileNotice {
    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        tenant: TenantId,
        effect: serde_json::Value,
    ) -> Result<(), AppError> {
        let owed: Vec<OwedNotice> = serde_json::from_value(effect).map_err(|e| {
            AppError::internal(anyhow::anyhow!(
                "unreadable `audit_outbox.effect` value: {e}"
            ))
        })?;
        for n in owed {
            super::notify(txn, tenant, &n.kind, &n.title, &n.body).await?;
        }
        Ok(())
    }
}

/// Records, in the caller's control-database transaction, the event (and the notices) the tenant's region owes. Call
/// [`apply_now`] with the returned id after the commit.
pub async fn defer<C: ConnectionTrait>(
    control_txn: &C,
    tenant: TenantId,
    entry: &AuditEntry,
    notices: Vec<OwedNotice>,
) -> Result<Uuid, AppError> {
    let effect = if notices.is_empty() {
        None
    } else {
        Some(serde_json::to_value(notices).map_err(|e| AppError::internal(anyhow::anyhow!(e)))?)
    };
    Ok(audit::defer_tenant(control_txn, tenant, entry, effect).await?)
}

/// After the change committed: applies what it owes at once. Should that fail (the region unreachable, the process
/// stopping), it stays owed and the next sweep applies it; the change is done either way, so the caller is not told
/// of it as a failure.
pub async fn apply_now(tenancy: &Tenancy, id: Uuid) {
    if let Err(e) = audit::apply_deferred(tenancy, Some(&[id]), &FileNotice).await {
        tracing::warn!(event = %id, error = ?e, "a deferred audit event waits for the next sweep");
    }
}

/// Applies everything still owed, oldest first; returns how many events were appended.
pub async fn apply_all(tenancy: &Tenancy) -> Result<usize, AppError> {
    audit::apply_deferred(tenancy, None, &FileNotice).await
}
