//! Retention and legal holds: `retentionRules`, `setRetentionRule`, `removeRetentionRule`, `retentionDefaults`,
//! `setRetentionDefault`, `cancelRetentionRuleChange`, `cancelRetentionDefaultChange`, `retentionPreview`, `retentionRuns`, `legalHolds`, `placeLegalHold`, `liftLegalHold`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use steward_entities::{legal_hold, retention_default, retention_rule, retention_run};
use steward_policy::Permission;

use crate::graphql::{open_scope, principal, tenancy};
use crate::ids::{HoldId, RuleId, SubjectId};
use crate::retention::{self, Source};

/// A tenant's rule: values of `category` (any when null) collected for `purpose` (any when null) are deleted
/// `periodDays` after collection.
#[derive(SimpleObject)]
pub struct RetentionRule {
    pub id: ID,
    pub category: Option<String>,
    pub purpose: Option<String>,
    pub period_days: i32,
    pub set_by: String,
    pub updated_at: DateTime<Utc>,
    /// False while a rule added by staff waits for its effective date: it deletes nothing yet.
    pub in_force: bool,
    /// A change staff scheduled, cancellable until it takes effect; null when none.
    pub pending_change: Option<PendingRetentionChange>,
}

/// A retention change made by staff that could delete values sooner: it takes effect only once the tenant's admins
/// were notified and its notice period passed, and can be cancelled until then.
#[derive(SimpleObject)]
pub struct PendingRetentionChange {
    /// The period it sets, or null when it removes the rule.
    pub period_days: Option<i32>,
    pub effective_at: DateTime<Utc>,
    pub set_by: String,
}

impl From<retention::Pending> for PendingRetentionChange {
    fn from(p: retention::Pending) -> Self {
        PendingRetentionChange {
            period_days: p.period_days,
            effective_at: p.effective_at,
            set_by: p.set_by,
        }
    }
}

impl From<retention_rule::Model> for RetentionRule {
    fn from(m: retention_rule::Model) -> Self {
        let pending_change = retention::pending_rule(&m).map(Into::into);
        RetentionRule {
            id: ID(m.id.to_string()),
            category: (!m.category.is_empty()).then_some(m.category),
            purpose: (!m.purpose.is_empty()).then_some(m.purpose),
            period_days: m.period_days,
            set_by: m.set_by,
            updated_at: m.updated_at,
            in_force: m.in_force,
            pending_change,
        }
    }
}

/// The platform's default period for a category, where a tenant has no rule of its own.
#[derive(SimpleObject)]
pub struct RetentionDefault {
    pub category: String,
    pub period_days: i32,
    pub set_by: String,
    pub updated_at: DateTime<Utc>,
    /// False while a default added by staff waits for its effective date: it deletes nothing yet.
    pub in_force: bool,
    /// A change scheduled by staff, cancellable until it takes effect; null when none.
    pub pending_change: Option<PendingRetentionChange>,
}

impl From<retention_default::Model> for RetentionDefault {
    fn from(m: retention_default::Model) -> Self {
        let pending_change = retention::pending_default(&m).map(Into::into);
        RetentionDefault {
            category: m.category,
            period_days: m.period_days,
            set_by: m.set_by,
            updated_at: m.updated_at,
            in_force: m.in_force,
            pending_change,
        }
    }
}

/// What the next retention sweep would delete under one rule.
#[derive(SimpleObject)]
pub struct RetentionPreviewLine {
    /// The tenant rule, or null for the platform default.
    pub rule_id: Option<ID>,
    pub category: Option<String>,
    pub purpose: Option<String>,
    pub period_days: i32,
    /// Values past their period that would be deleted now (or, for a pending line, at `effectiveAt`).
    pub due: u64,
    /// Values past their period kept by a legal hold.
    pub held: u64,
    /// Null for the rules in force. Otherwise this line is of the rules as scheduled changes will leave them, and
    /// `due` counts what the sweep would delete once they take effect at this time.
    pub effective_at: Option<DateTime<Utc>>,
}

/// One batch a retention sweep deleted (counts only).
#[derive(SimpleObject)]
pub struct RetentionRun {
    pub id: ID,
    pub ran_at: DateTime<Utc>,
    pub values_deleted: i32,
    pub subjects: i32,
    /// JSON object: category → values deleted.
    pub counts: String,
    /// Values past their period that a legal hold kept.
    pub held_skipped: i32,
}

impl From<retention_run::Model> for RetentionRun {
    fn from(m: retention_run::Model) -> Self {
        RetentionRun {
            id: ID(m.id.to_string()),
            ran_at: m.ran_at,
            values_deleted: m.values_deleted,
            subjects: m.subjects,
            counts: serde_json::json!(m.counts).to_string(),
            held_skipped: m.held_skipped,
        }
    }
}

/// A legal hold: retention deletion and erasure are suspended for what it covers until it is lifted.
#[derive(SimpleObject)]
pub struct LegalHold {
    pub id: ID,
    /// The subjects held, or null for the whole tenant.
    pub subject_ids: Option<Vec<ID>>,
    pub reason: String,
    pub placed_by: String,
    pub placed_at: DateTime<Utc>,
    pub lifted_by: Option<String>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lift_reason: Option<String>,
}

impl From<legal_hold::Model> for LegalHold {
    fn from(m: legal_hold::Model) -> Self {
        let subject_ids = m
            .subject_ids
            .map(|ids| ids.0.iter().map(|i| ID(i.to_string())).collect());
        LegalHold {
            id: ID(m.id.to_string()),
            subject_ids,
            reason: m.reason,
            placed_by: m.placed_by,
            placed_at: m.placed_at,
            lifted_by: m.lifted_by,
            lifted_at: m.lifted_at,
            lift_reason: m.lift_reason,
        }
    }
}

#[derive(InputObject)]
pub struct RetentionRuleInput {
    pub tenant_id: Option<ID>,
    /// A taxonomy category; leave out for any category (then `purpose` is required).
    pub category: Option<String>,
    /// A taxonomy purpose; leave out for any purpose.
    pub purpose: Option<String>,
    /// Days after collection (1-36500).
    pub period_days: i32,
}

#[derive(InputObject)]
pub struct LegalHoldInput {
    pub tenant_id: ID,
    /// Leave out to hold the whole tenant.
    pub subject_ids: Option<Vec<ID>>,
    pub reason: String,
}

#[derive(Default)]
pub struct RetentionQuery;

#[Object]
impl RetentionQuery {
    /// The tenant's retention rules (`client_admin`, `privacy_officer`).
    async fn retention_rules(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Vec<RetentionRule>> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RetentionManage).await?;
        Ok(retention::rules(&scope)
            .await?
            .into_iter()
            .map(RetentionRule::from)
            .collect())
    }

    /// The platform's default periods per category.
    async fn retention_defaults(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<RetentionDefault>> {
        principal(ctx)?;
        Ok(retention::defaults(tenancy(ctx)?)
            .await?
            .into_iter()
            .map(RetentionDefault::from)
            .collect())
    }

    /// A dry run: what the retention sweep would delete now, by rule, and what legal holds keep; then, when staff
    /// scheduled changes, what it would delete once they take effect (lines with `effectiveAt`).
    async fn retention_preview(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Vec<RetentionPreviewLine>> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RetentionManage).await?;
        let lines = retention::preview(tenancy(ctx)?, &scope, Utc::now()).await?;
        Ok(lines
            .into_iter()
            .map(|l| RetentionPreviewLine {
                rule_id: match l.selector.source {
                    Source::Tenant(id) => Some(ID(id.to_string())),
                    Source::PlatformDefault => None,
                },
                category: l.selector.category,
                purpose: l.selector.purpose,
                period_days: l.selector.period_days,
                due: l.due,
                held: l.held,
                effective_at: l.effective_at,
            })
            .collect())
    }

    /// What retention sweeps deleted for the tenant, newest first.
    async fn retention_runs(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Vec<RetentionRun>> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RetentionManage).await?;
        Ok(retention::runs(&scope)
            .await?
            .into_iter()
            .map(RetentionRun::from)
            .collect())
    }

    /// The tenant's legal holds, in force and lifted (`legal`).
    async fn legal_holds(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
    ) -> async_graphql::Result<Vec<LegalHold>> {
        let scope = open_scope(ctx, Some(&tenant_id), Permission::LegalHoldManage).await?;
        Ok(retention::holds(&scope)
            .await?
            .into_iter()
            .map(LegalHold::from)
            .collect())
    }
}

#[derive(Default)]
pub struct RetentionMutation;

#[Object]
impl RetentionMutation {
    /// Sets the tenant's retention period for a category and/or purpose (`client_admin`, `privacy_officer`). A
    /// `client_admin`'s change takes effect at once. A `privacy_officer`'s takes effect at once only when it keeps
    /// values longer than the rule in force; otherwise it is scheduled after the tenant's notice period, its admins
    /// are notified, and it shows as `pendingChange` until it takes effect or is cancelled.
    async fn set_retention_rule(
        &self,
        ctx: &Context<'_>,
        input: RetentionRuleInput,
    ) -> async_graphql::Result<RetentionRule> {
        let scope = open_scope(ctx, input.tenant_id.as_ref(), Permission::RetentionManage).await?;
        Ok(retention::set_rule(
            tenancy(ctx)?,
            &scope,
            input.category.as_deref(),
            input.purpose.as_deref(),
            input.period_days,
        )
        .await?
        .into())
    }

    /// Removes one of the tenant's rules: at once by its `client_admin`; by a `privacy_officer`, after the tenant's
    /// notice period (values may then fall under a shorter platform default), cancellable until then.
    async fn remove_retention_rule(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
    ) -> async_graphql::Result<bool> {
        let id = RuleId::parse("id", &id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RetentionManage).await?;
        retention::remove_rule(tenancy(ctx)?, &scope, id).await?;
        Ok(true)
    }

    /// Cancels the change staff scheduled on one of the tenant's rules (`client_admin`, `privacy_officer`). Returns
    /// the rule as it stays, or null when the rule was a staff addition never in force (it is gone).
    async fn cancel_retention_rule_change(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
    ) -> async_graphql::Result<Option<RetentionRule>> {
        let id = RuleId::parse("id", &id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RetentionManage).await?;
        Ok(retention::cancel_rule_change(&scope, id)
            .await?
            .map(Into::into))
    }

    /// Cancels a scheduled change of a platform default (`privacy_officer`). Returns the default as it stays, or
    /// null when it was a new default never in force (it is gone).
    async fn cancel_retention_default_change(
        &self,
        ctx: &Context<'_>,
        category: String,
    ) -> async_graphql::Result<Option<RetentionDefault>> {
        Ok(
            retention::cancel_default_change(tenancy(ctx)?, principal(ctx)?, &category)
                .await?
                .map(Into::into),
        )
    }

    /// Sets the platform default period of a category (`privacy_officer`). A longer period applies at once; a new or
    /// shorter one is scheduled after the longest notice period of the live tenants, whose admins are notified, and
    /// can be cancelled until then.
    async fn set_retention_default(
        &self,
        ctx: &Context<'_>,
        category: String,
        period_days: i32,
    ) -> async_graphql::Result<RetentionDefault> {
        Ok(
            retention::set_default(tenancy(ctx)?, principal(ctx)?, &category, period_days)
                .await?
                .into(),
        )
    }

    /// Places a legal hold on a tenant or some of its subjects (`legal`): retention deletion and erasure stop for
    /// what it covers.
    async fn place_legal_hold(
        &self,
        ctx: &Context<'_>,
        input: LegalHoldInput,
    ) -> async_graphql::Result<LegalHold> {
        let subjects = input
            .subject_ids
            .as_ref()
            .map(|ids| {
                ids.iter()
                    .map(|id| SubjectId::parse("subjectIds", id))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let scope = open_scope(ctx, Some(&input.tenant_id), Permission::LegalHoldManage).await?;
        Ok(retention::place_hold(&scope, subjects, &input.reason)
            .await?
            .into())
    }

    /// Lifts a legal hold (`legal`); erasures it held back are queued again.
    async fn lift_legal_hold(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<LegalHold> {
        let id = HoldId::parse("id", &id)?;
        let scope = open_scope(ctx, Some(&tenant_id), Permission::LegalHoldManage).await?;
        Ok(retention::lift_hold(&scope, id, &reason).await?.into())
    }
}
