//! Privacy-policy and terms versions, and changes of control — what the policy promises clients will be told.
//!
//! `legal` publishes a version with an effective date; a material change must be published at least the notice
//! period ahead (`STEWARD_POLICY_NOTICE_DAYS`, default 30) and nothing takes effect retroactively. `GET /policies`
//! shows the current and upcoming versions publicly with their summary of changes. A business transfer (change of
//! control) is recorded by `legal`. Both notify every tenant's admins (administrative notices, which no preference can
//! silence); a change of control also shows as a banner in `viewer` until the tenant acknowledges it.

pub mod graphql;

use chrono::{Duration, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};
use serde_json::{Value, json};
use steward_entities::{business_transfer, notice, policy_version, tenant};
use steward_policy::Permission;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{NoticeId, TenantId};
use crate::notices::Class;
use crate::owed::{self, Owed, Owing};
use crate::tenancy::{Scope, Tenancy, TenantStatus};
use crate::validate;
use steward_policy::Role;

pub const NOTICE_CHANGE_OF_CONTROL: &str = "change_of_control";
pub const NOTICE_POLICY: &str = "policy.published";

/// Which document a version belongs to.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "PolicyDocument")]
pub enum Document {
    PrivacyPolicy,
    Terms,
}

impl Document {
    pub fn as_str(self) -> &'static str {
        match self {
            Document::PrivacyPolicy => "privacy_policy",
            Document::Terms => "terms",
        }
    }
}

/// A version to publish.
#[derive(Clone, Debug)]
pub struct NewVersion {
    pub document: Document,
    pub version: String,
    pub effective_on: NaiveDate,
    pub material: bool,
    pub summary: String,
    pub url: Option<String>,
}

/// Publishes a version (`legal`) and tells every tenant's admins.
pub async fn publish(
    tenancy: &Tenancy,
    principal: &Principal,
    input: NewVersion,
    notice_days: i64,
) -> Result<policy_version::Model, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::PolicyPublish)
        .await?;
    validate::date("effectiveOn", input.effective_on)?;
    let version = validate::text("version", &input.version, 50)?;
    let summary = validate::text("summary", &input.summary, 4000)?;
    let url = input
        .url
        .as_deref()
        .map(|u| {
            let u = u.trim();
            if !(u.starts_with("https://") || u.starts_with("http://")) || u.len() > 500 {
                Err(AppError::BadInput(
                    "`url` must be an http(s) URL of at most 500 characters".into(),
                ))
            } else {
                Ok(u.to_owned())
            }
        })
        .transpose()?;
    let today = Utc::now().date_naive();
    if input.effective_on < today {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::Retroactive,
            message: "a version cannot take effect in the past".into(),
        });
    }
    let earliest = today + Duration::days(notice_days);
    if input.material && input.effective_on < earliest {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::NoticePeriod,
            message: format!(
                "a material change must be posted {notice_days} days before it takes effect: effective on {earliest} at the earliest"
            ),
        });
    }
    let control = platform.control();
    let existing = policy_version::Entity::find()
        .filter(policy_version::Column::Document.eq(input.document.as_str()))
        .filter(policy_version::Column::Version.eq(&version))
        .one(control)
        .await?;
    if existing.is_some() {
        return Err(AppError::Conflict(format!(
            "{} version `{version}` is already published",
            input.document.as_str()
        )));
    }
    let txn = control.begin().await?;
    let model = policy_version::ActiveModel {
        id: Set(Uuid::now_v7()),
        document: Set(input.document.as_str().into()),
        version: Set(version.clone()),
        effective_on: Set(input.effective_on),
        material: Set(input.material),
        summary: Set(summary.clone()),
        url: Set(url),
        published_by: Set(principal.label()),
        published_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::append_platform(
        &txn,
        AuditEntry::by(principal, "policy.published", "policy_version", model.id).with_detail(
            json!({ "document": model.document, "version": version, "effective_on": model.effective_on, "material": model.material }),
        ),
    )
    .await?;
    let name = match input.document {
        Document::PrivacyPolicy => "privacy policy",
        Document::Terms => "terms of service",
    };
    let owing = notify_every_tenant(
        &txn,
        principal,
        NOTICE_POLICY,
        &format!(
            "{}Our {name} changes on {} (version {version})",
            if input.material {
                "Material change: "
            } else {
                ""
            },
            input.effective_on
        ),
        &format!("What changes: {summary}"),
        ("policy.notified", "policy_version", model.id),
    )
    .await?;
    txn.commit().await?;
    owing.apply(tenancy).await;
    Ok(model)
}

/// Records a business transfer (`legal`): every tenant's admins get an administrative notice and a banner.
pub async fn record_business_transfer(
    tenancy: &Tenancy,
    principal: &Principal,
    acquirer: &str,
    effective_on: NaiveDate,
    changes: &str,
) -> Result<business_transfer::Model, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::PolicyPublish)
        .await?;
    validate::date("effectiveOn", effective_on)?;
    let acquirer = validate::text("acquirer", acquirer, 200)?;
    let changes = validate::text("changes", changes, 4000)?;
    if effective_on < Utc::now().date_naive() {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::Retroactive,
            message: "a change of control is announced before it takes effect, not after".into(),
        });
    }
    let txn = platform.control().begin().await?;
    let model = business_transfer::ActiveModel {
        id: Set(Uuid::now_v7()),
        acquirer: Set(acquirer.clone()),
        effective_on: Set(effective_on),
        changes: Set(changes.clone()),
        recorded_by: Set(principal.label()),
        recorded_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::append_platform(
        &txn,
        AuditEntry::by(
            principal,
            "business_transfer.recorded",
            "business_transfer",
            model.id,
        )
        .with_detail(json!({ "acquirer": acquirer, "effective_on": effective_on })),
    )
    .await?;
    let owing = notify_every_tenant(
        &txn,
        principal,
        NOTICE_CHANGE_OF_CONTROL,
        &format!("Change of control: our business is transferred to {acquirer} on {effective_on}"),
        &format!("What changes for your personal data: {changes}"),
        ("business_transfer.notified", "business_transfer", model.id),
    )
    .await?;
    txn.commit().await?;
    owing.apply(tenancy).await;
    Ok(model)
}

/// An administrative notice for the admins (and an audit event) owed to every live tenant.
async fn notify_every_tenant(
    control: &DatabaseTransaction,
    principal: &Principal,
    kind: &str,
    title: &str,
    body: &str,
    audit_as: (&'static str, &'static str, Uuid),
) -> Result<Owing, AppError> {
    let message = Announcement {
        kind,
        class: Class::Administrative,
        audience: &[Role::ClientAdmin],
        title,
        body,
    };
    notify_tenants(control, principal, None, &message, audit_as).await
}

/// A notice to send to tenants.
pub struct Announcement<'a> {
    pub kind: &'a str,
    pub class: Class,
    pub audience: &'a [Role],
    pub title: &'a str,
    pub body: &'a str,
}

/// Owes a notice (with an audit event) to the given live tenants, or all of them, in the caller's control
/// transaction; apply the returned [`Owing`] once it commits.
pub(crate) async fn notify_tenants(
    control: &DatabaseTransaction,
    principal: &Principal,
    only: Option<&[TenantId]>,
    message: &Announcement<'_>,
    (action, object_type, object_id): (&'static str, &'static str, Uuid),
) -> Result<Owing, AppError> {
    let mut query = tenant::Entity::find()
        .filter(tenant::Column::Status.ne(TenantStatus::Terminated))
        .order_by_asc(tenant::Column::Id);
    if let Some(ids) = only {
        query = query.filter(tenant::Column::Id.is_in(ids.iter().copied()));
    }
    let tenants = query.all(control).await?;
    if let Some(ids) = only
        && tenants.len() != ids.iter().collect::<std::collections::BTreeSet<_>>().len()
    {
        return Err(AppError::NotFound(
            "some of `tenantIds` are not live tenants".into(),
        ));
    }
    // Each tenant's notice and event are owed to its region through the outbox, in the caller's control
    // transaction: the change and every notice of it commit together or not at all.
    let mut owing = Owing::default();
    for t in &tenants {
        let entry = AuditEntry::by(principal, action, object_type, object_id);
        let notice = Owed::announcement(
            message.kind,
            message.class,
            message.audience,
            message.title,
            message.body,
        );
        owing.push(owed::defer(control, TenantId(t.id), &entry, vec![notice]).await?);
    }
    Ok(owing)
}

/// The public view: per document, the version in force and any upcoming ones.
pub async fn public_view(tenancy: &Tenancy) -> Result<Value, AppError> {
    let today = Utc::now().date_naive();
    let versions = policy_version::Entity::find()
        .order_by_asc(policy_version::Column::EffectiveOn)
        .order_by_asc(policy_version::Column::Id)
        .all(tenancy.system().control())
        .await?;
    let mut out = serde_json::Map::new();
    for document in [Document::PrivacyPolicy, Document::Terms] {
        let of_doc: Vec<&policy_version::Model> = versions
            .iter()
            .filter(|v| v.document == document.as_str())
            .collect();
        let show = |v: &policy_version::Model| {
            json!({
                "version": v.version,
                "effective_on": v.effective_on,
                "material": v.material,
                "summary_of_changes": v.summary,
                "url": v.url,
                "published_at": v.published_at,
            })
        };
        let current = of_doc.iter().rev().find(|v| v.effective_on <= today);
        let upcoming: Vec<Value> = of_doc
            .iter()
            .filter(|v| v.effective_on > today)
            .map(|v| show(v))
            .collect();
        out.insert(
            document.as_str().into(),
            json!({ "current": current.map(|v| show(v)), "upcoming": upcoming }),
        );
    }
    Ok(Value::Object(out))
}

/// Every version, newest first.
pub async fn versions(tenancy: &Tenancy) -> Result<Vec<policy_version::Model>, AppError> {
    Ok(policy_version::Entity::find()
        .order_by_desc(policy_version::Column::Id)
        .all(tenancy.system().control())
        .await?)
}

/// The change-of-control notice a client's tenant has not acknowledged yet, if any (the `viewer` banner).
pub async fn banner(scope: &Scope) -> Result<Option<notice::Model>, AppError> {
    Ok(scope
        .find::<notice::Entity>()
        .filter(notice::Column::Kind.eq(NOTICE_CHANGE_OF_CONTROL))
        .filter(notice::Column::AcknowledgedAt.is_null())
        .order_by_desc(notice::Column::Id)
        .one(scope.db())
        .await?)
}

/// A client user acknowledges one of the tenant's notices.
pub async fn acknowledge_notice(
    tenancy: &Tenancy,
    scope: &Scope,
    id: NoticeId,
) -> Result<notice::Model, AppError> {
    if scope.principal().kind != steward_policy::ActorKind::Client {
        return Err(AppError::Forbidden(
            "notices are acknowledged by the client's own users".into(),
        ));
    }
    let found = scope
        .find::<notice::Entity>()
        .filter(notice::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no notice {id}")))?;
    // Only by someone it was for: a viewer does not mark an admins' notice as seen for them.
    let mine = crate::users::roles_of(tenancy, scope.principal()).await;
    if !found
        .audience
        .split(',')
        .any(|r| mine.iter().any(|m| m.as_str() == r))
    {
        return Err(AppError::Forbidden(format!(
            "this notice is for the tenant's {}: one of them acknowledges it",
            found.audience.replace(',', ", ")
        )));
    }
    if found.acknowledged_at.is_some() {
        return Ok(found);
    }
    let txn = scope.begin().await?;
    let mut model: notice::ActiveModel = found.into();
    model.acknowledged_by = Set(Some(scope.principal().label()));
    model.acknowledged_at = Set(Some(Utc::now()));
    let updated = model.update(&txn).await?;
    txn.commit(
        AuditEntry::by(scope.principal(), "notice.acknowledged", "notice", id)
            .with_detail(json!({ "kind": updated.kind })),
    )
    .await?;
    Ok(updated)
}

/// Sends an announcement to some or all live tenants (`platform_admin`): administrative or marketing.
pub async fn send_notice(
    tenancy: &Tenancy,
    principal: &Principal,
    only: Option<Vec<TenantId>>,
    class: Class,
    audience: Vec<Role>,
    title: &str,
    body: &str,
) -> Result<usize, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::NoticeSend)
        .await?;
    let title = validate::text("title", title, 300)?;
    let body = validate::text("body", body, 10_000)?;
    if audience.is_empty()
        || audience
            .iter()
            .any(|r| r.holder_kind() != steward_policy::ActorKind::Client)
    {
        return Err(AppError::BadInput(
            "`roles` must name one or more client roles (CLIENT_ADMIN, CLIENT_VIEWER)".into(),
        ));
    }
    let id = Uuid::now_v7();
    let txn = platform.control().begin().await?;
    audit::append_platform(
        &txn,
        AuditEntry::by(principal, "notice.sent", "announcement", id).with_detail(
            json!({ "class": class.as_str(), "tenants": only, "roles": audience.iter().map(|r| r.as_str()).collect::<Vec<_>>() }),
        ),
    )
    .await?;
    let kind = match class {
        Class::Administrative => "announcement",
        Class::Marketing => "marketing",
    };
    let message = Announcement {
        kind,
        class,
        audience: &audience,
        title: &title,
        body: &body,
    };
    let owing = notify_tenants(
        &txn,
        principal,
        only.as_deref(),
        &message,
        ("notice.sent", "announcement", id),
    )
    .await?;
    txn.commit().await?;
    Ok(owing.apply(tenancy).await)
}
