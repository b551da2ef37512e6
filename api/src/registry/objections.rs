//! A tenant's objections to a change, within its notice period, and how legal resolves them.

use super::*;
use crate::ids::{ChangeNoticeId, ObjectionId, TenantId};
use sea_orm::DatabaseTransaction;

/// Objects to a change before its effective date (the tenant's `client_admin`; scope opened for
/// `subprocessor:object`).
pub async fn object(
    tenancy: &Tenancy,
    scope: &Scope,
    notice_id: ChangeNoticeId,
    why: &str,
) -> Result<objection::Model, AppError> {
    let why = reason(why)?;
    let db = scope.control();
    let notice = scope
        .find_control::<change_notice::Entity>()
        .filter(change_notice::Column::Id.eq(notice_id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no change notice {notice_id}")))?;
    // The window closes at the start of the effective day, the tenant's own.
    let today = scope.tenant().clock()?.day(Utc::now());
    if today >= notice.effective_on {
        return Err(AppError::Conflict(format!(
            "the change took effect on {}; objections close on the effective date",
            notice.effective_on
        )));
    }
    // One standing objection per notice; a client that withdrew its own may object again in the window, an
    // objection legal resolved stays resolved.
    let earlier = scope
        .find_control::<objection::Entity>()
        .filter(objection::Column::NoticeId.eq(notice.id))
        .all(db)
        .await?;
    if let Some(o) = earlier.iter().find(|o| o.resolved_at.is_none()) {
        return Err(AppError::Conflict(format!(
            "this tenant has already objected to this change (objection {})",
            o.id
        )));
    }
    if let Some(o) = earlier.iter().find(|o| {
        o.resolution
            .is_some_and(|r| r != Resolution::WithdrawnByClient)
    }) {
        return Err(AppError::Conflict(format!(
            "legal resolved this tenant's objection to this change ({})",
            o.resolution.map_or("", |r| r.as_str())
        )));
    }
    let txn = db.begin().await?;
    let model = objection::ActiveModel {
        tenant_id: Set(notice.tenant_id),
        id: Set(Uuid::now_v7()),
        notice_id: Set(notice.id),
        sub_processor_id: Set(notice.sub_processor_id),
        reason: Set(why),
        raised_by: Set(scope.principal().label()),
        raised_at: Set(Utc::now()),
        resolution: Set(None),
        resolution_note: Set(None),
        resolved_by: Set(None),
        resolved_at: Set(None),
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        AppError::on_unique(e, || {
            "this tenant has already objected to this change".into()
        })
    })?;
    // The objection (control) and its event (the tenant's chain, in its region) commit through the audit outbox:
    // neither can be recorded without the other.
    let deferred = crate::owed::defer(
        &txn,
        scope.tenant_id(),
        &AuditEntry::by(
            scope.principal(),
            "subprocessor.objected",
            "objection",
            model.id,
        )
        .with_detail(json!({ "subprocessor": notice.sub_processor_id })),
        Vec::new(),
    )
    .await?;
    txn.commit().await?;
    crate::owed::apply_now(tenancy, deferred).await;
    Ok(model)
}

pub use steward_entities::objection::ObjectionResolution as Resolution;

/// Withdraws the scope's tenant's own standing objection (its `client_admin`): recorded as resolved
/// `WITHDRAWN_BY_CLIENT` by the client. A notice blocked by it (only the activation on its date blocks one) becomes
/// active at once; a notice still pending proceeds on its date like any other. Another tenant's objection is `NOT_FOUND`.
pub async fn withdraw(
    tenancy: &Tenancy,
    scope: &Scope,
    id: ObjectionId,
) -> Result<objection::Model, AppError> {
    let db = scope.control();
    let found = scope
        .find_control::<objection::Entity>()
        .filter(objection::Column::Id.eq(id))
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no objection {id}")))?;
    let now = Utc::now();
    let txn = db.begin().await?;
    // `settle` refuses an objection already resolved (CONFLICT), as it stands when this transaction writes.
    let withdrawn = settle(
        &txn,
        &found,
        Resolution::WithdrawnByClient,
        None,
        &scope.principal().label(),
    )
    .await?;
    change_notice::Entity::update_many()
        .col_expr(
            change_notice::Column::Status,
            ChangeNoticeStatus::Active.into(),
        )
        .col_expr(change_notice::Column::ActivatedAt, Some(now).into())
        .filter(change_notice::Column::Id.eq(found.notice_id))
        .filter(change_notice::Column::Status.eq(ChangeNoticeStatus::Blocked))
        .exec(&txn)
        .await?;
    let deferred = crate::owed::defer(
        &txn,
        scope.tenant_id(),
        &AuditEntry::by(
            scope.principal(),
            "subprocessor.objection_withdrawn",
            "objection",
            id,
        )
        .with_detail(json!({ "subprocessor": found.sub_processor_id })),
        Vec::new(),
    )
    .await?;
    txn.commit().await?;
    crate::owed::apply_now(tenancy, deferred).await;
    Ok(withdrawn)
}

/// Resolves an objection (legal).
pub async fn resolve(
    tenancy: &Tenancy,
    principal: &Principal,
    id: ObjectionId,
    resolution: Resolution,
    note: Option<&str>,
) -> Result<objection::Model, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::SubprocessorManage)
        .await?;
    let db = platform.control();
    let found = objection::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no objection {id}")))?;
    if found.resolved_at.is_some() {
        return Err(AppError::Conflict(
            "the objection is already resolved".into(),
        ));
    }
    if resolution == Resolution::WithdrawnByClient {
        return Err(AppError::BadInput(
            "only the client withdraws its objection (withdrawObjection, by its client_admin); legal resolves it \
             NOT_USED_FOR_TENANT or CONTRACT_TERMINATED"
                .into(),
        ));
    }
    let note = note
        .map(|n| crate::validate::text("note", n, 2000))
        .transpose()?;
    let sp = get(tenancy, SubProcessorId(found.sub_processor_id)).await?;
    let txn = db.begin().await?;
    let resolved = settle(&txn, &found, resolution, note.clone(), &principal.label()).await?;
    change_notice::Entity::update_many()
        .col_expr(
            change_notice::Column::Status,
            ChangeNoticeStatus::Excluded.into(),
        )
        .filter(change_notice::Column::Id.eq(found.notice_id))
        .exec(&txn)
        .await?;
    audit::append_platform(
        &txn,
        AuditEntry::by(principal, "objection.resolved", "objection", id)
            .with_detail(json!({ "resolution": resolution.as_str(), "tenant": found.tenant_id })),
    )
    .await?;
    // The client is told, and the resolution is in its own chain: both owed to its region with this transaction.
    let outcome = match resolution {
        Resolution::ContractTerminated => "your contract ends",
        _ => "it will not be used for your data",
    };
    let deferred = crate::owed::defer(
        &txn,
        TenantId(found.tenant_id),
        &AuditEntry::by(
            principal,
            "subprocessor.objection_resolved",
            "objection",
            id,
        )
        .with_detail(json!({ "resolution": resolution.as_str(), "subprocessor": sp.id })),
        vec![Owed::notice(
            NOTICE_SUBPROCESSOR_CHANGE,
            &format!("Your objection to {} was resolved", sp.name),
            format!(
                "{} resolved your objection to {}: {outcome}.{}",
                principal.label(),
                sp.name,
                note.map(|n| format!(" Note: {n}")).unwrap_or_default()
            ),
        )],
    )
    .await?;
    txn.commit().await?;
    crate::owed::apply_now(tenancy, deferred).await;
    Ok(resolved)
}

/// Closes a standing objection, only if it still stands as this transaction writes: of a client's withdrawal and
/// legal's resolution racing, one wins and the other is `CONFLICT`.
async fn settle(
    txn: &DatabaseTransaction,
    found: &objection::Model,
    resolution: Resolution,
    note: Option<String>,
    by: &str,
) -> Result<objection::Model, AppError> {
    let now = Utc::now();
    let done = objection::Entity::update_many()
        .col_expr(objection::Column::Resolution, Some(resolution).into())
        .col_expr(objection::Column::ResolutionNote, note.clone().into())
        .col_expr(objection::Column::ResolvedBy, Some(by.to_owned()).into())
        .col_expr(objection::Column::ResolvedAt, Some(now).into())
        .filter(objection::Column::Id.eq(found.id))
        .filter(objection::Column::ResolvedAt.is_null())
        .exec(txn)
        .await?;
    if done.rows_affected != 1 {
        return Err(AppError::Conflict(
            "the objection is already resolved".into(),
        ));
    }
    Ok(objection::Model {
        resolution: Some(resolution),
        resolution_note: note,
        resolved_by: Some(by.to_owned()),
        resolved_at: Some(now),
        ..found.clone()
    })
}

/// A tenant's change notices, newest first.
pub async fn notices_of(scope: &Scope) -> Result<Vec<change_notice::Model>, AppError> {
    Ok(scope
        .find_control::<change_notice::Entity>()
        .order_by_desc(change_notice::Column::Id)
        .all(scope.control())
        .await?)
}

/// Objections: one tenant's, or (for legal) everyone's; newest first.
pub async fn objections(
    tenancy: &Tenancy,
    tenant: Option<TenantId>,
    open_only: bool,
) -> Result<Vec<objection::Model>, AppError> {
    let mut query = objection::Entity::find();
    if let Some(t) = tenant {
        query = query.filter(objection::Column::TenantId.eq(t.0));
    }
    if open_only {
        query = query.filter(objection::Column::ResolvedAt.is_null());
    }
    Ok(query
        .order_by_desc(objection::Column::Id)
        .all(tenancy.system().control())
        .await?)
}
