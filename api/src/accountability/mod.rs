//! Accountability registers: legal disclosures and personal-data breaches.
//!
//! Disclosures: legal records a demand from an authority for one tenant's data, reviews it (disclose, narrow,
//! challenge, refuse) and records what was disclosed. The tenant's admins are told at decision time — unless a
//! non-disclosure order forbids it, in which case the notice goes out once the order's end date has passed (a
//! scheduled, idempotent job). An order without an end date must be reviewed every 90 days. A yearly transparency
//! report (counts only) is public.
//!
//! Breaches: a privacy officer records an incident; Steward works out which tenants it touches from the data it
//! holds (data of the involved categories in the involved region, or data transferred to the involved
//! sub-processors), notifies each, and tracks notification and acknowledgement against the 72-hour mark.

mod breaches;
pub mod graphql;
pub mod records;

pub use breaches::*;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use serde_json::json;
use steward_entities::{
    breach, breach_notification, legal_disclosure, onward_transfer, personal_data, tenant,
};
use steward_policy::Permission;
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{BreachId, DisclosureId, SubProcessorId, SubjectId, TenantId};

use crate::owed::{self, Owed, Owing};
use crate::taxonomy;
use crate::tenancy::{Scope, Tenancy};

/// An order without an end date is reviewed at least this often.
pub const NONDISCLOSURE_REVIEW_DAYS: i64 = 90;
/// The controller's deadline to inform its authority after becoming aware of a breach (GDPR Art. 33(1)).
pub const BREACH_HOURS: i64 = 72;

pub use steward_entities::legal_disclosure::{DemandKind, DisclosureDecision};

/// What legal records when a demand arrives.
#[derive(Clone, Debug)]
pub struct DisclosureDemand {
    pub tenant_id: TenantId,
    pub kind: DemandKind,
    pub authority: String,
    pub reference: String,
    pub received_on: NaiveDate,
    pub scope: String,
    pub nondisclosure_order: bool,
    pub nondisclosure_until: Option<NaiveDate>,
}

pub async fn record_disclosure(
    tenancy: &Tenancy,
    principal: &Principal,
    demand: DisclosureDemand,
) -> Result<legal_disclosure::Model, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::DisclosureManage)
        .await?;
    let kind = demand.kind;
    let today = Utc::now().date_naive();
    crate::validate::date("receivedOn", demand.received_on)?;
    if let Some(until) = demand.nondisclosure_until {
        crate::validate::date("nondisclosureUntil", until)?;
    }
    if demand.received_on > today {
        return Err(AppError::BadInput("`receivedOn` is in the future".into()));
    }
    if demand.nondisclosure_until.is_some() && !demand.nondisclosure_order {
        return Err(AppError::BadInput(
            "`nondisclosureUntil` needs `nondisclosureOrder: true`".into(),
        ));
    }
    let tenant = tenancy
        .find(demand.tenant_id)
        .await?
        .ok_or_else(|| crate::tenancy::not_found(demand.tenant_id))?;
    let txn = platform.control().begin().await?;
    let model = legal_disclosure::ActiveModel {
        tenant_id: Set(tenant.id.0),
        id: Set(Uuid::now_v7()),
        kind: Set(kind),
        authority: Set(crate::validate::text("authority", &demand.authority, 300)?),
        reference: Set(crate::validate::text("reference", &demand.reference, 200)?),
        received_on: Set(demand.received_on),
        scope: Set(crate::validate::text("scope", &demand.scope, 4000)?),
        nondisclosure_order: Set(demand.nondisclosure_order),
        nondisclosure_until: Set(demand.nondisclosure_until),
        nondisclosure_reviewed_on: Set(demand.nondisclosure_order.then_some(today)),
        decision: Set(None),
        decision_note: Set(None),
        reviewer: Set(None),
        decided_at: Set(None),
        disclosed_categories: Set(None),
        disclosed_subject_ids: Set(None),
        disclosed_on: Set(None),
        notice_sent_at: Set(None),
        recorded_by: Set(principal.label()),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    audit::append_platform(
        &txn,
        AuditEntry::by(
            principal,
            "disclosure.recorded",
            "legal_disclosure",
            model.id,
        )
        .with_detail(json!({ "tenant": tenant.id.0, "kind": model.kind })),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// The review of a demand and what was disclosed.
#[derive(Clone, Debug)]
pub struct DecisionMade {
    pub decision: DisclosureDecision,
    pub note: String,
    pub disclosed_categories: Vec<String>,
    pub disclosed_subject_ids: Vec<SubjectId>,
    pub disclosed_on: Option<NaiveDate>,
}

pub async fn decide_disclosure(
    tenancy: &Tenancy,
    principal: &Principal,
    id: DisclosureId,
    decision: DecisionMade,
) -> Result<legal_disclosure::Model, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::DisclosureManage)
        .await?;
    let found = legal_disclosure::Entity::find_by_id(id)
        .one(platform.control())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no legal disclosure {id}")))?;
    if found.decision.is_some() {
        return Err(AppError::Conflict(
            "this demand has already been decided".into(),
        ));
    }
    let choice = decision.decision;
    let discloses = choice.discloses();
    let categories: BTreeSet<String> = decision
        .disclosed_categories
        .iter()
        .map(|c| Ok(taxonomy::category(c.trim())?.key.clone()))
        .collect::<Result<_, AppError>>()?;
    if discloses && categories.is_empty() {
        return Err(AppError::BadInput(
            "a disclosure must name the categories disclosed".into(),
        ));
    }
    if !discloses && (!categories.is_empty() || !decision.disclosed_subject_ids.is_empty()) {
        return Err(AppError::BadInput(format!(
            "nothing is disclosed when the decision is `{choice}`"
        )));
    }
    let today = Utc::now().date_naive();
    if let Some(on) = decision.disclosed_on {
        crate::validate::date("disclosedOn", on)?;
    }
    let disclosed_on = discloses.then(|| decision.disclosed_on.unwrap_or(today));
    if disclosed_on.is_some_and(|d| d > today) {
        return Err(AppError::BadInput("`disclosedOn` is in the future".into()));
    }
    let tenant = TenantId(found.tenant_id);
    let scope = tenancy.scope_for_new_tenant(
        principal,
        tenancy
            .find(tenant)
            .await?
            .ok_or_else(|| crate::tenancy::not_found(tenant))?,
    )?;
    if !decision.disclosed_subject_ids.is_empty() {
        let query = scope
            .find::<steward_entities::data_subject::Entity>()
            .filter(
                steward_entities::data_subject::Column::Id
                    .is_in(decision.disclosed_subject_ids.iter().copied()),
            );
        let ids: BTreeSet<SubjectId> = decision.disclosed_subject_ids.iter().copied().collect();
        if crate::pagination::count(query, scope.db()).await? != ids.len() as u64 {
            return Err(AppError::NotFound(
                "some of `disclosedSubjectIds` are not subjects of this tenant".into(),
            ));
        }
    }
    let now = Utc::now();
    let notify_now =
        !found.nondisclosure_order || found.nondisclosure_until.is_some_and(|until| until < today);
    let control = platform.control().begin().await?;
    let mut model: legal_disclosure::ActiveModel = found.clone().into();
    model.decision = Set(Some(choice));
    model.decision_note = Set(Some(crate::validate::text("note", &decision.note, 4000)?));
    model.reviewer = Set(Some(principal.label()));
    model.decided_at = Set(Some(now));
    model.disclosed_categories = Set(discloses.then(|| categories.iter().cloned().collect()));
    model.disclosed_subject_ids = Set(discloses.then(|| {
        decision
            .disclosed_subject_ids
            .iter()
            .map(|&s| Uuid::from(s))
            .collect()
    }));
    model.disclosed_on = Set(disclosed_on);
    model.notice_sent_at = Set(notify_now.then_some(now));
    let updated = model.update(&control).await?;
    audit::append_platform(
        &control,
        AuditEntry::by(principal, "disclosure.decided", "legal_disclosure", id)
            .with_detail(json!({ "decision": choice, "notified": notify_now })),
    )
    .await?;
    // Under a non-disclosure order nothing the tenant can see changes: no event on its chain (whose head would move),
    // no notice, no count. Its events are appended when the order ends (`release_disclosure_notices`).
    let deferred = if notify_now {
        let entry = AuditEntry::by(principal, "disclosure.decided", "legal_disclosure", id);
        let (entry, notice) = owed_to_tenant(&updated, entry);
        Some(owed::defer(&control, scope.tenant_id(), &entry, vec![notice]).await?)
    } else {
        None
    };
    control.commit().await?;
    if let Some(deferred) = deferred {
        owed::apply_now(tenancy, deferred).await;
    }
    Ok(updated)
}

/// What the tenant learns of a decided demand, on its own chain and as a notice (owed through the outbox with the
/// control-database change that decides or releases it): at decision time without an order, or when the order ends.
fn owed_to_tenant(d: &legal_disclosure::Model, entry: AuditEntry) -> (AuditEntry, Owed) {
    let categories = d.disclosed_categories.clone().unwrap_or_default();
    let subjects = d
        .disclosed_subject_ids
        .as_ref()
        .map_or(0, |ids| ids.0.len());
    let entry = entry.with_detail(json!({
        "decision": d.decision,
        "categories": categories,
        "subjects": subjects,
        "reviewer": d.reviewer,
        "decided_at": d.decided_at.map(audit::canonical_time),
        "nondisclosure_until": d.nondisclosure_until,
    }));
    let notice = Owed::notice(
        "legal.disclosure",
        &format!(
            "Demand for your data: {} from {}",
            d.kind.as_str().replace('_', " "),
            d.authority
        ),
        format!(
            "Reference {}, received {}. Scope: {}. Our decision: {}{}.",
            d.reference,
            d.received_on,
            d.scope,
            d.decision.map_or("pending", |c| c.as_str()),
            match (&d.disclosed_categories, d.disclosed_on) {
                (Some(c), Some(on)) => format!("; disclosed on {on}: {}", c.0.join(", ")),
                _ => String::new(),
            }
        ),
    );
    (entry, notice)
}

/// The scheduled release: decided demands whose non-disclosure order has ended are told to their tenants now.
/// Idempotent. Returns how many notices went out.
pub async fn release_disclosure_notices(
    tenancy: &Tenancy,
    today: NaiveDate,
) -> Result<usize, AppError> {
    let due = legal_disclosure::Entity::find()
        .filter(legal_disclosure::Column::NoticeSentAt.is_null())
        .filter(legal_disclosure::Column::Decision.is_not_null())
        .filter(legal_disclosure::Column::NondisclosureUntil.lt(today))
        .all(tenancy.system().control())
        .await?;
    let mut sent = 0;
    for d in due {
        let Some(t) = tenancy.find(TenantId(d.tenant_id)).await? else {
            continue;
        };
        let control = tenancy.system().control().begin().await?;
        let claimed = legal_disclosure::Entity::update_many()
            .col_expr(
                legal_disclosure::Column::NoticeSentAt,
                Some(Utc::now()).into(),
            )
            .filter(legal_disclosure::Column::Id.eq(d.id))
            .filter(legal_disclosure::Column::NoticeSentAt.is_null())
            .exec(&control)
            .await?;
        if claimed.rows_affected != 1 {
            continue;
        }
        let entry = AuditEntry::system("disclosure.decided", "legal_disclosure", d.id);
        let (entry, notice) = owed_to_tenant(&d, entry);
        let decided = owed::defer(&control, t.id, &entry, vec![notice]).await?;
        let released = owed::defer(
            &control,
            t.id,
            &AuditEntry::system("disclosure.notice_released", "legal_disclosure", d.id),
            Vec::new(),
        )
        .await?;
        control.commit().await?;
        owed::apply_now(tenancy, decided).await;
        owed::apply_now(tenancy, released).await;
        sent += 1;
    }
    Ok(sent)
}

/// Records the periodic review of an open-ended non-disclosure order, optionally with an end date now known.
pub async fn review_nondisclosure(
    tenancy: &Tenancy,
    principal: &Principal,
    id: DisclosureId,
    until: Option<NaiveDate>,
) -> Result<legal_disclosure::Model, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::DisclosureManage)
        .await?;
    if let Some(until) = until {
        crate::validate::date("until", until)?;
    }
    if let Some(until) = until {
        crate::validate::date("until", until)?;
    }
    let found = legal_disclosure::Entity::find_by_id(id)
        .one(platform.control())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no legal disclosure {id}")))?;
    if !found.nondisclosure_order {
        return Err(AppError::Conflict(
            "this demand has no non-disclosure order".into(),
        ));
    }
    let txn = platform.control().begin().await?;
    let mut model: legal_disclosure::ActiveModel = found.into();
    model.nondisclosure_reviewed_on = Set(Some(Utc::now().date_naive()));
    if until.is_some() {
        model.nondisclosure_until = Set(until);
    }
    let updated = model.update(&txn).await?;
    audit::append_platform(
        &txn,
        AuditEntry::by(
            principal,
            "disclosure.nondisclosure_reviewed",
            "legal_disclosure",
            id,
        )
        .with_detail(json!({ "until": until })),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Demands, newest first: all (legal, privacy officers), or one tenant's.
pub async fn disclosures(
    tenancy: &Tenancy,
    principal: &Principal,
    tenant: Option<TenantId>,
) -> Result<Vec<legal_disclosure::Model>, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::DisclosureRead)
        .await?;
    let mut query = legal_disclosure::Entity::find();
    if let Some(t) = tenant {
        query = query.filter(legal_disclosure::Column::TenantId.eq(t.0));
    }
    Ok(query
        .order_by_desc(legal_disclosure::Column::Id)
        .all(platform.control())
        .await?)
}

/// Open-ended non-disclosure orders whose last review is 90 days old or more.
pub async fn due_for_review(
    tenancy: &Tenancy,
    principal: &Principal,
    today: NaiveDate,
) -> Result<Vec<legal_disclosure::Model>, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::DisclosureRead)
        .await?;
    let cutoff = today - Duration::days(NONDISCLOSURE_REVIEW_DAYS);
    Ok(legal_disclosure::Entity::find()
        .filter(legal_disclosure::Column::NondisclosureOrder.eq(true))
        .filter(legal_disclosure::Column::NondisclosureUntil.is_null())
        .filter(legal_disclosure::Column::NondisclosureReviewedOn.lte(cutoff))
        .order_by_asc(legal_disclosure::Column::NondisclosureReviewedOn)
        .all(platform.control())
        .await?)
}

/// The half-year a date falls in, as `2026-H1`.
fn half_year(date: NaiveDate) -> (i32, u32) {
    use chrono::Datelike as _;
    (date.year(), if date.month() <= 6 { 1 } else { 2 })
}

/// Received on, kind, decision, under an order, order ends on.
type DisclosureRow = (NaiveDate, String, Option<String>, bool, Option<NaiveDate>);

/// The public transparency report: counts by half-year received, kind and decision — nothing else. Only demands that
/// are decided and under no non-disclosure order (or whose order has ended) are counted, and only for half-years that
/// have closed, so no published figure moves while a gagged or pending demand is open, and no count reveals a demand a
/// tenant may not yet be told of.
pub async fn transparency_report(
    tenancy: &Tenancy,
    today: NaiveDate,
) -> Result<serde_json::Value, AppError> {
    let rows: Vec<DisclosureRow> = legal_disclosure::Entity::find()
        .select_only()
        .column(legal_disclosure::Column::ReceivedOn)
        .column(legal_disclosure::Column::Kind)
        .column(legal_disclosure::Column::Decision)
        .column(legal_disclosure::Column::NondisclosureOrder)
        .column(legal_disclosure::Column::NondisclosureUntil)
        .filter(legal_disclosure::Column::Decision.is_not_null())
        .into_tuple()
        .all(tenancy.system().control())
        .await?;
    let current = half_year(today);
    let mut periods: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>> = BTreeMap::new();
    for (received, kind, decision, order, until) in rows {
        let order_ended = !order || until.is_some_and(|u| u < today);
        let period = half_year(received);
        let Some(decision) = decision else { continue };
        if !order_ended || period >= current {
            continue;
        }
        *periods
            .entry(format!("{}-H{}", period.0, period.1))
            .or_default()
            .entry(kind)
            .or_default()
            .entry(decision)
            .or_default() += 1;
    }
    Ok(json!({
        "report": "legal demands for client data, counted by half-year received, kind and decision",
        "counted": "decided demands under no non-disclosure order, or whose order has ended, in closed half-years",
        "half_years": periods,
    }))
}
