//! Access grants: the only way our staff read a tenant's personal values.
//!
//! A staff member asks (`requestAccessGrant`: justification, ticket, at most 8 hours, optionally a list of subjects);
//! the tenant's `client_admin` approves or denies. A `privacy_officer` may break the glass for at most an hour, with
//! immediate effect and a notice to the tenant. The tenant's admin or a platform admin may revoke a grant at any
//! time. Whether a grant is in force is decided at each request (`expires_at > now`), never by a sweep.

pub mod graphql;

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde_json::json;
use steward_entities::access_grant::{self, GrantDecision};
use steward_entities::{access_log, data_subject};
use steward_policy::ActorKind;
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{GrantId, SubjectId, TenantId};
use crate::pagination::{Page, PageOf};
use crate::tenancy::{Scope, Tenancy};

pub const MAX_GRANT_MINUTES: i32 = 480;
pub const MAX_BREAK_GLASS_MINUTES: i32 = 60;
pub const MAX_GRANT_SUBJECTS: usize = 100;
const MIN_JUSTIFICATION_CHARS: usize = 10;
const MAX_JUSTIFICATION_CHARS: usize = 2000;
const MAX_TICKET_CHARS: usize = 100;
const MAX_REASON_CHARS: usize = 1000;

/// The lifecycle of a grant. `EXPIRED` is derived from `expiresAt`, never stored.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "AccessGrantStatus")]
pub enum GrantStatus {
    Pending,
    Approved,
    Denied,
    Revoked,
    Expired,
}

impl GrantStatus {
    fn stored(self) -> GrantDecision {
        match self {
            GrantStatus::Pending => GrantDecision::Pending,
            GrantStatus::Approved | GrantStatus::Expired => GrantDecision::Approved,
            GrantStatus::Denied => GrantDecision::Denied,
            GrantStatus::Revoked => GrantDecision::Revoked,
        }
    }

    /// The status as of `now`.
    pub fn of(grant: &access_grant::Model, now: DateTime<Utc>) -> GrantStatus {
        match grant.status {
            GrantDecision::Pending => GrantStatus::Pending,
            GrantDecision::Denied => GrantStatus::Denied,
            GrantDecision::Revoked => GrantStatus::Revoked,
            GrantDecision::Approved if grant.expires_at.is_some_and(|e| e > now) => {
                GrantStatus::Approved
            }
            GrantDecision::Approved => GrantStatus::Expired,
        }
    }
}

/// What a staff member asks for.
#[derive(Clone, Debug)]
pub struct GrantRequest {
    pub justification: String,
    pub ticket: String,
    pub duration_minutes: i32,
    /// `None`: every subject of the tenant.
    pub subject_ids: Option<Vec<SubjectId>>,
}

/// Asks the tenant for access. The scope must have been opened for `access_grant:request`.
pub async fn request(
    scope: &Scope,
    request: GrantRequest,
) -> Result<access_grant::Model, AppError> {
    create(scope, request, false).await
}

/// Takes access at once, for an emergency, and tells the tenant. Scope opened for `access_grant:break_glass`.
pub async fn break_glass(
    scope: &Scope,
    request: GrantRequest,
) -> Result<access_grant::Model, AppError> {
    create(scope, request, true).await
}

async fn create(
    scope: &Scope,
    request: GrantRequest,
    break_glass: bool,
) -> Result<access_grant::Model, AppError> {
    let principal = scope.principal();
    if principal.kind != ActorKind::Staff {
        return Err(AppError::Forbidden("access grants are for staff".into()));
    }
    let max = if break_glass {
        MAX_BREAK_GLASS_MINUTES
    } else {
        MAX_GRANT_MINUTES
    };
    if !(1..=max).contains(&request.duration_minutes) {
        return Err(AppError::BadInput(format!(
            "`durationMinutes` must be between 1 and {max}"
        )));
    }
    let justification = crate::validate::text(
        "justification",
        &request.justification,
        MAX_JUSTIFICATION_CHARS,
    )?;
    let justification = justification.as_str();
    if justification.chars().count() < MIN_JUSTIFICATION_CHARS {
        return Err(AppError::BadInput(format!(
            "`justification` must be {MIN_JUSTIFICATION_CHARS}-{MAX_JUSTIFICATION_CHARS} characters: say why the access is needed"
        )));
    }
    let ticket = crate::validate::label("ticket", &request.ticket, MAX_TICKET_CHARS)?;
    let ticket = ticket.as_str();
    let subject_ids = match request.subject_ids {
        None => None,
        Some(mut ids) => {
            ids.sort();
            ids.dedup();
            if ids.is_empty() || ids.len() > MAX_GRANT_SUBJECTS {
                return Err(AppError::BadInput(format!(
                    "`subjectIds` must name 1-{MAX_GRANT_SUBJECTS} subjects, or be left out for all"
                )));
            }
            let query = scope
                .find::<data_subject::Entity>()
                .filter(data_subject::Column::Id.is_in(ids.iter().copied()));
            let found = crate::pagination::count(query, scope.db()).await?;
            if found != ids.len() as u64 {
                return Err(AppError::NotFound(
                    "some of `subjectIds` are not subjects of this tenant".into(),
                ));
            }
            Some(ids)
        }
    };

    let now = Utc::now();
    let id = Uuid::now_v7();
    let txn = scope.begin().await?;
    let grant = txn
        .insert(access_grant::ActiveModel {
            id: Set(id),
            grantee: Set(principal.subject.clone()),
            justification: Set(justification.to_owned()),
            ticket: Set(ticket.to_owned()),
            duration_minutes: Set(request.duration_minutes),
            subject_ids: Set(subject_ids
                .as_ref()
                .map(|ids| ids.iter().map(|&s| Uuid::from(s)).collect())),
            break_glass: Set(break_glass),
            status: Set(if break_glass {
                GrantStatus::Approved
            } else {
                GrantStatus::Pending
            }
            .stored()),
            requested_at: Set(now),
            decided_by: Set(break_glass.then(|| principal.label())),
            decided_at: Set(break_glass.then_some(now)),
            decision_reason: Set(break_glass.then(|| "break-glass".to_owned())),
            expires_at: Set(
                break_glass.then(|| now + Duration::minutes(request.duration_minutes.into()))
            ),
            revoked_by: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        })
        .await?;
    let scope_text = match &subject_ids {
        Some(ids) => format!("{} named subject(s)", ids.len()),
        None => "all subjects".to_owned(),
    };
    let (kind, title, action) = if break_glass {
        (
            "access.break_glass",
            format!(
                "Emergency access to your personal data by {}",
                principal.subject
            ),
            "access_grant.break_glass",
        )
    } else {
        (
            "access.requested",
            format!(
                "{} asks for access to your personal data",
                principal.subject
            ),
            "access_grant.requested",
        )
    };
    crate::notices::notify(
        &txn,
        scope.tenant_id(),
        kind,
        &title,
        &format!(
            "Grant {id}: {scope_text} for {} minutes. Ticket {ticket}. Justification: {justification}",
            request.duration_minutes
        ),
    )
    .await?;
    txn.commit(
        AuditEntry::by(principal, action, "access_grant", id).with_detail(json!({
            "ticket": ticket,
            "minutes": request.duration_minutes,
            "subjects": subject_ids,
        })),
    )
    .await?;
    Ok(grant)
}

/// Approves a pending grant; it runs from now for its duration. Scope opened for `access_grant:approve`.
pub async fn approve(scope: &Scope, id: GrantId) -> Result<access_grant::Model, AppError> {
    let grant = pending(scope, id).await?;
    let now = Utc::now();
    let minutes = grant.duration_minutes;
    let mut model: access_grant::ActiveModel = grant.into();
    model.status = Set(GrantStatus::Approved.stored());
    model.decided_by = Set(Some(scope.principal().label()));
    model.decided_at = Set(Some(now));
    model.expires_at = Set(Some(now + Duration::minutes(minutes.into())));
    decide(
        scope,
        model,
        &[GrantDecision::Pending],
        "access_grant.approved",
    )
    .await
}

/// Denies a pending grant, with a reason. Scope opened for `access_grant:approve`.
pub async fn deny(
    scope: &Scope,
    id: GrantId,
    reason: &str,
) -> Result<access_grant::Model, AppError> {
    let reason = required_reason(reason)?;
    let grant = pending(scope, id).await?;
    let mut model: access_grant::ActiveModel = grant.into();
    model.status = Set(GrantStatus::Denied.stored());
    model.decided_by = Set(Some(scope.principal().label()));
    model.decided_at = Set(Some(Utc::now()));
    model.decision_reason = Set(Some(reason));
    decide(
        scope,
        model,
        &[GrantDecision::Pending],
        "access_grant.denied",
    )
    .await
}

/// Ends a pending or running grant at once. Scope opened for `access_grant:revoke`.
pub async fn revoke(
    scope: &Scope,
    id: GrantId,
    reason: Option<&str>,
) -> Result<access_grant::Model, AppError> {
    let grant = get(scope, id).await?;
    match GrantStatus::of(&grant, Utc::now()) {
        GrantStatus::Pending | GrantStatus::Approved => {}
        other => {
            return Err(AppError::Conflict(format!(
                "the grant is already {}",
                format!("{other:?}").to_lowercase()
            )));
        }
    }
    let reason = reason.map(required_reason).transpose()?;
    let now = Utc::now();
    let mut model: access_grant::ActiveModel = grant.into();
    model.status = Set(GrantStatus::Revoked.stored());
    model.revoked_by = Set(Some(scope.principal().label()));
    model.revoked_at = Set(Some(now));
    if reason.is_some() {
        model.decision_reason = Set(reason);
    }
    decide(
        scope,
        model,
        &[GrantDecision::Pending, GrantDecision::Approved],
        "access_grant.revoked",
    )
    .await
}

/// The tenant's grants, newest first.
pub async fn list(
    scope: &Scope,
    page: Page,
    status: Option<GrantStatus>,
) -> Result<PageOf<access_grant::Model>, AppError> {
    let mut query = scope.find::<access_grant::Entity>();
    let now = Utc::now();
    query = match status {
        None => query,
        Some(GrantStatus::Approved) => query
            .filter(access_grant::Column::Status.eq(GrantDecision::Approved))
            .filter(access_grant::Column::ExpiresAt.gt(now)),
        Some(GrantStatus::Expired) => query
            .filter(access_grant::Column::Status.eq(GrantDecision::Approved))
            .filter(access_grant::Column::ExpiresAt.lte(now)),
        Some(other) => query.filter(access_grant::Column::Status.eq(other.stored())),
    };
    let total = crate::pagination::count(query.clone(), scope.db()).await?;
    if let Some(after) = page.after {
        query = query.filter(access_grant::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(access_grant::Column::Id)
        .limit(page.fetch_limit())
        .all(scope.db())
        .await?;
    Ok(PageOf::from_fetched(rows, &page, total))
}

/// A staff member's own grants across every tenant and region, newest first (at most 100 per region).
pub async fn mine(
    tenancy: &Tenancy,
    principal: &Principal,
) -> Result<Vec<access_grant::Model>, AppError> {
    if principal.kind != ActorKind::Staff {
        return Ok(Vec::new());
    }
    let mut all = Vec::new();
    for (_, db) in tenancy.system().regions() {
        let rows = access_grant::Entity::find()
            .filter(access_grant::Column::Grantee.eq(principal.subject.as_str()))
            .order_by_desc(access_grant::Column::Id)
            .limit(100)
            .all(db)
            .await?;
        all.extend(rows);
    }
    all.sort_by_key(|g| std::cmp::Reverse(g.id));
    Ok(all)
}

/// The grants in force now for `grantee` in the scope's tenant.
pub async fn in_force(scope: &Scope, grantee: &str) -> Result<Vec<access_grant::Model>, AppError> {
    Ok(scope
        .find::<access_grant::Entity>()
        .filter(access_grant::Column::Grantee.eq(grantee))
        .filter(access_grant::Column::Status.eq(GrantDecision::Approved))
        .filter(access_grant::Column::ExpiresAt.gt(Utc::now()))
        .all(scope.db())
        .await?)
}

/// The subjects a grant opens; `None` for all.
pub fn subjects_of(grant: &access_grant::Model) -> Option<Vec<SubjectId>> {
    grant
        .subject_ids
        .as_ref()
        .map(|ids| ids.0.iter().copied().map(SubjectId).collect())
}

pub fn tenant_of(grant: &access_grant::Model) -> TenantId {
    TenantId(grant.tenant_id)
}

async fn get(scope: &Scope, id: GrantId) -> Result<access_grant::Model, AppError> {
    scope
        .find::<access_grant::Entity>()
        .filter(access_grant::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no access grant {id}")))
}

async fn pending(scope: &Scope, id: GrantId) -> Result<access_grant::Model, AppError> {
    let grant = get(scope, id).await?;
    if grant.grantee == scope.principal().subject {
        return Err(AppError::Forbidden(
            "nobody may decide their own access grant".into(),
        ));
    }
    match GrantStatus::of(&grant, Utc::now()) {
        GrantStatus::Pending => Ok(grant),
        other => Err(AppError::Conflict(format!(
            "the grant is {}, not pending",
            format!("{other:?}").to_lowercase()
        ))),
    }
}

/// Writes a decision only if the grant is still in one of the `from` states (a conditional update): an approval
/// racing a revocation cannot bring the revoked grant back, nor two decisions both win.
async fn decide(
    scope: &Scope,
    model: access_grant::ActiveModel,
    from: &[GrantDecision],
    action: &'static str,
) -> Result<access_grant::Model, AppError> {
    let txn = scope.begin().await?;
    let updated = access_grant::Entity::update(model)
        .validate()?
        .filter(access_grant::Column::TenantId.eq(scope.tenant_id().0))
        .filter(access_grant::Column::Status.is_in(from.iter().copied()))
        .exec(&txn)
        .await
        .map_err(|e| match e {
            sea_orm::DbErr::RecordNotUpdated => {
                AppError::Conflict("the grant was decided or revoked meanwhile; reload it".into())
            }
            other => other.into(),
        })?;
    txn.commit(
        AuditEntry::by(scope.principal(), action, "access_grant", updated.id)
            .with_detail(json!({ "grantee": updated.grantee })),
    )
    .await?;
    Ok(updated)
}

fn required_reason(reason: &str) -> Result<String, AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::BadInput(format!(
            "`reason` must be 1-{MAX_REASON_CHARS} characters"
        )));
    }
    Ok(reason.to_owned())
}

/// The tenant's access-transparency log, newest first, within an optional time window.
pub async fn access_log(
    scope: &Scope,
    page: Page,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<PageOf<access_log::Model>, AppError> {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(AppError::BadInput("`from` is after `to`".into()));
    }
    let mut query = scope.find::<access_log::Entity>();
    if let Some(from) = from {
        query = query.filter(access_log::Column::OccurredAt.gte(from));
    }
    if let Some(to) = to {
        query = query.filter(access_log::Column::OccurredAt.lt(to));
    }
    let total = crate::pagination::count(query.clone(), scope.db()).await?;
    if let Some(after) = page.after {
        query = query.filter(access_log::Column::Id.lt(after));
    }
    let rows = query
        .order_by_desc(access_log::Column::Id)
        .limit(page.fetch_limit())
        .all(scope.db())
        .await?;
    Ok(PageOf::from_fetched(rows, &page, total))
}
