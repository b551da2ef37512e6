//! Retention enforced in code: per-tenant rules by category and/or purpose, platform defaults per category, legal
//! holds that suspend deletion (and erasure), a dry-run preview, and the sweep that deletes values past their period
//! in bounded batches — each batch one transaction with its record (counts only), its audit event and the
//! propagations to sub-processors that received the deleted data.
//!
//! Which rule applies to a value (category `c`, purpose `p`), most specific first: the tenant's rule for (`c`, `p`),
//! its rule for `c` with any purpose, its rule for `p` with any category, the platform default for `c`. The rules
//! compile to disjoint [`Selector`]s, so every value is judged by exactly one.

pub mod graphql;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set, TransactionTrait,
};
use serde_json::json;
use steward_entities::{
    dsr_request, legal_hold, personal_data, retention_default, retention_rule, retention_run,
    tenant,
};
use steward_policy::{ActorKind, Permission};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::TenantId;
use crate::taxonomy;
use crate::tenancy::{Scope, Tenancy, TenantStatus};

/// Values deleted per transaction.
pub const BATCH: u64 = 500;
/// Batches per tenant per sweep: the rest waits for the next sweep, so a sweep never runs unbounded.
pub const MAX_BATCHES: usize = 20;
const MAX_PERIOD_DAYS: i32 = 36_500;
const MAX_HELD_SUBJECTS: usize = 1_000;

fn check_period(days: i32) -> Result<i32, AppError> {
    if !(1..=MAX_PERIOD_DAYS).contains(&days) {
        return Err(AppError::BadInput(format!(
            "`periodDays` must be between 1 and {MAX_PERIOD_DAYS}"
        )));
    }
    Ok(days)
}

/// The columns of a rule's pending change.
const RULE_PENDING: [retention_rule::Column; 4] = [
    retention_rule::Column::PendingPeriodDays,
    retention_rule::Column::PendingEffectiveAt,
    retention_rule::Column::PendingSetBy,
    retention_rule::Column::PendingSetAt,
];
/// The columns of a default's pending change.
const DEFAULT_PENDING: [retention_default::Column; 4] = [
    retention_default::Column::PendingPeriodDays,
    retention_default::Column::PendingEffectiveAt,
    retention_default::Column::PendingSetBy,
    retention_default::Column::PendingSetAt,
];

/// `query` that also clears a pending change (its columns set to SQL `NULL`, which fits every column type).
fn without_pending<E: EntityTrait>(
    query: sea_orm::UpdateMany<E>,
    columns: [E::Column; 4],
) -> sea_orm::UpdateMany<E> {
    columns.into_iter().fold(query, |query, column| {
        query.col_expr(column, Expr::cust("NULL"))
    })
}

/// Who changes a retention period, and so when the change takes effect.
fn made_by_staff(principal: &Principal) -> bool {
    principal.kind == ActorKind::Staff
}

/// A change waiting for its effective date: what the period becomes (`None`: the entry is removed) and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub period_days: Option<i32>,
    pub effective_at: DateTime<Utc>,
    pub set_by: String,
}

/// The pending change of a rule, if any.
pub fn pending_rule(rule: &retention_rule::Model) -> Option<Pending> {
    Some(Pending {
        period_days: rule.pending_period_days.filter(|d| *d > 0),
        effective_at: rule.pending_effective_at?,
        set_by: rule.pending_set_by.clone().unwrap_or_default(),
    })
}

/// The pending change of a default, if any.
pub fn pending_default(default: &retention_default::Model) -> Option<Pending> {
    Some(Pending {
        period_days: default.pending_period_days.filter(|d| *d > 0),
        effective_at: default.pending_effective_at?,
        set_by: default.pending_set_by.clone().unwrap_or_default(),
    })
}

/// Sets (or changes) the tenant's rule for a category and/or purpose. A `client_admin`'s change is the controller's
/// instruction and takes effect at once. A change by staff takes effect at once only when it keeps values longer
/// than the rule in force; one that could delete sooner waits until the tenant's admins were notified and its notice
/// period passed, cancellable until then.
pub async fn set_rule(
    tenancy: &Tenancy,
    scope: &Scope,
    category: Option<&str>,
    purpose: Option<&str>,
    period_days: i32,
) -> Result<retention_rule::Model, AppError> {
    let period_days = check_period(period_days)?;
    let category = category
        .map(|c| taxonomy::category(c.trim()).map(|c| c.key.clone()))
        .transpose()?
        .unwrap_or_default();
    let purpose = purpose
        .map(|p| taxonomy::purpose(p.trim()).map(|p| p.key.clone()))
        .transpose()?
        .unwrap_or_default();
    if category.is_empty() && purpose.is_empty() {
        return Err(AppError::BadInput(
            "a rule names a `category`, a `purpose`, or both".into(),
        ));
    }
    let existing = scope
        .find::<retention_rule::Entity>()
        .filter(retention_rule::Column::Category.eq(&category))
        .filter(retention_rule::Column::Purpose.eq(&purpose))
        .one(scope.db())
        .await?;
    let now = Utc::now();
    let by = scope.principal().label();
    let staff = made_by_staff(scope.principal());
    let lengthens = existing
        .as_ref()
        .is_some_and(|r| r.in_force && period_days >= r.period_days);
    let wait = if staff && !lengthens {
        Some(now + notice_period_on(tenancy, scope.tenant_id()).await?)
    } else {
        None
    };
    let txn = scope.begin().await?;
    let model = match (existing, wait) {
        (Some(rule), None) => {
            let mut model: retention_rule::ActiveModel = rule.into();
            model.period_days = Set(period_days);
            model.set_by = Set(by.clone());
            model.updated_at = Set(now);
            model.in_force = Set(true);
            model.pending_period_days = Set(None);
            model.pending_effective_at = Set(None);
            model.pending_set_by = Set(None);
            model.pending_set_at = Set(None);
            model.update(&txn).await?
        }
        (Some(rule), Some(at)) => {
            let mut model: retention_rule::ActiveModel = rule.into();
            model.pending_period_days = Set(Some(period_days));
            model.pending_effective_at = Set(Some(at));
            model.pending_set_by = Set(Some(by.clone()));
            model.pending_set_at = Set(Some(now));
            model.update(&txn).await?
        }
        (None, wait) => {
            retention_rule::ActiveModel {
                tenant_id: Set(scope.tenant_id().0),
                id: Set(Uuid::now_v7()),
                category: Set(category.clone()),
                purpose: Set(purpose.clone()),
                period_days: Set(period_days),
                set_by: Set(by.clone()),
                updated_at: Set(now),
                in_force: Set(wait.is_none()),
                pending_period_days: Set(wait.map(|_| period_days)),
                pending_effective_at: Set(wait),
                pending_set_by: Set(wait.map(|_| by.clone())),
                pending_set_at: Set(wait.map(|_| now)),
            }
            .insert(&txn)
            .await?
        }
    };
    audit::append_tenant(
        &txn,
        scope.tenant_id(),
        AuditEntry::by(
            scope.principal(),
            if wait.is_some() {
                "retention.rule_change_scheduled"
            } else {
                "retention.rule_set"
            },
            "retention_rule",
            model.id,
        )
        .with_detail(json!({
            "category": category,
            "purpose": purpose,
            "period_days": period_days,
            "effective_at": wait,
        })),
    )
    .await?;
    if let Some(at) = wait {
        crate::notices::notify(
            &txn,
            scope.tenant_id(),
            NOTICE_RETENTION_CHANGE,
            "Our staff scheduled a change to your retention rules",
            &format!(
                "{by} set the retention period for {} to {period_days} days. It takes effect on {} unless you \
                 cancel it (cancelRetentionRuleChange) or set the rule yourself; retentionPreview shows what it \
                 would delete.",
                describe(&category, &purpose),
                at.format("%Y-%m-%d %H:%M UTC"),
            ),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(model)
}

/// The notice kind of a scheduled retention change.
pub const NOTICE_RETENTION_CHANGE: &str = "retention_change";

fn describe(category: &str, purpose: &str) -> String {
    match (category.is_empty(), purpose.is_empty()) {
        (false, false) => format!("category `{category}` collected for `{purpose}`"),
        (false, true) => format!("category `{category}`"),
        _ => format!("purpose `{purpose}`"),
    }
}

/// However short a tenant's notice period was set, a retention change staff make waits at least this long: one
/// platform admin cutting the period to a day cannot make a shortening take effect tomorrow.
pub const MIN_STAFF_CHANGE_NOTICE_DAYS: i32 = 7;

/// How long a staff retention change waits for a tenant: its notice period, at least [`MIN_STAFF_CHANGE_NOTICE_DAYS`].
async fn notice_period_on(tenancy: &Tenancy, tenant_id: TenantId) -> Result<Duration, AppError> {
    let days = tenant::Entity::find_by_id(tenant_id.0)
        .select_only()
        .column(tenant::Column::NoticePeriodDays)
        .into_tuple::<i32>()
        .one(tenancy.databases().control())
        .await?
        .unwrap_or(crate::retention::DEFAULT_NOTICE_PERIOD_DAYS);
    Ok(Duration::days(i64::from(
        days.max(MIN_STAFF_CHANGE_NOTICE_DAYS),
    )))
}

/// A tenant created while a change to the default retention periods is pending is told of it at once, before it holds
/// any data (in the transaction that starts its chain).
pub(crate) async fn tell_new_tenant<C: ConnectionTrait, R: ConnectionTrait>(
    control: &C,
    region: &R,
    tenant: TenantId,
) -> Result<(), AppError> {
    let pending = retention_default::Entity::find()
        .filter(retention_default::Column::PendingEffectiveAt.is_not_null())
        .order_by_asc(retention_default::Column::Category)
        .all(control)
        .await?;
    for d in pending {
        let (Some(days), Some(at)) = (d.pending_period_days, d.pending_effective_at) else {
            continue;
        };
        crate::notices::notify(
            region,
            tenant,
            NOTICE_RETENTION_CHANGE,
            "A change to the default retention periods is scheduled",
            &format!(
                "The platform's default retention period for category `{}` becomes {days} days from {}. It applies to \
                 your values of that category that no rule of yours covers. Set your own rule to keep a different \
                 period; retentionPreview shows what the change would delete.",
                d.category,
                at.format("%Y-%m-%d %H:%M UTC"),
            ),
        )
        .await?;
    }
    Ok(())
}

/// Removes one of the tenant's rules. A `client_admin` removes at once; staff schedule the removal (values may then
/// fall under a shorter default) after the tenant's notice period, cancellable until then.
pub async fn remove_rule(tenancy: &Tenancy, scope: &Scope, id: Uuid) -> Result<(), AppError> {
    let rule = scope
        .find::<retention_rule::Entity>()
        .filter(retention_rule::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no retention rule {id}")))?;
    let staff = made_by_staff(scope.principal()) && rule.in_force;
    let now = Utc::now();
    let at = if staff {
        Some(now + notice_period_on(tenancy, scope.tenant_id()).await?)
    } else {
        None
    };
    let txn = scope.begin().await?;
    if let Some(at) = at {
        let by = scope.principal().label();
        let mut model: retention_rule::ActiveModel = rule.clone().into();
        model.pending_period_days = Set(Some(0));
        model.pending_effective_at = Set(Some(at));
        model.pending_set_by = Set(Some(by.clone()));
        model.pending_set_at = Set(Some(now));
        model.update(&txn).await?;
        crate::notices::notify(
            &txn,
            scope.tenant_id(),
            NOTICE_RETENTION_CHANGE,
            "Our staff scheduled the removal of one of your retention rules",
            &format!(
                "{by} removes your retention rule for {}. It takes effect on {} unless you cancel it \
                 (cancelRetentionRuleChange); retentionPreview shows what would be deleted then.",
                describe(&rule.category, &rule.purpose),
                at.format("%Y-%m-%d %H:%M UTC"),
            ),
        )
        .await?;
    } else {
        retention_rule::Entity::delete_many()
            .filter(retention_rule::Column::TenantId.eq(scope.tenant_id().0))
            .filter(retention_rule::Column::Id.eq(id))
            .exec(&txn)
            .await?;
    }
    audit::append_tenant(
        &txn,
        scope.tenant_id(),
        AuditEntry::by(
            scope.principal(),
            if at.is_some() {
                "retention.rule_change_scheduled"
            } else {
                "retention.rule_removed"
            },
            "retention_rule",
            id,
        )
        .with_detail(json!({
            "category": rule.category,
            "purpose": rule.purpose,
            "removed": true,
            "effective_at": at,
        })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Cancels a rule's pending change (its `client_admin`, or a privacy officer). A rule that was never in force goes.
pub async fn cancel_rule_change(
    scope: &Scope,
    id: Uuid,
) -> Result<Option<retention_rule::Model>, AppError> {
    let rule = scope
        .find::<retention_rule::Entity>()
        .filter(retention_rule::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no retention rule {id}")))?;
    if rule.pending_effective_at.is_none() {
        return Err(AppError::Refused {
            reason: "NOTHING_PENDING",
            message: "this retention rule has no pending change".into(),
        });
    }
    let txn = scope.begin().await?;
    // A change of a rule in force is dropped; a rule that was never in force goes with it.
    let changed = if rule.in_force {
        without_pending(retention_rule::Entity::update_many(), RULE_PENDING)
            .filter(retention_rule::Column::TenantId.eq(scope.tenant_id().0))
            .filter(retention_rule::Column::Id.eq(id))
            .filter(retention_rule::Column::PendingEffectiveAt.is_not_null())
            .exec(&txn)
            .await?
            .rows_affected
    } else {
        retention_rule::Entity::delete_many()
            .filter(retention_rule::Column::TenantId.eq(scope.tenant_id().0))
            .filter(retention_rule::Column::Id.eq(id))
            .filter(retention_rule::Column::InForce.eq(false))
            .exec(&txn)
            .await?
            .rows_affected
    };
    if changed != 1 {
        return Err(AppError::Refused {
            reason: "NOTHING_PENDING",
            message: "this retention rule's pending change already took effect".into(),
        });
    }
    audit::append_tenant(
        &txn,
        scope.tenant_id(),
        AuditEntry::by(
            scope.principal(),
            "retention.rule_change_cancelled",
            "retention_rule",
            id,
        )
        .with_detail(json!({
            "category": rule.category,
            "purpose": rule.purpose,
            "cancelled_period_days": rule.pending_period_days,
            "cancelled_effective_at": rule.pending_effective_at,
        })),
    )
    .await?;
    let after = if rule.in_force {
        scope
            .find::<retention_rule::Entity>()
            .filter(retention_rule::Column::Id.eq(id))
            .one(&txn)
            .await?
    } else {
        None
    };
    txn.commit().await?;
    Ok(after)
}

/// The tenant's rules, those waiting for their first effective date included.
pub async fn rules(scope: &Scope) -> Result<Vec<retention_rule::Model>, AppError> {
    Ok(scope
        .find::<retention_rule::Entity>()
        .order_by_asc(retention_rule::Column::Id)
        .all(scope.db())
        .await?)
}

/// Sets the platform's default period for a category (privacy officers). A default that keeps values longer than the
/// one in force applies at once; a new or shorter one waits until every live tenant was notified and the longest
/// notice period passed, cancellable until then.
pub async fn set_default(
    tenancy: &Tenancy,
    principal: &Principal,
    category: &str,
    period_days: i32,
) -> Result<retention_default::Model, AppError> {
    tenancy
        .require_platform(principal, Permission::RetentionManage)
        .await?;
    let period_days = check_period(period_days)?;
    let category = taxonomy::category(category.trim())?.key.clone();
    let control = tenancy.databases().control();
    let existing = retention_default::Entity::find_by_id(category.clone())
        .one(control)
        .await?;
    let now = Utc::now();
    let by = principal.label();
    let lengthens = existing
        .as_ref()
        .is_some_and(|d| d.in_force && period_days >= d.period_days);
    let longest_notice: Option<i32> = tenant::Entity::find()
        .select_only()
        .column_as(tenant::Column::NoticePeriodDays.max(), "m")
        .filter(tenant::Column::Status.ne(TenantStatus::Terminated.as_str()))
        .into_tuple::<Option<i32>>()
        .one(control)
        .await?
        .flatten();
    // With no live tenant there is nobody to notify and nothing to delete.
    let wait = match longest_notice {
        Some(days) if !lengthens => {
            Some(now + Duration::days(i64::from(days.max(MIN_STAFF_CHANGE_NOTICE_DAYS))))
        }
        _ => None,
    };
    let txn = control.begin().await?;
    let model = match (existing, wait) {
        (Some(d), None) => {
            let mut model: retention_default::ActiveModel = d.into();
            model.period_days = Set(period_days);
            model.set_by = Set(by.clone());
            model.updated_at = Set(now);
            model.in_force = Set(true);
            model.pending_period_days = Set(None);
            model.pending_effective_at = Set(None);
            model.pending_set_by = Set(None);
            model.pending_set_at = Set(None);
            model.update(&txn).await?
        }
        (Some(d), Some(at)) => {
            let mut model: retention_default::ActiveModel = d.into();
            model.pending_period_days = Set(Some(period_days));
            model.pending_effective_at = Set(Some(at));
            model.pending_set_by = Set(Some(by.clone()));
            model.pending_set_at = Set(Some(now));
            model.update(&txn).await?
        }
        (None, wait) => {
            retention_default::ActiveModel {
                category: Set(category.clone()),
                period_days: Set(period_days),
                set_by: Set(by.clone()),
                updated_at: Set(now),
                in_force: Set(wait.is_none()),
                pending_period_days: Set(wait.map(|_| period_days)),
                pending_effective_at: Set(wait),
                pending_set_by: Set(wait.map(|_| by.clone())),
                pending_set_at: Set(wait.map(|_| now)),
            }
            .insert(&txn)
            .await?
        }
    };
    audit::append_platform(
        &txn,
        AuditEntry::by(
            principal,
            if wait.is_some() {
                "retention.default_change_scheduled"
            } else {
                "retention.default_set"
            },
            "retention_default",
            &category,
        )
        .with_detail(json!({ "period_days": period_days, "effective_at": wait })),
    )
    .await?;
    if let Some(at) = wait {
        let body = format!(
            "{by} set the platform's default retention period for category `{category}` to {period_days} days. It \
             applies to your values of that category that no rule of yours covers, from {}. Set your own rule to \
             keep a different period; retentionPreview shows what the change would delete.",
            at.format("%Y-%m-%d %H:%M UTC"),
        );
        crate::privacy_policy::notify_tenants(
            tenancy,
            &txn,
            principal,
            None,
            &crate::privacy_policy::Announcement {
                kind: NOTICE_RETENTION_CHANGE,
                class: crate::notices::Class::Administrative,
                audience: &[steward_policy::Role::ClientAdmin],
                title: "Our staff scheduled a change to the default retention periods",
                body: &body,
            },
            (
                "retention.default_change_notified",
                "retention_default",
                Uuid::now_v7(),
            ),
        )
        .await?;
    }
    txn.commit().await?;
    Ok(model)
}

/// Cancels a default's pending change (privacy officers). A default that was never in force goes.
pub async fn cancel_default_change(
    tenancy: &Tenancy,
    principal: &Principal,
    category: &str,
) -> Result<Option<retention_default::Model>, AppError> {
    tenancy
        .require_platform(principal, Permission::RetentionManage)
        .await?;
    let category = taxonomy::category(category.trim())?.key.clone();
    let control = tenancy.databases().control();
    let default = retention_default::Entity::find_by_id(category.clone())
        .one(control)
        .await?
        .filter(|d| d.pending_effective_at.is_some())
        .ok_or_else(|| AppError::Refused {
            reason: "NOTHING_PENDING",
            message: format!("the default for `{category}` has no pending change"),
        })?;
    let txn = control.begin().await?;
    let changed = if default.in_force {
        without_pending(retention_default::Entity::update_many(), DEFAULT_PENDING)
            .filter(retention_default::Column::Category.eq(&category))
            .filter(retention_default::Column::PendingEffectiveAt.is_not_null())
            .exec(&txn)
            .await?
            .rows_affected
    } else {
        retention_default::Entity::delete_many()
            .filter(retention_default::Column::Category.eq(&category))
            .filter(retention_default::Column::InForce.eq(false))
            .exec(&txn)
            .await?
            .rows_affected
    };
    if changed != 1 {
        return Err(AppError::Refused {
            reason: "NOTHING_PENDING",
            message: format!("the default for `{category}` has no pending change"),
        });
    }
    audit::append_platform(
        &txn,
        AuditEntry::by(
            principal,
            "retention.default_change_cancelled",
            "retention_default",
            &category,
        )
        .with_detail(json!({
            "cancelled_period_days": default.pending_period_days,
            "cancelled_effective_at": default.pending_effective_at,
        })),
    )
    .await?;
    let after = retention_default::Entity::find_by_id(category)
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok(after)
}

/// The platform defaults, those waiting for their first effective date included.
pub async fn defaults(tenancy: &Tenancy) -> Result<Vec<retention_default::Model>, AppError> {
    Ok(retention_default::Entity::find()
        .order_by_asc(retention_default::Column::Category)
        .all(tenancy.databases().control())
        .await?)
}

/// Applies the pending changes whose date has come: the defaults, then every tenant's rules, each in its own
/// transaction with its audit event. Runs at the start of every sweep.
pub async fn apply_due(tenancy: &Tenancy, now: DateTime<Utc>) -> Result<usize, AppError> {
    let control = tenancy.databases().control();
    let mut applied = 0;
    for d in retention_default::Entity::find()
        .filter(retention_default::Column::PendingEffectiveAt.lte(now))
        .all(control)
        .await?
    {
        let txn = control.begin().await?;
        let target = d.pending_period_days.filter(|p| *p > 0);
        let changed = match target {
            Some(days) => {
                without_pending(retention_default::Entity::update_many(), DEFAULT_PENDING)
                    .filter(retention_default::Column::Category.eq(&d.category))
                    .filter(
                        retention_default::Column::PendingEffectiveAt.eq(d.pending_effective_at),
                    )
                    .col_expr(retention_default::Column::PeriodDays, Expr::value(days))
                    .col_expr(retention_default::Column::InForce, Expr::value(true))
                    .col_expr(
                        retention_default::Column::SetBy,
                        Expr::value(d.pending_set_by.clone().unwrap_or_default()),
                    )
                    .col_expr(retention_default::Column::UpdatedAt, Expr::value(now))
                    .exec(&txn)
                    .await?
                    .rows_affected
            }
            None => {
                retention_default::Entity::delete_many()
                    .filter(retention_default::Column::Category.eq(&d.category))
                    .filter(
                        retention_default::Column::PendingEffectiveAt.eq(d.pending_effective_at),
                    )
                    .exec(&txn)
                    .await?
                    .rows_affected
            }
        };
        if changed != 1 {
            continue;
        }
        audit::append_platform(
            &txn,
            AuditEntry::system(
                "retention.default_change_applied",
                "retention_default",
                &d.category,
            )
            .with_detail(json!({ "period_days": target, "set_by": d.pending_set_by })),
        )
        .await?;
        txn.commit().await?;
        applied += 1;
    }
    let tenants = tenant::Entity::find()
        .order_by_asc(tenant::Column::Id)
        .all(control)
        .await?;
    for t in tenants {
        let scope = tenancy.system_scope(TenantId(t.id)).await?;
        for r in scope
            .find::<retention_rule::Entity>()
            .filter(retention_rule::Column::PendingEffectiveAt.lte(now))
            .all(scope.db())
            .await?
        {
            let txn = scope.begin().await?;
            let target = r.pending_period_days.filter(|p| *p > 0);
            let changed = match target {
                Some(days) => {
                    without_pending(retention_rule::Entity::update_many(), RULE_PENDING)
                        .filter(retention_rule::Column::TenantId.eq(scope.tenant_id().0))
                        .filter(retention_rule::Column::Id.eq(r.id))
                        .filter(
                            retention_rule::Column::PendingEffectiveAt.eq(r.pending_effective_at),
                        )
                        .col_expr(retention_rule::Column::PeriodDays, Expr::value(days))
                        .col_expr(retention_rule::Column::InForce, Expr::value(true))
                        .col_expr(
                            retention_rule::Column::SetBy,
                            Expr::value(r.pending_set_by.clone().unwrap_or_default()),
                        )
                        .col_expr(retention_rule::Column::UpdatedAt, Expr::value(now))
                        .exec(&txn)
                        .await?
                        .rows_affected
                }
                None => {
                    retention_rule::Entity::delete_many()
                        .filter(retention_rule::Column::TenantId.eq(scope.tenant_id().0))
                        .filter(retention_rule::Column::Id.eq(r.id))
                        .filter(
                            retention_rule::Column::PendingEffectiveAt.eq(r.pending_effective_at),
                        )
                        .exec(&txn)
                        .await?
                        .rows_affected
                }
            };
            if changed != 1 {
                continue;
            }
            audit::append_tenant(
                &txn,
                scope.tenant_id(),
                AuditEntry::system("retention.rule_change_applied", "retention_rule", r.id)
                    .with_detail(json!({
                        "category": r.category,
                        "purpose": r.purpose,
                        "period_days": target,
                        "set_by": r.pending_set_by,
                    })),
            )
            .await?;
            txn.commit().await?;
            applied += 1;
        }
    }
    Ok(applied)
}

/// The holds in force on a tenant.
#[derive(Clone, Debug, Default)]
pub struct Held {
    pub tenant_wide: bool,
    pub subjects: HashSet<Uuid>,
}

impl Held {
    pub fn covers(&self, subject: Uuid) -> bool {
        self.tenant_wide || self.subjects.contains(&subject)
    }
}

/// The tenant's holds in force.
pub async fn held<C: ConnectionTrait>(db: &C, tenant: TenantId) -> Result<Held, AppError> {
    let mut held = Held::default();
    for hold in legal_hold::Entity::find()
        .filter(legal_hold::Column::TenantId.eq(tenant.0))
        .filter(legal_hold::Column::LiftedAt.is_null())
        .all(db)
        .await?
    {
        match &hold.subject_ids {
            None => held.tenant_wide = true,
            Some(ids) => held
                .subjects
                .extend(serde_json::from_str::<Vec<Uuid>>(ids).map_err(AppError::internal)?),
        }
    }
    Ok(held)
}

/// Places a legal hold on the whole tenant (`subject_ids` = `None`) or on some subjects (`legal`).
pub async fn place_hold(
    scope: &Scope,
    subject_ids: Option<Vec<Uuid>>,
    reason: &str,
) -> Result<legal_hold::Model, AppError> {
    let reason = crate::validate::text("reason", reason, 2000)?;
    let subjects = match subject_ids {
        None => None,
        Some(ids) => {
            let ids: BTreeSet<Uuid> = ids.into_iter().collect();
            if ids.is_empty() || ids.len() > MAX_HELD_SUBJECTS {
                return Err(AppError::BadInput(format!(
                    "`subjectIds` must name 1-{MAX_HELD_SUBJECTS} subjects (leave it out to hold the whole tenant)"
                )));
            }
            let found = crate::pagination::count(
                scope
                    .find::<steward_entities::data_subject::Entity>()
                    .filter(steward_entities::data_subject::Column::Id.is_in(ids.iter().copied())),
                scope.db(),
            )
            .await?;
            if found != ids.len() as u64 {
                return Err(AppError::NotFound(
                    "some of `subjectIds` are not subjects of this tenant".into(),
                ));
            }
            Some(ids.into_iter().collect::<Vec<_>>())
        }
    };
    let txn = scope.begin().await?;
    let model = legal_hold::ActiveModel {
        tenant_id: Set(scope.tenant_id().0),
        id: Set(Uuid::now_v7()),
        subject_ids: Set(subjects.as_ref().map(|s| json!(s).to_string())),
        reason: Set(reason),
        placed_by: Set(scope.principal().label()),
        placed_at: Set(Utc::now()),
        lifted_by: Set(None),
        lifted_at: Set(None),
        lift_reason: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::append_tenant(
        &txn,
        scope.tenant_id(),
        AuditEntry::by(
            scope.principal(),
            "legal_hold.placed",
            "legal_hold",
            model.id,
        )
        .with_detail(json!({ "subjects": subjects, "tenant_wide": subjects.is_none() })),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// Lifts a hold. Erasures it held back are queued again.
pub async fn lift_hold(
    scope: &Scope,
    id: Uuid,
    reason: &str,
) -> Result<legal_hold::Model, AppError> {
    let reason = crate::validate::text("reason", reason, 2000)?;
    let hold = scope
        .find::<legal_hold::Entity>()
        .filter(legal_hold::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no legal hold {id}")))?;
    if hold.lifted_at.is_some() {
        return Err(AppError::Refused {
            reason: "ALREADY_LIFTED",
            message: "this legal hold was already lifted".into(),
        });
    }
    // Erasures in progress that this hold was holding back, and that no other hold covers.
    let mut still = Held::default();
    for other in scope
        .find::<legal_hold::Entity>()
        .filter(legal_hold::Column::LiftedAt.is_null())
        .filter(legal_hold::Column::Id.ne(id))
        .all(scope.db())
        .await?
    {
        match &other.subject_ids {
            None => still.tenant_wide = true,
            Some(ids) => still
                .subjects
                .extend(serde_json::from_str::<Vec<Uuid>>(ids).map_err(AppError::internal)?),
        }
    }
    let covered: Option<HashSet<Uuid>> = hold
        .subject_ids
        .as_deref()
        .map(serde_json::from_str::<Vec<Uuid>>)
        .transpose()
        .map_err(AppError::internal)?
        .map(|ids| ids.into_iter().collect());
    let waiting: Vec<dsr_request::Model> = scope
        .find::<dsr_request::Entity>()
        .filter(dsr_request::Column::Kind.eq("erasure"))
        .filter(dsr_request::Column::State.eq("in_progress"))
        .all(scope.db())
        .await?
        .into_iter()
        .filter(|r| covered.as_ref().is_none_or(|c| c.contains(&r.subject_id)))
        .filter(|r| !still.covers(r.subject_id))
        .collect();
    let txn = scope.begin().await?;
    let mut model: legal_hold::ActiveModel = hold.into();
    model.lifted_by = Set(Some(scope.principal().label()));
    model.lifted_at = Set(Some(Utc::now()));
    model.lift_reason = Set(Some(reason));
    let lifted = model.update(&txn).await?;
    for request in &waiting {
        crate::erasure::requeue_erasure(&txn, scope.tenant_id(), request, &format!("hold-{id}"))
            .await?;
    }
    audit::append_tenant(
        &txn,
        scope.tenant_id(),
        AuditEntry::by(scope.principal(), "legal_hold.lifted", "legal_hold", id).with_detail(
            json!({ "erasures_resumed": waiting.iter().map(|r| r.id).collect::<Vec<_>>() }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(lifted)
}

pub async fn holds(scope: &Scope) -> Result<Vec<legal_hold::Model>, AppError> {
    Ok(scope
        .find::<legal_hold::Entity>()
        .order_by_desc(legal_hold::Column::Id)
        .all(scope.db())
        .await?)
}

/// The tenant's retention runs, newest first (at most 100).
pub async fn runs(scope: &Scope) -> Result<Vec<retention_run::Model>, AppError> {
    Ok(scope
        .find::<retention_run::Entity>()
        .order_by_desc(retention_run::Column::Id)
        .limit(100)
        .all(scope.db())
        .await?)
}

/// Where a selector's period comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Tenant(Uuid),
    PlatformDefault,
}

/// The values one rule judges: disjoint from every other selector of the tenant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub category: Option<String>,
    pub purpose: Option<String>,
    not_purposes: Vec<String>,
    not_categories: Vec<String>,
    pub period_days: i32,
    pub source: Source,
}

/// Compiles a tenant's rules and the platform defaults in force into disjoint selectors (see the module docs for the
/// order). Entries waiting for their first effective date judge nothing yet.
pub fn selectors(
    rules: &[retention_rule::Model],
    defaults: &[retention_default::Model],
) -> Vec<Selector> {
    let rules: Vec<&retention_rule::Model> = rules.iter().filter(|r| r.in_force).collect();
    let defaults: Vec<&retention_default::Model> = defaults.iter().filter(|d| d.in_force).collect();
    let specific: Vec<&retention_rule::Model> = rules
        .iter()
        .copied()
        .filter(|r| !r.category.is_empty() && !r.purpose.is_empty())
        .collect();
    let by_category: Vec<&retention_rule::Model> = rules
        .iter()
        .copied()
        .filter(|r| !r.category.is_empty() && r.purpose.is_empty())
        .collect();
    let by_purpose: Vec<&retention_rule::Model> = rules
        .iter()
        .copied()
        .filter(|r| r.category.is_empty() && !r.purpose.is_empty())
        .collect();
    let mut out = Vec::new();
    for r in &specific {
        out.push(Selector {
            category: Some(r.category.clone()),
            purpose: Some(r.purpose.clone()),
            not_purposes: vec![],
            not_categories: vec![],
            period_days: r.period_days,
            source: Source::Tenant(r.id),
        });
    }
    for r in &by_category {
        out.push(Selector {
            category: Some(r.category.clone()),
            purpose: None,
            not_purposes: specific
                .iter()
                .filter(|s| s.category == r.category)
                .map(|s| s.purpose.clone())
                .collect(),
            not_categories: vec![],
            period_days: r.period_days,
            source: Source::Tenant(r.id),
        });
    }
    for r in &by_purpose {
        let mut not_categories: Vec<String> = specific
            .iter()
            .filter(|s| s.purpose == r.purpose)
            .map(|s| s.category.clone())
            .collect();
        not_categories.extend(by_category.iter().map(|c| c.category.clone()));
        out.push(Selector {
            category: None,
            purpose: Some(r.purpose.clone()),
            not_purposes: vec![],
            not_categories,
            period_days: r.period_days,
            source: Source::Tenant(r.id),
        });
    }
    for d in &defaults {
        if by_category.iter().any(|c| c.category == d.category) {
            continue;
        }
        let mut not_purposes: Vec<String> = specific
            .iter()
            .filter(|s| s.category == d.category)
            .map(|s| s.purpose.clone())
            .collect();
        not_purposes.extend(by_purpose.iter().map(|p| p.purpose.clone()));
        out.push(Selector {
            category: Some(d.category.clone()),
            purpose: None,
            not_purposes,
            not_categories: vec![],
            period_days: d.period_days,
            source: Source::PlatformDefault,
        });
    }
    out
}

/// The rules and defaults as they will be once every pending change took effect, and the date the last one does.
fn projected(
    rules: &[retention_rule::Model],
    defaults: &[retention_default::Model],
) -> Option<(
    Vec<retention_rule::Model>,
    Vec<retention_default::Model>,
    DateTime<Utc>,
)> {
    let last = rules
        .iter()
        .filter_map(|r| r.pending_effective_at)
        .chain(defaults.iter().filter_map(|d| d.pending_effective_at))
        .max()?;
    let rules = rules
        .iter()
        .filter_map(|r| match pending_rule(r) {
            None => Some(r.clone()),
            Some(p) => p.period_days.map(|days| retention_rule::Model {
                period_days: days,
                in_force: true,
                ..r.clone()
            }),
        })
        .collect();
    let defaults = defaults
        .iter()
        .filter_map(|d| match pending_default(d) {
            None => Some(d.clone()),
            Some(p) => p.period_days.map(|days| retention_default::Model {
                period_days: days,
                in_force: true,
                ..d.clone()
            }),
        })
        .collect();
    Some((rules, defaults, last))
}

impl Selector {
    /// The tenant's values this selector judges that are past their period at `now`.
    fn due(&self, scope: &Scope, now: DateTime<Utc>) -> Select<personal_data::Entity> {
        let mut query = scope.find::<personal_data::Entity>().filter(
            personal_data::Column::CollectedAt
                .lte(now - Duration::days(i64::from(self.period_days))),
        );
        if let Some(c) = &self.category {
            query = query.filter(personal_data::Column::Category.eq(c));
        }
        if let Some(p) = &self.purpose {
            query = query.filter(personal_data::Column::Purpose.eq(p));
        }
        if !self.not_purposes.is_empty() {
            query =
                query.filter(personal_data::Column::Purpose.is_not_in(self.not_purposes.clone()));
        }
        if !self.not_categories.is_empty() {
            query = query
                .filter(personal_data::Column::Category.is_not_in(self.not_categories.clone()));
        }
        query
    }
}

fn not_held(query: Select<personal_data::Entity>, held: &Held) -> Select<personal_data::Entity> {
    if held.subjects.is_empty() {
        query
    } else {
        query.filter(personal_data::Column::SubjectId.is_not_in(held.subjects.iter().copied()))
    }
}

/// One line of a retention preview.
#[derive(Clone, Debug)]
pub struct PreviewLine {
    pub selector: Selector,
    /// Values past their period that the next sweep would delete.
    pub due: u64,
    /// Values past their period kept by a legal hold.
    pub held: u64,
    /// For a line of the rules as pending changes will leave them: when they take effect (then `due` counts what
    /// the sweep would delete at that moment). `None` for the rules in force now.
    pub effective_at: Option<DateTime<Utc>>,
}

/// What a sweep would delete now, by rule — a dry run that changes nothing. When staff scheduled changes, the lines
/// of the rules as they will be once those take effect follow, counted at that date.
pub async fn preview(
    tenancy: &Tenancy,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Vec<PreviewLine>, AppError> {
    let rules = rules(scope).await?;
    let defaults = defaults(tenancy).await?;
    let current = selectors(&rules, &defaults);
    let held = held(scope.db(), scope.tenant_id()).await?;
    let mut lines = Vec::new();
    let mut plan: Vec<(Selector, DateTime<Utc>, Option<DateTime<Utc>>)> =
        current.iter().map(|s| (s.clone(), now, None)).collect();
    if let Some((rules, defaults, at)) = projected(&rules, &defaults) {
        plan.extend(
            selectors(&rules, &defaults)
                .into_iter()
                .filter(|s| !current.contains(s))
                .map(|s| (s, at.max(now), Some(at))),
        );
    }
    for (selector, when, effective_at) in plan {
        let all = crate::pagination::count(selector.due(scope, when), scope.db()).await?;
        let free = if held.tenant_wide {
            0
        } else {
            crate::pagination::count(not_held(selector.due(scope, when), &held), scope.db()).await?
        };
        lines.push(PreviewLine {
            selector,
            due: free,
            held: all - free,
            effective_at,
        });
    }
    Ok(lines)
}

/// Deletes every value past its period in every tenant, in bounded batches. Returns the values deleted.
pub async fn sweep(tenancy: &Tenancy, now: DateTime<Utc>) -> Result<u64, AppError> {
    sweep_with(tenancy, now, BATCH, MAX_BATCHES).await
}

/// [`sweep`] with its bounds given: at most `max_batches` transactions of `batch` values per tenant.
pub async fn sweep_with(
    tenancy: &Tenancy,
    now: DateTime<Utc>,
    batch: u64,
    max_batches: usize,
) -> Result<u64, AppError> {
    let batch = batch.max(1);
    apply_due(tenancy, now).await?;
    let defaults = defaults(tenancy).await?;
    let tenants = tenant::Entity::find()
        .order_by_asc(tenant::Column::Id)
        .all(tenancy.databases().control())
        .await?;
    let mut deleted = 0;
    for t in tenants {
        let scope = tenancy.system_scope(TenantId(t.id)).await?;
        let selectors = selectors(&rules(&scope).await?, &defaults);
        if selectors.is_empty() {
            continue;
        }
        deleted += sweep_tenant(tenancy, &scope, &selectors, now, batch, max_batches).await?;
    }
    Ok(deleted)
}

async fn sweep_tenant(
    tenancy: &Tenancy,
    scope: &Scope,
    selectors: &[Selector],
    now: DateTime<Utc>,
    size: u64,
    max_batches: usize,
) -> Result<u64, AppError> {
    let held = held(scope.db(), scope.tenant_id()).await?;
    if held.tenant_wide {
        return Ok(0);
    }
    let mut deleted = 0;
    for _ in 0..max_batches {
        let mut batch: Vec<personal_data::Model> = Vec::new();
        for selector in selectors {
            let room = size - batch.len() as u64;
            if room == 0 {
                break;
            }
            batch.extend(
                not_held(selector.due(scope, now), &held)
                    .order_by_asc(personal_data::Column::CollectedAt)
                    .limit(room)
                    .all(scope.db())
                    .await?,
            );
        }
        if batch.is_empty() {
            break;
        }
        let mut held_skipped = 0;
        for selector in selectors {
            held_skipped += crate::pagination::count(selector.due(scope, now), scope.db()).await?
                - crate::pagination::count(not_held(selector.due(scope, now), &held), scope.db())
                    .await?;
        }
        deleted += delete_batch(tenancy, scope, &batch, held_skipped).await?;
        if (batch.len() as u64) < size {
            break;
        }
    }
    Ok(deleted)
}

/// Deletes one batch of values in one transaction, with its record, its audit event and its propagations.
async fn delete_batch(
    tenancy: &Tenancy,
    scope: &Scope,
    batch: &[personal_data::Model],
    held_skipped: u64,
) -> Result<u64, AppError> {
    let tenant = scope.tenant_id();
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_subject: BTreeMap<Uuid, BTreeSet<String>> = BTreeMap::new();
    for value in batch {
        *counts.entry(value.category.clone()).or_default() += 1;
        by_subject
            .entry(value.subject_id)
            .or_default()
            .insert(value.category.clone());
    }
    // Who received these subjects' data in these categories (read before the transaction).
    let recipients =
        crate::erasure::recipients(scope, &by_subject, crate::erasure::Extent::Values).await?;
    let registry = crate::erasure::registry_of(tenancy, &recipients).await?;

    let run_id = Uuid::now_v7();
    let now = Utc::now();
    let txn = scope.begin().await?;
    let deleted = personal_data::Entity::delete_many()
        .filter(personal_data::Column::TenantId.eq(tenant.0))
        .filter(personal_data::Column::Id.is_in(batch.iter().map(|v| v.id)))
        .exec(&txn)
        .await?
        .rows_affected;
    // Holds are read again inside the transaction (after its first write, so on SQLite it is the writer): one placed
    // since the batch was chosen rolls the batch back, and the next sweep skips what it holds.
    let held_now = held(&txn, tenant).await?;
    if deleted == 0 || held_now.tenant_wide || batch.iter().any(|v| held_now.covers(v.subject_id)) {
        return Ok(0);
    }
    // A departing tenant's export must not keep what retention deleted.
    crate::erasure::invalidate(&txn, tenant).await?;
    retention_run::ActiveModel {
        tenant_id: Set(tenant.0),
        id: Set(run_id),
        ran_at: Set(now),
        values_deleted: Set(deleted as i32),
        subjects: Set(by_subject.len() as i32),
        counts: Set(json!(counts).to_string()),
        held_skipped: Set(held_skipped as i32),
    }
    .insert(&txn)
    .await?;
    let mut propagated = 0;
    for ((subject, sp), categories) in &recipients {
        crate::erasure::propagate(
            &txn,
            tenant,
            run_id,
            *subject,
            (*sp, registry.get(sp)),
            categories,
        )
        .await?;
        propagated += 1;
    }
    audit::append_tenant(
        &txn,
        tenant,
        AuditEntry::system("retention.deleted", "retention_run", run_id).with_detail(json!({
            "values_deleted": deleted,
            "subjects": by_subject.len(),
            "counts": counts,
            "held_skipped": held_skipped,
            "propagations": propagated,
        })),
    )
    .await?;
    txn.commit().await?;
    crate::erasure::checkpoint(scope.db()).await?;
    Ok(deleted)
}

/// Days of notice before a sub-processor change takes effect, unless the tenant's contract says otherwise.
pub const DEFAULT_NOTICE_PERIOD_DAYS: i32 = 30;
