//! The sweep: which values are past their period (the selectors, also behind the preview), deleted in batches, each
//! batch with its record, its audit event and its propagations to the recipients.

use super::*;
use crate::ids::{SubjectId, TenantId};

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
pub(super) fn projected(
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
    /// Whether this selector judges a value of `category` held for `purpose` (the selectors being disjoint, at most
    /// one of a tenant's does).
    pub fn judges(&self, category: &str, purpose: &str) -> bool {
        self.category.as_deref().is_none_or(|c| c == category)
            && self.purpose.as_deref().is_none_or(|p| p == purpose)
            && !self.not_purposes.iter().any(|p| p == purpose)
            && !self.not_categories.iter().any(|c| c == category)
    }

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

pub(super) fn not_held(
    query: Select<personal_data::Entity>,
    held: &Held,
) -> Select<personal_data::Entity> {
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
    let held = held(scope.db(), scope.find()).await?;
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
        .all(tenancy.system().control())
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

pub(super) async fn sweep_tenant(
    tenancy: &Tenancy,
    scope: &Scope,
    selectors: &[Selector],
    now: DateTime<Utc>,
    size: u64,
    max_batches: usize,
) -> Result<u64, AppError> {
    let held = held(scope.db(), scope.find()).await?;
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
pub(super) async fn delete_batch(
    tenancy: &Tenancy,
    scope: &Scope,
    batch: &[personal_data::Model],
    held_skipped: u64,
) -> Result<u64, AppError> {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_subject: BTreeMap<SubjectId, BTreeSet<String>> = BTreeMap::new();
    for value in batch {
        *counts.entry(value.category.clone()).or_default() += 1;
        by_subject
            .entry(SubjectId(value.subject_id))
            .or_default()
            .insert(value.category.clone());
    }
    // Who received these subjects' data in these categories (read before the transaction).
    let recipients =
        crate::erasure::recipients(scope, &by_subject, crate::erasure::Extent::Values).await?;
    let registry = crate::erasure::registry_of(tenancy, &recipients).await?;

    // Journalled first, so a restored backup of the region can have it applied again (`erasure::journal`).
    let journalled = crate::erasure::journal::record(
        scope,
        crate::erasure::journal::Erased::Values,
        &batch.iter().map(|v| v.id).collect::<Vec<_>>(),
        None,
    )
    .await?;
    let run_id = Uuid::now_v7();
    let now = Utc::now();
    let txn = scope.begin().await?;
    // The subjects' rows before their values, as every transaction writing a subject's data takes them
    // (`erasure::lock_subjects`), so this cannot deadlock with an erasure or a rectification of the same values.
    let subjects: Vec<SubjectId> = by_subject.keys().copied().collect();
    crate::erasure::lock_subjects(&txn, &subjects, crate::erasure::Lock::Change).await?;
    let deleted = txn
        .delete_many::<personal_data::Entity>()
        .filter(personal_data::Column::Id.is_in(batch.iter().map(|v| v.id)))
        .exec(&txn)
        .await?
        .rows_affected;
    // Holds are read again inside the transaction (after its first write, so on SQLite it is the writer): one placed
    // since the batch was chosen rolls the batch back, and the next sweep skips what it holds.
    let held_now = held(&txn, txn.find()).await?;
    if deleted == 0
        || held_now.tenant_wide
        || batch
            .iter()
            .any(|v| held_now.covers(SubjectId(v.subject_id)))
    {
        drop(txn);
        crate::erasure::journal::forget(scope, journalled).await;
        return Ok(0);
    }
    // A departing tenant's export must not keep what retention deleted.
    crate::erasure::invalidate(&txn).await?;
    txn.insert(retention_run::ActiveModel {
        id: Set(run_id),
        ran_at: Set(now),
        values_deleted: Set(deleted as i32),
        subjects: Set(by_subject.len() as i32),
        counts: Set(Counts(counts.clone())),
        held_skipped: Set(held_skipped as i32),
        ..Default::default()
    })
    .await?;
    let mut propagated = 0;
    for ((subject, sp), categories) in &recipients {
        crate::erasure::propagate(&txn, run_id, *subject, (*sp, registry.get(sp)), categories)
            .await?;
        propagated += 1;
    }
    txn.commit(
        AuditEntry::system("retention.deleted", "retention_run", run_id).with_detail(json!({
            "values_deleted": deleted,
            "subjects": by_subject.len(),
            "counts": counts,
            "held_skipped": held_skipped,
            "propagations": propagated,
        })),
    )
    .await?;
    scope.checkpoint_region().await;
    Ok(deleted)
}
