//! Passing an erasure on to the sub-processors that received the data: one propagation row per recipient, delivered
//! by signed webhook (acknowledged by a 2xx answer) or confirmed by a named person.

use std::collections::BTreeSet;
use steward_entities::erasure_propagation::{PropagationMethod, PropagationState};
use steward_entities::job::JobState;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{Value, json};
use steward_entities::{dsr_request, erasure_propagation, job, subprocessor};
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::error::AppError;
use crate::ids::{PropagationId, RequestId, SubProcessorId, SubjectId, TenantId};
use crate::jobs::{self, Job, NewJob, Outcome};
use crate::tenancy::{Scope, Tenancy, Unaudited, Work};
use crate::validate;

/// The longest confirmation note a person may leave.
const MAX_NOTE_CHARS: usize = 2000;

/// One erasure to pass on to a sub-processor: a propagation row, and for a webhook recipient its delivery job, inside
/// the caller's transaction. `cause` is the erasure request, the retention run or the offboarded tenant. Returns the
/// propagation's id and method.
pub(crate) async fn propagate(
    txn: &Work,
    cause: Uuid,
    subject: SubjectId,
    (sp_id, sp): (SubProcessorId, Option<&subprocessor::Model>),
    categories: &BTreeSet<String>,
) -> Result<(PropagationId, PropagationMethod), AppError> {
    let endpoint = sp.and_then(|s| s.erasure_endpoint.clone());
    let method = if endpoint.is_some() {
        PropagationMethod::Webhook
    } else {
        PropagationMethod::Manual
    };
    let id = PropagationId::new();
    txn.insert(erasure_propagation::ActiveModel {
        id: Set(id.0),
        request_id: Set(cause),
        subject_id: Set(subject.0),
        sub_processor_id: Set(sp_id.0),
        sub_processor_name: Set(sp
            .map(|s| s.name.clone())
            .unwrap_or_else(|| sp_id.to_string())),
        categories: Set(categories.iter().cloned().collect()),
        method: Set(method),
        endpoint: Set(endpoint.clone()),
        state: Set(PropagationState::Pending),
        attempts: Set(0),
        last_error: Set(None),
        created_at: Set(Utc::now()),
        acknowledged_at: Set(None),
        ack_reference: Set(None),
        confirmed_by: Set(None),
        confirmed_name: Set(None),
        confirmation_note: Set(None),
        ..Default::default()
    })
    .await?;
    if endpoint.is_some() {
        jobs::enqueue(
            txn,
            NewJob::new(Job::DeliverErasure { propagation: id })
                .for_tenant(txn.tenant_id())
                .dedupe(id),
        )
        .await?;
    }
    Ok((id, method))
}

/// Sends one erasure request to a sub-processor's webhook, signed; a 2xx answer is its acknowledgement.
pub(crate) async fn deliver(
    tenancy: &Tenancy,
    scope: &Scope,
    job: &job::Model,
    id: PropagationId,
    now: DateTime<Utc>,
) -> Result<Outcome, AppError> {
    let tenant = scope.tenant_id();
    let Some(propagation) = scope
        .find::<erasure_propagation::Entity>()
        .filter(erasure_propagation::Column::Id.eq(id))
        .one(scope.db())
        .await?
    else {
        return Ok(Outcome::Done);
    };
    if propagation.state.is_done() {
        return Ok(Outcome::Done);
    }
    // The entry as it is now: legal may have moved its endpoint, rotated its secret or turned it to manual since the
    // request was queued; a retry goes where the sub-processor takes requests today, signed with today's secrets.
    let sub_processor = subprocessor::Entity::find_by_id(propagation.sub_processor_id)
        .one(tenancy.system().control())
        .await?
        .ok_or_else(|| {
            AppError::internal(anyhow::anyhow!(
                "propagation {id} names no sub-processor of the registry"
            ))
        })?;
    let Some(endpoint) = sub_processor.erasure_endpoint.clone() else {
        return to_manual(scope, job, &propagation).await;
    };
    let categories = &propagation.categories;
    let body = json!({
        "type": "steward.erasure-request",
        "propagation_id": propagation.id,
        "request_id": propagation.request_id,
        "controller_tenant_id": tenant.0,
        "subject_id": propagation.subject_id,
        "categories": categories,
        "requested_at": propagation.created_at,
    })
    .to_string();
    let headers = crate::outbound::StoredSecrets {
        owner: sub_processor.id,
        current: sub_processor.webhook_secret_sealed.as_deref(),
        previous: sub_processor
            .webhook_previous_secret_sealed
            .as_deref()
            .zip(sub_processor.webhook_previous_until),
    }
    .delivery_headers(tenancy.keyring(), propagation.id, &body, now)
    .map_err(AppError::internal)?;
    let sent = tenancy
        .outbound()
        .post_json(&endpoint, &headers, body)
        .await;
    let failure = match sent {
        Ok(answer) => {
            let reference = serde_json::from_slice::<Value>(&answer.body)
                .ok()
                .and_then(|v| {
                    v["reference"]
                        .as_str()
                        .map(|s| s.chars().take(200).collect::<String>())
                });
            let mut txn = scope.begin().await?;
            // Conditional: a person may have confirmed it by hand meanwhile; that stands.
            let acknowledged = scope
                .update_many::<erasure_propagation::Entity>()
                .col_expr(
                    erasure_propagation::Column::State,
                    PropagationState::Acknowledged.into(),
                )
                .col_expr(
                    erasure_propagation::Column::Attempts,
                    (propagation.attempts + 1).into(),
                )
                .col_expr(
                    erasure_propagation::Column::AcknowledgedAt,
                    Some(Utc::now()).into(),
                )
                .col_expr(erasure_propagation::Column::AckReference, reference.into())
                .col_expr(
                    erasure_propagation::Column::Endpoint,
                    Some(endpoint.clone()).into(),
                )
                .col_expr(
                    erasure_propagation::Column::LastError,
                    Option::<String>::None.into(),
                )
                .filter(erasure_propagation::Column::Id.eq(id))
                .filter(
                    erasure_propagation::Column::State
                        .is_in([PropagationState::Pending, PropagationState::Failed]),
                )
                .exec(&txn)
                .await?;
            if acknowledged.rows_affected == 0 {
                jobs::complete_in(&txn, job).await?;
                txn.commit_unaudited(Unaudited::NothingChanged).await?;
                return Ok(Outcome::Done);
            }
            txn.record(AuditEntry::system("erasure.propagation_acknowledged", "dsr_request", propagation.request_id)
                    .with_detail(json!({ "propagation": id, "sub_processor": propagation.sub_processor_id, "attempts": propagation.attempts + 1 }))).await?;
            jobs::complete_in(&txn, job).await?;
            txn.commit_recorded().await?;
            return Ok(Outcome::Done);
        }
        Err(failure) => failure.to_string(),
    };
    let last = job.attempts >= job.max_attempts;
    // Conditional, as the acknowledgement: a person who confirmed it during this attempt is not overwritten.
    let mut failed = scope
        .update_many::<erasure_propagation::Entity>()
        .col_expr(
            erasure_propagation::Column::Attempts,
            (propagation.attempts + 1).into(),
        )
        .col_expr(
            erasure_propagation::Column::LastError,
            Some(failure.clone()).into(),
        )
        .col_expr(erasure_propagation::Column::Endpoint, Some(endpoint).into());
    if last {
        failed = failed.col_expr(
            erasure_propagation::Column::State,
            PropagationState::Failed.into(),
        );
    }
    failed
        .filter(erasure_propagation::Column::Id.eq(id))
        .filter(
            erasure_propagation::Column::State
                .is_in([PropagationState::Pending, PropagationState::Failed]),
        )
        .exec(scope.writer())
        .await?;
    Err(AppError::BadInput(format!(
        "erasure webhook of {}: {failure}",
        propagation.sub_processor_name
    )))
}

/// A webhook propagation whose sub-processor takes requests by hand now: it becomes a manual one, still outstanding,
/// for a person to send and confirm; its delivery job ends.
async fn to_manual(
    scope: &Scope,
    job: &job::Model,
    propagation: &erasure_propagation::Model,
) -> Result<Outcome, AppError> {
    let mut txn = scope.begin().await?;
    let switched = scope
        .update_many::<erasure_propagation::Entity>()
        .col_expr(
            erasure_propagation::Column::Method,
            PropagationMethod::Manual.into(),
        )
        .col_expr(
            erasure_propagation::Column::Endpoint,
            Option::<String>::None.into(),
        )
        .col_expr(
            erasure_propagation::Column::LastError,
            Some(
                "the sub-processor no longer has an erasure webhook: send the request by hand and confirm it"
                    .to_owned(),
            )
            .into(),
        )
        .filter(erasure_propagation::Column::Id.eq(propagation.id))
        .filter(
            erasure_propagation::Column::State
                .is_in([PropagationState::Pending, PropagationState::Failed]),
        )
        .exec(&txn)
        .await?;
    jobs::complete_in(&txn, job).await?;
    if switched.rows_affected == 0 {
        txn.commit_unaudited(Unaudited::NothingChanged).await?;
        return Ok(Outcome::Done);
    }
    txn.record(
        AuditEntry::system(
            "erasure.propagation_manual",
            "dsr_request",
            propagation.request_id,
        )
        .with_detail(
            json!({ "propagation": propagation.id, "sub_processor": propagation.sub_processor_id }),
        ),
    )
    .await?;
    txn.commit_recorded().await?;
    Ok(Outcome::Done)
}

/// The propagations of an erasure request, oldest first.
pub async fn propagations(
    scope: &Scope,
    request: RequestId,
) -> Result<Vec<erasure_propagation::Model>, AppError> {
    Ok(scope
        .find::<erasure_propagation::Entity>()
        .filter(erasure_propagation::Column::RequestId.eq(request))
        .order_by_asc(erasure_propagation::Column::Id)
        .all(scope.db())
        .await?)
}

/// The most propagations [`of_tenant`] returns.
pub const MAX_LISTED: u64 = 500;

/// A tenant's propagations of every cause (requests, retention runs, its offboarding), newest first, at most
/// [`MAX_LISTED`]; `outstanding_only` for those neither acknowledged nor confirmed — what a privacy officer still has
/// to chase, including after the tenant was terminated.
pub async fn of_tenant(
    scope: &Scope,
    outstanding_only: bool,
) -> Result<Vec<erasure_propagation::Model>, AppError> {
    let mut query = scope.find::<erasure_propagation::Entity>();
    if outstanding_only {
        query = query.filter(
            erasure_propagation::Column::State
                .is_in([PropagationState::Pending, PropagationState::Failed]),
        );
    }
    Ok(query
        .order_by_desc(erasure_propagation::Column::Id)
        .limit(MAX_LISTED)
        .all(scope.db())
        .await?)
}

/// Confirms by hand that a sub-processor erased the data (manual propagations, or webhooks that gave up).
pub async fn confirm_propagation(
    scope: &Scope,
    id: PropagationId,
    confirmed_name: &str,
    note: Option<&str>,
) -> Result<erasure_propagation::Model, AppError> {
    let confirmed_name = validate::text("confirmedBy", confirmed_name, 200)?;
    let note = note
        .map(|n| validate::text("note", n, MAX_NOTE_CHARS))
        .transpose()?;
    let propagation = scope
        .find::<erasure_propagation::Entity>()
        .filter(erasure_propagation::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no erasure propagation {id}")))?;
    if propagation.state.is_done() {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::AlreadySettled,
            message: format!("this propagation is already {}", propagation.state),
        });
    }
    let txn = scope.begin().await?;
    let mut model: erasure_propagation::ActiveModel = propagation.clone().into();
    model.state = Set(PropagationState::Confirmed);
    model.acknowledged_at = Set(Some(Utc::now()));
    model.confirmed_by = Set(Some(scope.principal().label()));
    model.confirmed_name = Set(Some(confirmed_name));
    model.confirmation_note = Set(note);
    let updated = model.update(&txn).await?;
    // A webhook delivery still queued for it has nothing left to do.
    job::Entity::update_many()
        .col_expr(job::Column::State, JobState::Done.into())
        .col_expr(job::Column::FinishedAt, Some(Utc::now()).into())
        .filter(job::Column::DedupeKey.eq(Job::DeliverErasure { propagation: id }.key(id)))
        .filter(job::Column::State.is_in([JobState::Queued, JobState::Dead]))
        .exec(&txn)
        .await?;
    txn.commit(
        AuditEntry::by(
            scope.principal(),
            "erasure.propagation_confirmed",
            "dsr_request",
            propagation.request_id,
        )
        .with_detail(json!({ "propagation": id, "sub_processor": propagation.sub_processor_id })),
    )
    .await?;
    Ok(updated)
}

/// Queues an erasure again after a legal hold that held it back was lifted (`attempt` keeps the job key unique).
pub(crate) async fn requeue_erasure<C: ConnectionTrait>(
    txn: &C,
    tenant: TenantId,
    request: &dsr_request::Model,
    attempt: &str,
) -> Result<(), DbErr> {
    jobs::enqueue(
        txn,
        NewJob::new(Job::Erase {
            request: RequestId(request.id),
            subject: SubjectId(request.subject_id),
        })
        .for_tenant(tenant)
        .dedupe(format!("{}:{attempt}", request.id)),
    )
    .await?;
    Ok(())
}

pub(crate) async fn enqueue_erasure<C: ConnectionTrait>(
    txn: &C,
    tenant: TenantId,
    request: &dsr_request::Model,
) -> Result<(), DbErr> {
    jobs::enqueue(
        txn,
        NewJob::new(Job::Erase {
            request: RequestId(request.id),
            subject: SubjectId(request.subject_id),
        })
        .for_tenant(tenant)
        .dedupe(request.id),
    )
    .await?;
    Ok(())
}
