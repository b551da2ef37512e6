//! Retention enforced in code: per-tenant rules by category and/or purpose, platform defaults per category, legal
//! holds that suspend deletion (and erasure), a dry-run preview, and the sweep that deletes values past their period
//! in bounded batches — each batch one transaction with its record (counts only), its audit event and the
//! propagations to sub-processors that received the deleted data.
//!
//! Which rule applies to a value (category `c`, purpose `p`), most specific first: the tenant's rule for (`c`, `p`),
//! its rule for `c` with any purpose, its rule for `p` with any category, the platform default for `c`. The rules
//! compile to disjoint [`Selector`]s, so every value is judged by exactly one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Select, Set, TransactionTrait,
};
use serde_json::json;
use steward_entities::{
    dsr_request, legal_hold, onward_transfer, onward_transfer_subject, personal_data,
    retention_default, retention_rule, retention_run, subprocessor, tenant,
};
use steward_policy::Permission;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::TenantId;
use crate::taxonomy;
use crate::tenancy::{Scope, Tenancy};

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

/// Sets (or changes) the tenant's rule for a category and/or purpose.
pub async fn set_rule(
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
    let txn = scope.begin().await?;
    let model = match existing {
        Some(rule) => {
            let mut model: retention_rule::ActiveModel = rule.into();
            model.period_days = Set(period_days);
            model.set_by = Set(scope.principal().label());
            model.updated_at = Set(now);
            model.update(&txn).await?
        }
        None => {
            retention_rule::ActiveModel {
                tenant_id: Set(scope.tenant_id().0),
                id: Set(Uuid::now_v7()),
                category: Set(category.clone()),
                purpose: Set(purpose.clone()),
                period_days: Set(period_days),
                set_by: Set(scope.principal().label()),
                updated_at: Set(now),
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
            "retention.rule_set",
            "retention_rule",
            model.id,
        )
        .with_detail(
            json!({ "category": category, "purpose": purpose, "period_days": period_days }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// Removes one of the tenant's rules.
pub async fn remove_rule(scope: &Scope, id: Uuid) -> Result<(), AppError> {
    let rule = scope
        .find::<retention_rule::Entity>()
        .filter(retention_rule::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no retention rule {id}")))?;
    let txn = scope.begin().await?;
    retention_rule::Entity::delete_many()
        .filter(retention_rule::Column::TenantId.eq(scope.tenant_id().0))
        .filter(retention_rule::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    audit::append_tenant(
        &txn,
        scope.tenant_id(),
        AuditEntry::by(
            scope.principal(),
            "retention.rule_removed",
            "retention_rule",
            id,
        )
        .with_detail(json!({ "category": rule.category, "purpose": rule.purpose })),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

pub async fn rules(scope: &Scope) -> Result<Vec<retention_rule::Model>, AppError> {
    Ok(scope
        .find::<retention_rule::Entity>()
        .order_by_asc(retention_rule::Column::Id)
        .all(scope.db())
        .await?)
}

/// Sets the platform's default period for a category (privacy officers).
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
    let txn = control.begin().await?;
    let model = retention_default::ActiveModel {
        category: Set(category.clone()),
        period_days: Set(period_days),
        set_by: Set(principal.label()),
        updated_at: Set(Utc::now()),
    };
    let model = if existing.is_some() {
        model.update(&txn).await?
    } else {
        model.insert(&txn).await?
    };
    audit::append_platform(
        &txn,
        AuditEntry::by(
            principal,
            "retention.default_set",
            "retention_default",
            &category,
        )
        .with_detail(json!({ "period_days": period_days })),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

pub async fn defaults(tenancy: &Tenancy) -> Result<Vec<retention_default::Model>, AppError> {
    Ok(retention_default::Entity::find()
        .order_by_asc(retention_default::Column::Category)
        .all(tenancy.databases().control())
        .await?)
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
        crate::requests::requeue_erasure(&txn, scope.tenant_id(), request, &format!("hold-{id}"))
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
#[derive(Clone, Debug)]
pub struct Selector {
    pub category: Option<String>,
    pub purpose: Option<String>,
    not_purposes: Vec<String>,
    not_categories: Vec<String>,
    pub period_days: i32,
    pub source: Source,
}

/// Compiles a tenant's rules and the platform defaults into disjoint selectors (see the module docs for the order).
pub fn selectors(
    rules: &[retention_rule::Model],
    defaults: &[retention_default::Model],
) -> Vec<Selector> {
    let specific: Vec<&retention_rule::Model> = rules
        .iter()
        .filter(|r| !r.category.is_empty() && !r.purpose.is_empty())
        .collect();
    let by_category: Vec<&retention_rule::Model> = rules
        .iter()
        .filter(|r| !r.category.is_empty() && r.purpose.is_empty())
        .collect();
    let by_purpose: Vec<&retention_rule::Model> = rules
        .iter()
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
    for d in defaults {
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
}

/// What a sweep would delete now, by rule — a dry run that changes nothing.
pub async fn preview(
    tenancy: &Tenancy,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Vec<PreviewLine>, AppError> {
    let selectors = selectors(&rules(scope).await?, &defaults(tenancy).await?);
    let held = held(scope.db(), scope.tenant_id()).await?;
    let mut lines = Vec::new();
    for selector in selectors {
        let all = crate::pagination::count(selector.due(scope, now), scope.db()).await?;
        let free = if held.tenant_wide {
            0
        } else {
            crate::pagination::count(not_held(selector.due(scope, now), &held), scope.db()).await?
        };
        lines.push(PreviewLine {
            selector,
            due: free,
            held: all - free,
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
    let links = scope
        .find::<onward_transfer_subject::Entity>()
        .filter(onward_transfer_subject::Column::SubjectId.is_in(by_subject.keys().copied()))
        .all(scope.db())
        .await?;
    let listed: HashSet<Uuid> = scope
        .find::<onward_transfer_subject::Entity>()
        .select_only()
        .column(onward_transfer_subject::Column::TransferId)
        .distinct()
        .into_tuple::<Uuid>()
        .all(scope.db())
        .await?
        .into_iter()
        .collect();
    let transfers = scope
        .find::<onward_transfer::Entity>()
        .all(scope.db())
        .await?;
    let mut recipients: BTreeMap<(Uuid, Uuid), BTreeSet<String>> = BTreeMap::new();
    for (subject, categories) in &by_subject {
        let named: HashSet<Uuid> = links
            .iter()
            .filter(|l| l.subject_id == *subject)
            .map(|l| l.transfer_id)
            .collect();
        for t in &transfers {
            if !named.contains(&t.id) && listed.contains(&t.id) {
                continue;
            }
            let sent: Vec<String> = serde_json::from_str(&t.categories).unwrap_or_default();
            let erased: BTreeSet<String> = sent
                .into_iter()
                .filter(|c| categories.contains(c))
                .collect();
            if !erased.is_empty() {
                recipients
                    .entry((*subject, t.sub_processor_id))
                    .or_default()
                    .extend(erased);
            }
        }
    }
    let registry: HashMap<Uuid, subprocessor::Model> = subprocessor::Entity::find()
        .filter(subprocessor::Column::Id.is_in(recipients.keys().map(|(_, sp)| *sp)))
        .all(tenancy.databases().control())
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();

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
        crate::requests::propagate(
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
    crate::requests::checkpoint(scope.db()).await?;
    Ok(deleted)
}
