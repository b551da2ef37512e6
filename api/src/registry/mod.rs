//! The sub-processor registry, change notices with objection windows, activation, and onward transfers.
//!
//! Lifecycle: `proposed` → `announced` → `active` → `retiring` → `retired`. Announcing notifies every live tenant, with
//! an effective date at least each tenant's notice period away; a tenant created later accepts the list in force
//! ([`binding`]). A tenant's `client_admin` may object until the effective date; on that date the
//! sub-processor becomes active ([`activate_due`], idempotent) — but never for a tenant whose objection stands.
//! Every change is kept as a revision (who, when, why, before/after).

mod binding;
mod changes;
mod endpoint;
mod objections;

pub use binding::*;
pub use changes::{in_force, withdraw_change};
pub use endpoint::{rotate_erasure_secret, set_erasure_endpoint};
pub use objections::*;

pub mod graphql;
pub mod mechanisms;
pub mod rules_graphql;
pub mod transfers;

use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, TransactionTrait,
};
use serde_json::{Value, json};
use steward_entities::change_notice::{ChangeKind, ChangeNoticeStatus};
use steward_entities::{
    Names, change_notice, objection, subprocessor, subprocessor_revision, tenant,
};
use steward_policy::{ActorKind, Permission};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::ids::{SubProcessorId, TenantId};
use crate::owed::{self, Owed, Owing};
use crate::taxonomy;
use crate::tenancy::{Platform, Scope, Tenancy};

pub use steward_entities::subprocessor::SubProcessorStatus;

/// How far ahead an announcement or a change may take effect.
pub const MAX_EFFECTIVE_DAYS: i64 = 365;

/// What legal enters about a sub-processor.
#[derive(Clone, Debug)]
pub struct SubProcessorInput {
    pub name: String,
    pub legal_entity: String,
    pub website: String,
    pub purpose: String,
    pub countries: Vec<String>,
    pub categories: Vec<String>,
    pub mechanisms: Vec<String>,
    pub dpf_certified: bool,
    pub dpa_signed_on: Option<NaiveDate>,
    /// The sub-processor this one replaces, if any.
    pub replaces: Option<SubProcessorId>,
}

fn snapshot(m: &subprocessor::Model) -> Value {
    json!({
        "name": m.name,
        "legal_entity": m.legal_entity,
        "website": m.website,
        "purpose": m.purpose,
        "countries": m.countries.0.clone(),
        "categories": m.categories.0.clone(),
        "mechanisms": m.mechanisms.0.clone(),
        "dpf_certified": m.dpf_certified,
        "dpa_signed_on": m.dpa_signed_on,
        "status": m.status.as_str(),
        "replaces": m.replaces,
        "effective_on": m.effective_on,
    })
}

fn reason(raw: &str) -> Result<String, AppError> {
    crate::validate::text("reason", raw, 2000)
}

struct Checked {
    name: String,
    legal_entity: String,
    website: String,
    purpose: String,
    countries: Vec<String>,
    categories: Vec<String>,
    mechanisms: Vec<String>,
    dpa_signed_on: Option<NaiveDate>,
}

fn check(input: &SubProcessorInput) -> Result<Checked, AppError> {
    let website = crate::validate::text("website", &input.website, 500)?;
    if !(website.starts_with("https://") || website.starts_with("http://")) {
        return Err(AppError::BadInput(
            "`website` must be an http(s) URL".into(),
        ));
    }
    let set = |items: &[String],
               f: &dyn Fn(&str) -> Result<String, AppError>,
               field: &str|
     -> Result<Vec<String>, AppError> {
        let out: BTreeSet<String> = items.iter().map(|i| f(i)).collect::<Result<_, _>>()?;
        if out.is_empty() {
            return Err(AppError::BadInput(format!(
                "`{field}` must name at least one"
            )));
        }
        Ok(out.into_iter().collect())
    };
    Ok(Checked {
        name: crate::validate::text("name", &input.name, 200)?,
        dpa_signed_on: input
            .dpa_signed_on
            .map(|d| crate::validate::date("dpaSignedOn", d))
            .transpose()?,
        legal_entity: crate::validate::text("legalEntity", &input.legal_entity, 300)?,
        website,
        purpose: crate::validate::text("purpose", &input.purpose, 2000)?,
        countries: set(&input.countries, &mechanisms::country, "countries")?,
        categories: set(
            &input.categories,
            &|c| Ok(taxonomy::category(c.trim())?.key.clone()),
            "categories",
        )?,
        mechanisms: {
            let out: BTreeSet<String> = input
                .mechanisms
                .iter()
                .map(|m| {
                    let m = mechanisms::known(m.trim())?;
                    // A mechanism must cover one of the entry's countries. One no longer valid may stay (transfers
                    // made under it before are checked against it); lists and records show only what is valid.
                    if let Some(cs) = &m.countries
                        && !input
                            .countries
                            .iter()
                            .any(|c| cs.contains(&c.trim().to_ascii_uppercase()))
                    {
                        return Err(AppError::BadInput(format!(
                            "`{}` covers transfers to {} only, none of this entry's countries",
                            m.key,
                            cs.join(", ")
                        )));
                    }
                    Ok(m.key.clone())
                })
                .collect::<Result<_, AppError>>()?;
            out.into_iter().collect()
        },
    })
}

async fn revise<C: ConnectionTrait>(
    conn: &C,
    principal: &Principal,
    id: SubProcessorId,
    change: &str,
    why: &str,
    before: Option<&subprocessor::Model>,
    after: &subprocessor::Model,
) -> Result<(), AppError> {
    subprocessor_revision::ActiveModel {
        id: Set(Uuid::now_v7()),
        sub_processor_id: Set(id.0),
        actor: Set(principal.label()),
        at: Set(Utc::now()),
        change: Set(change.to_owned()),
        reason: Set(why.to_owned()),
        before: Set(before.map(snapshot)),
        after: Set(snapshot(after)),
    }
    .insert(conn)
    .await?;
    audit::append_platform(
        conn,
        AuditEntry::by(principal, "subprocessor.revised", "subprocessor", id)
            .with_detail(json!({ "change": change })),
    )
    .await?;
    Ok(())
}

/// Adds a sub-processor as `proposed` (legal).
pub async fn propose(
    tenancy: &Tenancy,
    principal: &Principal,
    input: SubProcessorInput,
    why: &str,
) -> Result<subprocessor::Model, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::SubprocessorManage)
        .await?;
    let c = check(&input)?;
    let why = reason(why)?;
    let db = platform.control();
    if let Some(replaced) = input.replaces {
        get(tenancy, replaced).await?;
    }
    let now = Utc::now();
    let id = Uuid::now_v7();
    let txn = db.begin().await?;
    let model = subprocessor::ActiveModel {
        id: Set(id),
        name_key: Set(c.name.to_lowercase()),
        name: Set(c.name.clone()),
        legal_entity: Set(c.legal_entity),
        website: Set(c.website),
        purpose: Set(c.purpose),
        countries: Set(Names(c.countries)),
        categories: Set(Names(c.categories)),
        mechanisms: Set(Names(c.mechanisms)),
        dpf_certified: Set(input.dpf_certified),
        dpa_signed_on: Set(c.dpa_signed_on),
        status: Set(SubProcessorStatus::Proposed),
        replaces: Set(input.replaces.map(Uuid::from)),
        effective_on: Set(None),
        erasure_endpoint: Set(None),
        webhook_secret_sealed: Set(None),
        webhook_previous_secret_sealed: Set(None),
        webhook_previous_until: Set(None),
        pending_terms: Set(None),
        pending_effective_on: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        AppError::on_unique(e, || {
            format!("a sub-processor named `{}` already exists", c.name)
        })
    })?;
    revise(
        &txn,
        principal,
        SubProcessorId(id),
        "proposed",
        &why,
        None,
        &model,
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// Changes a sub-processor's details (legal). A retired one is history and cannot change. On an entry in use
/// (active or retiring), terms that reach further — more countries, categories, another purpose or legal entity —
/// are announced as a change with its own notice period and objections ([`changes`]), effective `effective_on`
/// (default: the longest notice period); the current terms stay in force until then. An announced entry keeps the
/// terms its tenants were told: it cannot widen before it is active.
pub async fn update(
    tenancy: &Tenancy,
    principal: &Principal,
    id: SubProcessorId,
    input: SubProcessorInput,
    why: &str,
    effective_on: Option<NaiveDate>,
) -> Result<subprocessor::Model, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::SubprocessorManage)
        .await?;
    let c = check(&input)?;
    let why = reason(why)?;
    let before = get(tenancy, id).await?;
    if before.status == SubProcessorStatus::Retired {
        return Err(AppError::Conflict(
            "a retired sub-processor cannot change".into(),
        ));
    }
    let widens = changes::widening(&before, &c);
    match before.status {
        SubProcessorStatus::Active | SubProcessorStatus::Retiring if !widens.is_empty() => {
            if c.name.to_lowercase() != before.name_key {
                let clash = subprocessor::Entity::find()
                    .filter(subprocessor::Column::NameKey.eq(c.name.to_lowercase()))
                    .filter(subprocessor::Column::Id.ne(before.id))
                    .one(platform.control())
                    .await?;
                if clash.is_some() {
                    return Err(AppError::Conflict(format!(
                        "a sub-processor named `{}` already exists",
                        c.name
                    )));
                }
            }
            let terms = steward_entities::PendingTerms {
                name: c.name,
                legal_entity: c.legal_entity,
                website: c.website,
                purpose: c.purpose,
                countries: c.countries,
                categories: c.categories,
                mechanisms: c.mechanisms,
                dpf_certified: input.dpf_certified,
                dpa_signed_on: c.dpa_signed_on,
            };
            return changes::announce(
                tenancy,
                (platform, principal),
                before,
                terms,
                widens,
                (effective_on, why),
            )
            .await;
        }
        SubProcessorStatus::Announced if !widens.is_empty() => {
            return Err(AppError::Conflict(format!(
                "{} is announced with the terms its tenants were told ({}): wider terms wait until it is active, \
                 when they are announced as a change",
                before.name,
                widens.join("; ")
            )));
        }
        _ => {}
    }
    if effective_on.is_some() {
        return Err(AppError::BadInput(
            "`effectiveOn` is for a change that widens an entry in use; this one applies at once"
                .into(),
        ));
    }

    let mut model: subprocessor::ActiveModel = before.clone().into();
    model.name_key = Set(c.name.to_lowercase());
    model.name = Set(c.name.clone());
    model.legal_entity = Set(c.legal_entity);
    model.website = Set(c.website);
    model.purpose = Set(c.purpose);
    model.countries = Set(Names(c.countries));
    model.categories = Set(Names(c.categories));
    model.mechanisms = Set(Names(c.mechanisms));
    model.dpf_certified = Set(input.dpf_certified);
    model.dpa_signed_on = Set(c.dpa_signed_on);
    model.updated_at = Set(Utc::now());
    // With a change announced, what applies at once (a safeguard, a certification lapsing, a website) applies to the
    // announced terms too; what the change widens stays as announced.
    if let Some(pending) = before.pending_terms.clone() {
        model.pending_terms = Set(Some(steward_entities::PendingTerms {
            name: c.name.clone(),
            website: model.website.clone().unwrap(),
            mechanisms: model.mechanisms.clone().unwrap().0,
            dpf_certified: input.dpf_certified,
            dpa_signed_on: c.dpa_signed_on,
            ..pending
        }));
    }
    let txn = platform.control().begin().await?;
    let after = model.update(&txn).await.map_err(|e| {
        AppError::on_unique(e, || {
            format!("a sub-processor named `{}` already exists", c.name)
        })
    })?;
    revise(&txn, principal, id, "updated", &why, Some(&before), &after).await?;
    txn.commit().await?;
    Ok(after)
}

/// Announces a proposed sub-processor: a change notice to every live tenant (whatever data it holds today: one that
/// starts collecting a category later is already bound), effective on `effective_on` (default: the latest notice
/// period among them), which must leave every tenant its full notice period.
pub async fn announce(
    tenancy: &Tenancy,
    principal: &Principal,
    id: SubProcessorId,
    effective_on: Option<NaiveDate>,
    why: &str,
) -> Result<(subprocessor::Model, usize), AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::SubprocessorManage)
        .await?;
    let why = reason(why)?;
    let before = get(tenancy, id).await?;
    match before.status {
        SubProcessorStatus::Proposed => {}
        other => {
            return Err(AppError::Conflict(format!(
                "only a proposed sub-processor can be announced; this one is {}",
                other.as_str()
            )));
        }
    }
    let tenants = live_tenants(platform).await?;
    let effective_on = effective_date(effective_on, &tenants.iter().collect::<Vec<_>>(), 0)?;
    let kind = announced_kind(&before);
    let now = Utc::now();
    let control = platform.control().begin().await?;
    let mut model: subprocessor::ActiveModel = before.clone().into();
    model.status = Set(SubProcessorStatus::Announced);
    model.effective_on = Set(Some(effective_on));
    model.updated_at = Set(now);
    let after = model.update(&control).await?;
    revise(
        &control,
        principal,
        id,
        "announced",
        &why,
        Some(&before),
        &after,
    )
    .await?;
    // Each tenant's notice and event are owed to its region through the outbox, in this control transaction: the
    // announcement and every notice of it commit together or not at all.
    let notice = announcement_notice(&after, effective_on);
    let entry = AuditEntry::by(principal, "subprocessor.announced", "subprocessor", id)
        .with_detail(json!({ "effective_on": effective_on }));
    let mut owing = Owing::default();
    for t in &tenants {
        insert_notice(
            &control,
            (id.0, t.id),
            kind,
            (ChangeNoticeStatus::Pending, effective_on),
            now,
        )
        .await?;
        owing.push(owed::defer(&control, TenantId(t.id), &entry, vec![notice.clone()]).await?);
    }
    control.commit().await?;
    owing.apply(tenancy).await;
    Ok((after, tenants.len()))
}

/// Retires a sub-processor: `active`/`announced` → `retiring`, then `retiring` → `retired` (legal).
pub async fn retire(
    tenancy: &Tenancy,
    principal: &Principal,
    id: SubProcessorId,
    why: &str,
) -> Result<subprocessor::Model, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::SubprocessorManage)
        .await?;
    let why = reason(why)?;
    let before = get(tenancy, id).await?;
    if let Some(on) = before.pending_effective_on {
        return Err(AppError::Conflict(format!(
            "a change to {} is announced for {on}: withdraw it first (withdrawSubProcessorChange)",
            before.name
        )));
    }
    let next = match before.status {
        SubProcessorStatus::Announced | SubProcessorStatus::Active => SubProcessorStatus::Retiring,
        SubProcessorStatus::Retiring => SubProcessorStatus::Retired,
        other => {
            return Err(AppError::Conflict(format!(
                "a {} sub-processor cannot be retired",
                other.as_str()
            )));
        }
    };
    let txn = platform.control().begin().await?;
    let mut model: subprocessor::ActiveModel = before.clone().into();
    model.status = Set(next);
    model.updated_at = Set(Utc::now());
    let after = model.update(&txn).await?;
    revise(
        &txn,
        principal,
        id,
        next.as_str(),
        &why,
        Some(&before),
        &after,
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// The scheduled activation: every announced sub-processor whose date has come becomes active, and so does each of
/// its tenant notices without a standing objection (those are marked `blocked`). First, a tenant that was never told
/// of a public entry is told now ([`notify_unbound`]). Idempotent. Returns how many notices became active.
pub async fn activate_due(tenancy: &Tenancy, today: NaiveDate) -> Result<usize, AppError> {
    let changed = changes::apply_due(tenancy, today).await?;
    if changed > 0 {
        tracing::info!(changed, "changed sub-processor terms took effect");
    }
    let told = notify_unbound(tenancy, today).await?;
    if told > 0 {
        tracing::info!(
            told,
            "sub-processors announced to tenants never told of them"
        );
    }
    let db = tenancy.system().control();
    let system = Principal {
        subject: "steward".into(),
        kind: ActorKind::Staff,
        tenant_id: None,
    };
    let due = subprocessor::Entity::find()
        .filter(subprocessor::Column::Status.eq(SubProcessorStatus::Announced))
        .filter(subprocessor::Column::EffectiveOn.lte(today))
        .all(db)
        .await?;
    for before in due {
        let txn = db.begin().await?;
        let mut model: subprocessor::ActiveModel = before.clone().into();
        model.status = Set(SubProcessorStatus::Active);
        model.updated_at = Set(Utc::now());
        let after = model.update(&txn).await?;
        revise(
            &txn,
            &system,
            SubProcessorId(before.id),
            "activated",
            "effective date reached",
            Some(&before),
            &after,
        )
        .await?;
        txn.commit().await?;
    }
    let pending = change_notice::Entity::find()
        .filter(
            change_notice::Column::Status
                .is_in([ChangeNoticeStatus::Pending, ChangeNoticeStatus::Blocked]),
        )
        .filter(change_notice::Column::EffectiveOn.lte(today))
        .all(db)
        .await?;
    let mut activated = 0;
    for notice in pending {
        let standing = objection::Entity::find()
            .filter(objection::Column::NoticeId.eq(notice.id))
            .filter(objection::Column::ResolvedAt.is_null())
            .one(db)
            .await?
            .is_some();
        let status = if standing {
            ChangeNoticeStatus::Blocked
        } else {
            ChangeNoticeStatus::Active
        };
        if notice.status == status {
            continue;
        }
        let mut model: change_notice::ActiveModel = notice.clone().into();
        model.status = Set(status.to_owned());
        if !standing {
            model.activated_at = Set(Some(Utc::now()));
            activated += 1;
        }
        model.update(db).await?;
    }
    Ok(activated)
}

pub async fn get(tenancy: &Tenancy, id: SubProcessorId) -> Result<subprocessor::Model, AppError> {
    subprocessor::Entity::find_by_id(id)
        .one(tenancy.system().control())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no sub-processor {id}")))
}

/// The registry, oldest first: all of it for staff, only what is public for clients and anonymous readers.
pub async fn list(
    tenancy: &Tenancy,
    public_only: bool,
) -> Result<Vec<subprocessor::Model>, AppError> {
    let mut query = subprocessor::Entity::find();
    if public_only {
        query = query.filter(subprocessor::Column::Status.is_in([
            SubProcessorStatus::Announced,
            SubProcessorStatus::Active,
            SubProcessorStatus::Retiring,
        ]));
    }
    Ok(query
        .order_by_asc(subprocessor::Column::Id)
        .all(tenancy.system().control())
        .await?)
}

/// A sub-processor's revisions, oldest first; `public_only`: from its announcement on (none before it is announced).
pub async fn revisions(
    tenancy: &Tenancy,
    id: SubProcessorId,
    public_only: bool,
) -> Result<Vec<subprocessor_revision::Model>, AppError> {
    let all = subprocessor_revision::Entity::find()
        .filter(subprocessor_revision::Column::SubProcessorId.eq(id))
        .order_by_asc(subprocessor_revision::Column::Id)
        .all(tenancy.system().control())
        .await?;
    if !public_only {
        return Ok(all);
    }
    Ok(match all.iter().position(|r| r.change == "announced") {
        Some(from) => all.into_iter().skip(from).collect(),
        None => Vec::new(),
    })
}

/// Every revision of public sub-processors, newest first (the Atom feed).
pub async fn public_revisions(
    tenancy: &Tenancy,
    limit: u64,
) -> Result<Vec<(subprocessor_revision::Model, subprocessor::Model)>, AppError> {
    let public = list(tenancy, true).await?;
    let by_id: HashMap<Uuid, subprocessor::Model> = public.into_iter().map(|s| (s.id, s)).collect();
    let revisions = subprocessor_revision::Entity::find()
        .filter(subprocessor_revision::Column::SubProcessorId.is_in(by_id.keys().copied()))
        .filter(subprocessor_revision::Column::Change.ne("proposed"))
        .order_by_desc(subprocessor_revision::Column::Id)
        .limit(limit)
        .all(tenancy.system().control())
        .await?;
    Ok(revisions
        .into_iter()
        .filter_map(|r| by_id.get(&r.sub_processor_id).cloned().map(|s| (r, s)))
        .collect())
}

/// The effective date of an announcement to `tenants`: the one given, or by default the longest notice period among
/// them. Refused when inside any one's notice period (at least `at_least` days), in the past, or more than
/// [`MAX_EFFECTIVE_DAYS`] away.
fn effective_date(
    given: Option<NaiveDate>,
    tenants: &[&tenant::Model],
    at_least: i32,
) -> Result<NaiveDate, AppError> {
    let today = Utc::now().date_naive();
    let notice = |t: &tenant::Model| t.notice_period_days.max(at_least);
    let longest = tenants.iter().map(|t| notice(t)).max().unwrap_or(30).max(1);
    let earliest = today + chrono::Duration::days(longest.into());
    let effective_on = given.unwrap_or(earliest);
    if let Some(short) = tenants
        .iter()
        .find(|t| effective_on < today + chrono::Duration::days(notice(t).into()))
    {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::NoticePeriod,
            message: format!(
                "{effective_on} is inside the {}-day notice period of tenant {}: the earliest effective date is \
                 {earliest}",
                short.notice_period_days, short.id
            ),
        });
    }
    if effective_on < today {
        return Err(AppError::BadInput(
            "the effective date is in the past".into(),
        ));
    }
    if effective_on > today + chrono::Duration::days(MAX_EFFECTIVE_DAYS) {
        return Err(AppError::BadInput(format!(
            "the effective date is more than {MAX_EFFECTIVE_DAYS} days away: announce nearer the change"
        )));
    }
    Ok(effective_on)
}

/// Sets a tenant's contractual notice period for sub-processor changes (platform admin).
pub async fn set_notice_period(
    tenancy: &Tenancy,
    scope: &Scope,
    days: i32,
) -> Result<(), AppError> {
    if !(1..=365).contains(&days) {
        return Err(AppError::BadInput(
            "`days` must be between 1 and 365".into(),
        ));
    }
    let control = scope.control().begin().await?;
    let before = tenant::Entity::find_by_id(scope.tenant_id().0)
        .one(&control)
        .await?
        .map(|t| t.notice_period_days);
    tenant::Entity::update_many()
        .col_expr(tenant::Column::NoticePeriodDays, days.into())
        .filter(tenant::Column::Id.eq(scope.tenant_id().0))
        .exec(&control)
        .await?;
    // The client is told (the period protects it: sub-processor changes, staff retention changes), and the change
    // is in its chain; both are owed through the outbox, so they cannot be recorded without the change or the reverse.
    let notice = crate::owed::Owed::notice(
        "tenant.notice_period",
        "Your notice period was changed",
        format!(
            "{} set your notice period to {days} days (it was {}). Sub-processor changes are announced that long \
             before they take effect; retention changes our staff make wait that long, and never less than {} days.",
            scope.principal().label(),
            before.map_or_else(|| "unset".to_owned(), |d| d.to_string()),
            crate::retention::MIN_STAFF_CHANGE_NOTICE_DAYS,
        ),
    );
    let deferred = crate::owed::defer(
        &control,
        scope.tenant_id(),
        &AuditEntry::by(
            scope.principal(),
            "tenant.notice_period_set",
            "tenant",
            scope.tenant_id(),
        )
        .with_detail(json!({ "days": days })),
        vec![notice],
    )
    .await?;
    control.commit().await?;
    crate::owed::apply_now(tenancy, deferred).await;
    Ok(())
}
