//! Retention enforced in code: per-tenant rules by category and/or purpose, platform defaults per category, legal
//! holds that suspend deletion (and erasure), a dry-run preview, and the sweep that deletes values past their period
//! in bounded batches — each batch one transaction with its record (counts only), its audit event and the
//! propagations to sub-processors that received the deleted data.
//!
//! Which rule applies to a value (category `c`, purpose `p`), most specific first: the tenant's rule for (`c`, `p`),
//! its rule for `c` with any purpose, its rule for `p` with any category, the platform default for `c`. The rules
//! compile to disjoint [`Selector`]s, so every value is judged by exactly one.

mod holds;
mod sweep;

pub use holds::*;
pub use sweep::*;

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
    Counts, dsr_request, legal_hold, personal_data, retention_default, retention_rule,
    retention_run, tenant,
};
use steward_policy::{ActorKind, Permission};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{RuleId, TenantId};
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
    let mut txn = scope.begin().await?;
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
            txn.insert(retention_rule::ActiveModel {
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
                ..Default::default()
            })
            .await?
        }
    };
    txn.record(
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
    txn.commit_recorded().await?;
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
        .one(tenancy.system().control())
        .await?
        .unwrap_or(crate::retention::DEFAULT_NOTICE_PERIOD_DAYS);
    Ok(Duration::days(i64::from(
        days.max(MIN_STAFF_CHANGE_NOTICE_DAYS),
    )))
}

/// A tenant created while a change to the default retention periods is pending is told of it at once, before it holds
/// any data: the notices it is owed, filed with the event that starts its chain.
pub(crate) async fn owed_to_new_tenant<C: ConnectionTrait>(
    control: &C,
) -> Result<Vec<crate::owed::Owed>, AppError> {
    let pending = retention_default::Entity::find()
        .filter(retention_default::Column::PendingEffectiveAt.is_not_null())
        .order_by_asc(retention_default::Column::Category)
        .all(control)
        .await?;
    let mut owed = Vec::new();
    for d in pending {
        let (Some(days), Some(at)) = (d.pending_period_days, d.pending_effective_at) else {
            continue;
        };
        owed.push(crate::owed::Owed::notice(
            NOTICE_RETENTION_CHANGE,
            "A change to the default retention periods is scheduled",
            format!(
                "The platform's default retention period for category `{}` becomes {days} days from {}. It applies to \
                 your values of that category that no rule of yours covers. Set your own rule to keep a different \
                 period; retentionPreview shows what the change would delete.",
                d.category,
                at.format("%Y-%m-%d %H:%M UTC"),
            ),
        ));
    }
    Ok(owed)
}

/// Removes one of the tenant's rules. A `client_admin` removes at once; staff schedule the removal (values may then
/// fall under a shorter default) after the tenant's notice period, cancellable until then.
pub async fn remove_rule(tenancy: &Tenancy, scope: &Scope, id: RuleId) -> Result<(), AppError> {
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
        scope
            .delete_many::<retention_rule::Entity>()
            .filter(retention_rule::Column::Id.eq(id))
            .exec(&txn)
            .await?;
    }
    txn.commit(
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
    Ok(())
}

/// Cancels a rule's pending change (its `client_admin`, or a privacy officer). A rule that was never in force goes.
pub async fn cancel_rule_change(
    scope: &Scope,
    id: RuleId,
) -> Result<Option<retention_rule::Model>, AppError> {
    let rule = scope
        .find::<retention_rule::Entity>()
        .filter(retention_rule::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no retention rule {id}")))?;
    if rule.pending_effective_at.is_none() {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::NothingPending,
            message: "this retention rule has no pending change".into(),
        });
    }
    let mut txn = scope.begin().await?;
    // A change of a rule in force is dropped; a rule that was never in force goes with it.
    let changed = if rule.in_force {
        without_pending(scope.update_many::<retention_rule::Entity>(), RULE_PENDING)
            .filter(retention_rule::Column::Id.eq(id))
            .filter(retention_rule::Column::PendingEffectiveAt.is_not_null())
            .exec(&txn)
            .await?
            .rows_affected
    } else {
        scope
            .delete_many::<retention_rule::Entity>()
            .filter(retention_rule::Column::Id.eq(id))
            .filter(retention_rule::Column::InForce.eq(false))
            .exec(&txn)
            .await?
            .rows_affected
    };
    if changed != 1 {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::NothingPending,
            message: "this retention rule's pending change already took effect".into(),
        });
    }
    txn.record(
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
    txn.commit_recorded().await?;
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
    let platform = tenancy
        .require_platform(principal, Permission::RetentionManage)
        .await?;
    let period_days = check_period(period_days)?;
    let category = taxonomy::category(category.trim())?.key.clone();
    let control = platform.control();
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
        .filter(tenant::Column::Status.ne(TenantStatus::Terminated))
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
    let mut owing = crate::owed::Owing::default();
    if let Some(at) = wait {
        let body = format!(
            "{by} set the platform's default retention period for category `{category}` to {period_days} days. It \
             applies to your values of that category that no rule of yours covers, from {}. Set your own rule to \
             keep a different period; retentionPreview shows what the change would delete.",
            at.format("%Y-%m-%d %H:%M UTC"),
        );
        owing = crate::privacy_policy::notify_tenants(
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
    owing.apply(tenancy).await;
    Ok(model)
}

/// Cancels a default's pending change (privacy officers). A default that was never in force goes.
pub async fn cancel_default_change(
    tenancy: &Tenancy,
    principal: &Principal,
    category: &str,
) -> Result<Option<retention_default::Model>, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::RetentionManage)
        .await?;
    let category = taxonomy::category(category.trim())?.key.clone();
    let control = platform.control();
    let default = retention_default::Entity::find_by_id(category.clone())
        .one(control)
        .await?
        .filter(|d| d.pending_effective_at.is_some())
        .ok_or_else(|| AppError::Refused {
            reason: crate::error::RefusalReason::NothingPending,
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
            reason: crate::error::RefusalReason::NothingPending,
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
        .all(tenancy.system().control())
        .await?)
}

/// Applies the pending changes whose date has come: the defaults, then every tenant's rules, each in its own
/// transaction with its audit event. Runs at the start of every sweep.
pub async fn apply_due(tenancy: &Tenancy, now: DateTime<Utc>) -> Result<usize, AppError> {
    let control = tenancy.system().control();
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
                    without_pending(scope.update_many::<retention_rule::Entity>(), RULE_PENDING)
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
                    scope
                        .delete_many::<retention_rule::Entity>()
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
            txn.commit(
                AuditEntry::system("retention.rule_change_applied", "retention_rule", r.id)
                    .with_detail(json!({
                        "category": r.category,
                        "purpose": r.purpose,
                        "period_days": target,
                        "set_by": r.pending_set_by,
                    })),
            )
            .await?;
            applied += 1;
        }
    }
    Ok(applied)
}

/// Days of notice before a sub-processor change takes effect, unless the tenant's contract says otherwise.
pub const DEFAULT_NOTICE_PERIOD_DAYS: i32 = 30;
