//! Erasure certificates: a signed statement of what an erasure deleted and whom it told.

use super::*;
use crate::ids::{RequestId, SubjectId};
use steward_entities::erasure_propagation::{PropagationMethod, PropagationState};

/// A signed erasure certificate: `document` is the exact JSON text that was signed.
#[derive(Clone, Debug)]
pub struct Certificate {
    pub document: String,
    pub signature: String,
    pub public_key: String,
}

/// The public half of the certificate key, base64.
pub fn certificate_public_key(tenancy: &Tenancy) -> String {
    base64::engine::general_purpose::STANDARD.encode(
        tenancy
            .keyring()
            .certificate_key()
            .verifying_key()
            .to_bytes(),
    )
}

/// The certificate of a completed erasure: what was erased (counts per category), where it was propagated and when
/// each recipient acknowledged, and the audit events that record it. Deterministic: asking twice gives the same bytes.
pub async fn certificate(
    tenancy: &Tenancy,
    scope: &Scope,
    request_id: RequestId,
    issuer: &str,
) -> Result<Certificate, AppError> {
    let request = get(scope, request_id).await?;
    if request.kind != RequestKind::Erasure || request.state != RequestState::Completed {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::NoCertificate,
            message: "a certificate exists only for a completed erasure request".into(),
        });
    }
    let tombstone = tombstone_of(scope, &request).await?.ok_or_else(|| {
        AppError::internal(anyhow::anyhow!(
            "completed erasure {request_id} without tombstone"
        ))
    })?;
    let propagations: Vec<Value> = crate::erasure::propagation::propagations(
        scope,
        RequestId(request.id),
    )
    .await?
    .into_iter()
    .map(|p| {
        Ok(json!({
            "sub_processor_id": p.sub_processor_id,
            "sub_processor": p.sub_processor_name,
            "categories": p.categories,
            "method": p.method,
            // Where a webhook request went, and the `webhook-id` the sub-processor received it under.
            "endpoint": p.endpoint.as_deref().map(crate::outbound::shown_endpoint),
            "webhook_id": (p.method == PropagationMethod::Webhook)
                .then(|| format!("msg_{}", p.id.simple())),
            // What settled it, from its state: a webhook's 2xx answer is receipt of the request, not proof of erasure;
            // a confirmation is a named person's word, whatever the method.
            "acknowledgement": match (p.state, p.method) {
                (PropagationState::Acknowledged, _) => "receipt: the endpoint answered 2xx to the request",
                (PropagationState::Confirmed, _) => "confirmed by a named person",
                (_, PropagationMethod::Webhook) => "none yet: the webhook has not answered 2xx",
                (_, PropagationMethod::Manual) => "none yet: no one has confirmed it",
            },
            "attempts": p.attempts,
            "state": p.state.as_str(),
            "acknowledged_at": p.acknowledged_at.map(audit::canonical_time),
            "reference": p.ack_reference,
            "confirmed_by": p.confirmed_name,
        }))
    })
    .collect::<Result<_, AppError>>()?;
    let events: Vec<Value> = scope
        .find::<audit_event::Entity>()
        .filter(audit_event::Column::ObjectId.eq(request.id.to_string()))
        .order_by_asc(audit_event::Column::Seq)
        .all(scope.db())
        .await?
        .into_iter()
        .map(|e| json!({ "seq": e.seq, "action": e.action, "hash": e.hash }))
        .collect();
    let counts = &tombstone.counts;
    let key_destroyed = crate::erasure::key_destroyed(scope, SubjectId(request.subject_id)).await?;
    // Final once every recipient acknowledged or confirmed; until then the certificate says which have not.
    let settled = propagations
        .iter()
        .all(|p| matches!(p["state"].as_str(), Some("acknowledged" | "confirmed")));
    let document = json!({
        "type": "steward.erasure-certificate/v2",
        "issuer": issuer,
        "tenant_id": scope.tenant_id().0,
        "request_id": request.id,
        "subject_id": request.subject_id,
        "origin": request.origin,
        "received_at": audit::canonical_time(request.received_at),
        "erased_at": audit::canonical_time(tombstone.erased_at),
        "completed_at": request.completed_at.map(audit::canonical_time),
        "values_erased": tombstone.values_erased,
        "counts_by_category": counts,
        "data_key_destroyed": key_destroyed,
        "final": settled,
        "propagations": propagations,
        "audit_events": events,
    })
    .to_string();
    let key = tenancy.keyring().certificate_key();
    let signature = key.sign(document.as_bytes());
    let b64 = base64::engine::general_purpose::STANDARD;
    Ok(Certificate {
        signature: b64.encode(signature.to_bytes()),
        public_key: b64.encode(key.verifying_key().to_bytes()),
        document,
    })
}
