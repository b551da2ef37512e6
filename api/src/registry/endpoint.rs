//! Where a sub-processor takes erasure requests, and the secret its webhooks are signed with (Standard Webhooks:
//! random per endpoint, stored wrapped, shown once, rotatable with an overlap in which both secrets sign).

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use serde_json::json;
use steward_entities::subprocessor;
use steward_policy::Permission;

use super::get;
use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::crypto::WebhookSecret;
use crate::error::AppError;
use crate::ids::SubProcessorId;
use crate::tenancy::Tenancy;

/// Sets where a sub-processor takes erasure requests: an `https://` webhook to a public address (see
/// [`crate::outbound`]), or `None` for requests sent by hand and confirmed by a named person. A webhook gets a new
/// random signing secret, returned this once as `whsec_…` to hand to the sub-processor.
pub async fn set_erasure_endpoint(
    tenancy: &Tenancy,
    principal: &Principal,
    id: SubProcessorId,
    endpoint: Option<&str>,
) -> Result<(subprocessor::Model, Option<String>), AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::SubprocessorManage)
        .await?;
    let endpoint = endpoint
        .map(|e| tenancy.outbound().check_url("endpoint", e))
        .transpose()?;
    let secret = endpoint
        .as_ref()
        .map(|_| WebhookSecret::generate())
        .transpose()
        .map_err(AppError::internal)?;
    let sealed = secret
        .as_ref()
        .map(|s| tenancy.keyring().wrap_webhook_secret(id.0, s))
        .transpose()
        .map_err(AppError::internal)?;
    let sp = get(tenancy, id).await?;
    let previous_endpoint = sp.erasure_endpoint.clone();
    let txn = platform.control().begin().await?;
    let mut model: subprocessor::ActiveModel = sp.into();
    model.erasure_endpoint = Set(endpoint.clone());
    model.webhook_secret_sealed = Set(sealed);
    model.webhook_previous_secret_sealed = Set(None);
    model.webhook_previous_until = Set(None);
    model.updated_at = Set(Utc::now());
    let updated = model.update(&txn).await?;
    audit::append_platform(
        &txn,
        AuditEntry::by(
            principal,
            "subprocessor.erasure_endpoint_set",
            "subprocessor",
            id,
        )
        .with_detail(json!({
            "method": if endpoint.is_some() { "webhook" } else { "manual" },
            "endpoint": endpoint.as_deref().map(crate::outbound::shown_endpoint),
            "previous_endpoint": previous_endpoint.as_deref().map(crate::outbound::shown_endpoint),
        })),
    )
    .await?;
    txn.commit().await?;
    Ok((updated, secret.map(|s| s.to_whsec())))
}

/// Gives a sub-processor's erasure webhook a new random secret (legal), returned this once; for `overlap_hours`
/// (0–168) requests also carry a signature made with the previous secret.
pub async fn rotate_erasure_secret(
    tenancy: &Tenancy,
    principal: &Principal,
    id: SubProcessorId,
    overlap_hours: i32,
) -> Result<(subprocessor::Model, String, Option<DateTime<Utc>>), AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::SubprocessorManage)
        .await?;
    let overlap = crate::outbound::rotation_overlap(overlap_hours)?;
    let keyring = tenancy.keyring();
    let secret = WebhookSecret::generate().map_err(AppError::internal)?;
    let sealed = keyring
        .wrap_webhook_secret(id.0, &secret)
        .map_err(AppError::internal)?;
    let sp = get(tenancy, id).await?;
    if sp.erasure_endpoint.is_none() {
        return Err(AppError::BadInput(
            "this sub-processor takes erasure requests by hand: it has no webhook secret to rotate"
                .into(),
        ));
    }
    let previous = crate::outbound::StoredSecrets {
        owner: id.0,
        current: sp.webhook_secret_sealed.as_deref(),
        previous: None,
    }
    .sealed_current(keyring)
    .map_err(AppError::internal)?;
    let now = Utc::now();
    let previous_until = overlap.map(|o| now + o);
    let txn = platform.control().begin().await?;
    let mut model: subprocessor::ActiveModel = sp.into();
    model.webhook_secret_sealed = Set(Some(sealed));
    model.webhook_previous_secret_sealed = Set(previous_until.map(|_| previous));
    model.webhook_previous_until = Set(previous_until);
    model.updated_at = Set(now);
    let updated = model.update(&txn).await?;
    audit::append_platform(
        &txn,
        AuditEntry::by(
            principal,
            "subprocessor.erasure_secret_rotated",
            "subprocessor",
            id,
        )
        .with_detail(json!({ "overlap_hours": overlap_hours })),
    )
    .await?;
    txn.commit().await?;
    Ok((updated, secret.to_whsec(), previous_until))
}
