//! Children under 13: the erasure Steward raises itself when a subject is known to be one.

use super::*;
use crate::ids::{RequestId, SubjectId};

/// What a subject update calls when it learns a subject is under 13.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChildErasures;

#[async_trait::async_trait]
impl subjects::ChildErasure for ChildErasures {
    async fn raise(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        scope: &Scope,
        subject: SubjectId,
    ) -> Result<Option<RequestId>, AppError> {
        raise_child_erasure(txn, scope, subject).await
    }
}

/// Raises the erasure owed for a child under 13, inside the caller's transaction, and queues it at once.
pub(crate) async fn raise_child_erasure<C: ConnectionTrait>(
    txn: &C,
    scope: &Scope,
    subject: SubjectId,
) -> Result<Option<RequestId>, AppError> {
    let now = Utc::now();
    let clock = scope.tenant().clock()?;
    let today = clock.day(now);
    let due_on = clock
        .calendar
        .add(ClockBasis::Business, today, DEADLINE_DAYS)?;
    let request = dsr_request::ActiveModel {
        tenant_id: Set(scope.tenant_id().0),
        id: Set(Uuid::now_v7()),
        subject_id: Set(subject.0),
        kind: Set(RequestKind::Erasure),
        origin: Set(RequestOrigin::ChildUnder13),
        state: Set(RequestState::InProgress),
        // One such request per subject, however often the flag is set.
        idempotency_key: Set(Some(format!("{CHILD_KEY_PREFIX}{subject}"))),
        submitted_by: Set("system:steward".into()),
        // `origin` says why; a note of ours would be one more thing about a child to seal.
        note_sealed: Set(None),
        payload_sealed: Set(None),
        received_at: Set(now),
        // Raised by Steward itself: the controller learns of it today.
        controller_received_on: Set(Some(today)),
        objected_purpose: Set(None),
        clock_basis: Set(ClockBasis::Business),
        due_on: Set(due_on),
        paused_at: Set(None),
        pause_reason_sealed: Set(None),
        paused_days: Set(0),
        extended_at: Set(None),
        extension_reason_sealed: Set(None),
        rejection_reason_sealed: Set(None),
        completed_at: Set(None),
        handled_by: Set(Some("system:steward".into())),
        reminded_for_due_on: Set(None),
        overdue_notified: Set(false),
        paused_while_overdue: Set(false),
        version: Set(1),
        updated_at: Set(now),
    };
    let inserted = dsr_request::Entity::insert(request)
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                dsr_request::Column::TenantId,
                dsr_request::Column::IdempotencyKey,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_with_returning(txn)
        .await;
    let request = match inserted {
        Ok(r) => r,
        // Already raised (SQLite and PostgreSQL report the skipped insert differently).
        Err(DbErr::RecordNotInserted | DbErr::RecordNotFound(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // Recorded in the caller's audit event (one event per chain and mutation), which names this request.
    crate::erasure::propagation::enqueue_erasure(txn, scope.tenant_id(), &request).await?;
    schedule_deadline(txn, scope.tenant_id(), &request).await?;
    crate::notices::notify(
        txn,
        scope.tenant_id(),
        "request.raised",
        "Erasure raised: a data subject is known to be under 13",
        &format!(
            "Subject {subject} is known to be under 13. Steward raised erasure request {} and refuses new personal data for this subject.",
            request.id
        ),
    )
    .await?;
    Ok(Some(RequestId(request.id)))
}
