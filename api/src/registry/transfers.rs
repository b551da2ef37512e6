//! Onward transfers: where a tenant's data went, refused unless the recipient is active for that tenant and a transfer
//! mechanism in force covers every third country; and what becomes of transfers when a mechanism is invalidated.

use std::collections::{BTreeSet, HashMap};

use chrono::{NaiveDate, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};
use serde_json::json;
use steward_entities::change_notice::ChangeNoticeStatus;
use steward_entities::{
    adequacy_change, change_notice, mechanism_invalidation, onward_transfer,
    onward_transfer_subject, subprocessor,
};
use steward_policy::Permission;
use uuid::Uuid;

use super::*;
use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::error::RefusalReason;
use crate::ids::TenantId;
use crate::ids::{SubProcessorId, SubjectId};
use crate::owed::{self, Owed, Owing};
use crate::registry::mechanisms::{self, AdequacyChange, Rules};
use crate::taxonomy;
use crate::tenancy::{Scope, Tenancy};

/// The transfer rules as in force now: the shipped baseline with legal's invalidations and adequacy changes.
pub async fn mechanisms_in_force(tenancy: &Tenancy) -> Result<Rules, AppError> {
    let db = tenancy.system().control();
    let invalidations: HashMap<String, (NaiveDate, String)> =
        mechanism_invalidation::Entity::find()
            .all(db)
            .await?
            .into_iter()
            .map(|r| (r.mechanism, (r.invalid_from, r.reason)))
            .collect();
    let adequacy: Vec<AdequacyChange> = adequacy_change::Entity::find()
        .order_by_asc(adequacy_change::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(|r| AdequacyChange {
            country: r.country,
            decided_on: r.decided_on,
            withdrawn_on: r.withdrawn_on,
            reason: r.reason,
        })
        .collect();
    Ok(Rules::with_changes(&invalidations, &adequacy))
}

/// The public sub-processors `hit` selects, and the live tenants bound to any of them (a notice not excluded).
async fn tenants_of(
    tenancy: &Tenancy,
    hit: impl Fn(&subprocessor::Model) -> bool,
) -> Result<(Vec<subprocessor::Model>, Vec<Uuid>), AppError> {
    let hit: Vec<subprocessor::Model> = list(tenancy, true)
        .await?
        .into_iter()
        .filter(|sp| hit(sp))
        .collect();
    let ids: Vec<Uuid> = hit.iter().map(|s| s.id).collect();
    let mut tenants: Vec<Uuid> = if ids.is_empty() {
        Vec::new()
    } else {
        change_notice::Entity::find()
            .select_only()
            .column(change_notice::Column::TenantId)
            .distinct()
            .filter(change_notice::Column::SubProcessorId.is_in(ids))
            .filter(change_notice::Column::Status.is_in([
                ChangeNoticeStatus::Pending,
                ChangeNoticeStatus::Active,
                ChangeNoticeStatus::Blocked,
            ]))
            .into_tuple()
            .all(tenancy.system().control())
            .await?
    };
    tenants.sort();
    Ok((hit, tenants))
}

/// Who is hit when a mechanism stops being valid: the public sub-processors relying on it for a country that needs
/// one, and the tenants whose data goes to them.
pub async fn affected_by_mechanism(
    tenancy: &Tenancy,
    mechanism: &str,
) -> Result<(Vec<subprocessor::Model>, Vec<Uuid>), AppError> {
    let today = Utc::now().date_naive();
    let rules = mechanisms_in_force(tenancy).await?;
    let (sps, mut tenants) = tenants_of(tenancy, |sp| {
        sp.mechanisms.0.iter().any(|m| m == mechanism)
            && sp
                .countries
                .0
                .iter()
                .any(|c| rules.needs_mechanism(c, today))
    })
    .await?;
    // Only tenants that could rely on it: a framework of one law does not affect exporters under another.
    if let Some(laws) = mechanisms::known(mechanism)?.exporters.as_ref()
        && !tenants.is_empty()
    {
        let under: BTreeSet<Uuid> = tenant::Entity::find()
            .filter(tenant::Column::Id.is_in(tenants.iter().copied()))
            .all(tenancy.system().control())
            .await?
            .into_iter()
            .filter(|t| {
                laws.iter()
                    .any(|l| l == mechanisms::exporter_law(Some(&t.country)))
            })
            .map(|t| t.id)
            .collect();
        tenants.retain(|t| under.contains(t));
    }
    Ok((sps, tenants))
}

/// The notice kind tenants are told of a change to a transfer mechanism or an adequacy decision with.
pub const NOTICE_TRANSFER_RULES: &str = "transfer.rules_changed";

/// Files, in the caller's control transaction, one notice per affected tenant (with its event, through the outbox).
async fn tell_affected<C: sea_orm::ConnectionTrait>(
    control: &C,
    entry: &AuditEntry,
    tenants: &[Uuid],
    title: &str,
    body: &str,
) -> Result<Owing, AppError> {
    let mut owing = Owing::default();
    for t in tenants {
        owing.push(
            owed::defer(
                control,
                TenantId(*t),
                entry,
                vec![Owed::notice(NOTICE_TRANSFER_RULES, title, body)],
            )
            .await?,
        );
    }
    Ok(owing)
}

fn names_of(sps: &[subprocessor::Model]) -> String {
    sps.iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records that a mechanism is invalid from a date (legal), tells every affected tenant, and returns who that is.
pub async fn invalidate_mechanism(
    tenancy: &Tenancy,
    principal: &Principal,
    mechanism: &str,
    invalid_from: NaiveDate,
    why: &str,
) -> Result<(Vec<subprocessor::Model>, Vec<Uuid>), AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::TransferManage)
        .await?;
    let m = mechanisms::known(mechanism.trim())?;
    let key = m.key.clone();
    let why = reason(why)?;
    crate::validate::date("invalidFrom", invalid_from)?;
    if m.valid_from.is_some_and(|from| invalid_from < from) {
        return Err(AppError::BadInput(format!(
            "`invalidFrom` is before {} became valid ({})",
            m.name,
            m.valid_from.map(|d| d.to_string()).unwrap_or_default()
        )));
    }
    // Who it hits is read before the change's transaction opens (the embedded database has one writer connection).
    let (sps, tenants) = affected_by_mechanism(tenancy, &key).await?;
    let db = platform.control();
    let txn = db.begin().await?;
    let existing = mechanism_invalidation::Entity::find()
        .filter(mechanism_invalidation::Column::Mechanism.eq(key.as_str()))
        .one(&txn)
        .await?;
    match existing {
        Some(found) => {
            let mut model: mechanism_invalidation::ActiveModel = found.into();
            model.invalid_from = Set(invalid_from);
            model.reason = Set(why.clone());
            model.recorded_by = Set(principal.label());
            model.recorded_at = Set(Utc::now());
            model.update(&txn).await?;
        }
        None => {
            mechanism_invalidation::ActiveModel {
                id: Set(Uuid::now_v7()),
                mechanism: Set(key.clone()),
                invalid_from: Set(invalid_from),
                reason: Set(why.clone()),
                recorded_by: Set(principal.label()),
                recorded_at: Set(Utc::now()),
            }
            .insert(&txn)
            .await?;
        }
    }
    let entry = AuditEntry::by(
        principal,
        "mechanism.invalidated",
        "transfer_mechanism",
        &key,
    )
    .with_detail(json!({ "invalid_from": invalid_from }));
    audit::append_platform(&txn, entry.clone()).await?;
    let owing = tell_affected(
        &txn,
        &entry,
        &tenants,
        &format!("{} is invalid from {invalid_from}", m.name),
        &format!(
            "Legal recorded that {} ({key}) is no longer a valid transfer mechanism from {invalid_from}: {why}. \
             Sub-processors relying on it for your data: {}. Transfers under it on or after that date are refused; \
             we will move them to another mechanism and tell you.",
            m.name,
            names_of(&sps)
        ),
    )
    .await?;
    txn.commit().await?;
    owing.apply(tenancy).await;
    Ok((sps, tenants))
}

/// Records a change to an adequacy decision (legal): a new or re-dated decision (`decided_on`) and/or its
/// withdrawal (`withdrawn_on`). Every tenant whose sub-processors process data in that country is told. Returns
/// the sub-processors and tenants concerned.
/// `withdrawal_given`: whether `change.withdrawn_on` was given (`None` then puts the decision back in force); when not,
/// a withdrawal recorded before stays.
pub async fn record_adequacy_change(
    tenancy: &Tenancy,
    principal: &Principal,
    mut change: AdequacyChange,
    withdrawal_given: bool,
) -> Result<(Vec<subprocessor::Model>, Vec<Uuid>), AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::TransferManage)
        .await?;
    let country = mechanisms::country(&change.country)?;
    if change.decided_on.is_none() && !withdrawal_given {
        return Err(AppError::BadInput(
            "give `decidedOn` (a new or corrected decision date), `withdrawnOn` (`null` to put it back in force), or \
             both"
                .into(),
        ));
    }
    let why = reason(&change.reason)?;
    for (field, day) in [
        ("decidedOn", change.decided_on),
        ("withdrawnOn", change.withdrawn_on),
    ] {
        if let Some(day) = day {
            crate::validate::date(field, day)?;
        }
    }
    if mechanisms::data().eea.contains(&country) {
        return Err(AppError::BadInput(format!(
            "{country} is in the EEA: transfers there need no adequacy decision"
        )));
    }
    // What legal recorded before stands where this change says nothing.
    let recorded = adequacy_change::Entity::find()
        .filter(adequacy_change::Column::Country.eq(country.as_str()))
        .one(platform.control())
        .await?;
    if !withdrawal_given {
        change.withdrawn_on = recorded.as_ref().and_then(|r| r.withdrawn_on);
    }
    if change.decided_on.is_none() {
        change.decided_on = recorded.as_ref().and_then(|r| r.decided_on);
    }
    let shipped = mechanisms::data()
        .adequacy
        .iter()
        .find(|a| a.country == country);
    let decided_on = change.decided_on.or(shipped.map(|a| a.decided_on));
    let Some(decided) = decided_on else {
        return Err(AppError::BadInput(format!(
            "{country} has no adequacy decision on record: give `decidedOn` for a new one"
        )));
    };
    if change.withdrawn_on.is_some_and(|w| w <= decided) {
        return Err(AppError::BadInput(
            "`withdrawnOn` must be after the decision's date".into(),
        ));
    }
    let (sps, tenants) = tenants_of(tenancy, |sp| sp.countries.0.contains(&country)).await?;
    let txn = platform.control().begin().await?;
    let existing = adequacy_change::Entity::find()
        .filter(adequacy_change::Column::Country.eq(country.as_str()))
        .one(&txn)
        .await?;
    let found = existing.is_some();
    let mut row: adequacy_change::ActiveModel = match existing {
        Some(found) => found.into(),
        None => adequacy_change::ActiveModel {
            id: Set(Uuid::now_v7()),
            country: Set(country.clone()),
            ..Default::default()
        },
    };
    row.decided_on = Set(change.decided_on);
    row.withdrawn_on = Set(change.withdrawn_on);
    row.reason = Set(why.clone());
    row.recorded_by = Set(principal.label());
    row.recorded_at = Set(Utc::now());
    if found {
        row.update(&txn).await?;
    } else {
        row.insert(&txn).await?;
    }
    let entry = AuditEntry::by(principal, "adequacy.changed", "adequacy_decision", &country)
        .with_detail(json!({ "decided_on": decided, "withdrawn_on": change.withdrawn_on }));
    audit::append_platform(&txn, entry.clone()).await?;
    let (title, what) = match change.withdrawn_on {
        Some(w) => (
            format!("The adequacy decision for {country} ends on {w}"),
            format!(
                "From {w} transfers of your data to {country} need a transfer mechanism (e.g. standard contractual \
                 clauses); transfers without one are refused."
            ),
        ),
        None => (
            format!("{country} has an adequacy decision from {decided}"),
            format!(
                "From {decided} transfers of your data to {country} need no transfer mechanism."
            ),
        ),
    };
    let owing = tell_affected(
        &txn,
        &entry,
        &tenants,
        &title,
        &format!(
            "Legal recorded a change to the adequacy decision for {country}: {why}. {what} Sub-processors \
             processing your data there: {}.",
            names_of(&sps)
        ),
    )
    .await?;
    txn.commit().await?;
    owing.apply(tenancy).await;
    Ok((sps, tenants))
}

/// A transfer to record.
#[derive(Clone, Debug)]
pub struct TransferInput {
    pub sub_processor_id: SubProcessorId,
    pub categories: Vec<String>,
    pub purpose: String,
    pub subject_ids: Option<Vec<SubjectId>>,
    pub subject_count: Option<i32>,
    pub mechanism: Option<String>,
    pub transferred_on: Option<NaiveDate>,
}

/// What a transfer is checked against: the recipient as the registry holds it, and this tenant's change notice of it
/// (its status and effective date), if it was ever announced to the tenant.
#[derive(Clone, Copy, Debug)]
pub struct Recipient<'a> {
    pub name: &'a str,
    pub status: SubProcessorStatus,
    pub notice: Option<(ChangeNoticeStatus, NaiveDate)>,
    /// The day the entry came into effect for the tenant (its notice's activation), when recorded.
    pub in_effect_since: Option<NaiveDate>,
    pub declared: &'a [String],
    pub countries: &'a [String],
    pub agreed: &'a [String],
    pub certified: bool,
}

/// Where transfers are refused: the whole rule, with no database, so every refusal is tested on its own. A transfer
/// of `categories` on `date` (under `mechanism`, when named) to `recipient` is allowed only when the recipient is not
/// retired, is in force for this tenant (announced, its objection window closed, not objected to, not excluded),
/// is declared to receive every category, and every destination country is covered (EEA, adequacy, or a mechanism
/// in force that the recipient signed).
pub fn check_transfer(
    recipient: &Recipient<'_>,
    categories: &BTreeSet<String>,
    mechanism: Option<&str>,
    date: NaiveDate,
    in_force: &Rules,
    (exporter, home): (&str, Option<&str>),
) -> Result<(), (RefusalReason, String)> {
    let name = recipient.name;
    if recipient.status == SubProcessorStatus::Retired {
        return Err((
            RefusalReason::SubprocessorRetired,
            format!("{name} is retired"),
        ));
    }
    match recipient.notice {
        None => {
            return Err((
                RefusalReason::NotAnnouncedToTenant,
                format!("{name} was never announced to this tenant"),
            ));
        }
        Some((ChangeNoticeStatus::Pending, effective_on)) => {
            return Err((
                RefusalReason::NotYetEffective,
                format!("{name} is effective for this tenant only from {effective_on}"),
            ));
        }
        Some((ChangeNoticeStatus::Blocked, _)) => {
            return Err((
                RefusalReason::Objected,
                format!("this tenant's objection to {name} stands"),
            ));
        }
        Some((ChangeNoticeStatus::Excluded, _)) => {
            return Err((
                RefusalReason::ExcludedForTenant,
                format!("{name} is not used for this tenant"),
            ));
        }
        // A withdrawn change never decides where an entry stands (`in_force`); as the entry's own notice, it never is.
        Some((ChangeNoticeStatus::Active | ChangeNoticeStatus::Withdrawn, _)) => {}
    }
    // Data cannot have gone to an entry before it was in effect for the tenant (onboarding: the day it was created).
    if let Some(since) = recipient.in_effect_since
        && date < since
    {
        return Err((
            RefusalReason::NotYetEffective,
            format!(
                "{name} is in effect for this tenant from {since}: a transfer on {date} cannot have gone to it"
            ),
        ));
    }
    if let Some(extra) = categories.iter().find(|c| !recipient.declared.contains(c)) {
        return Err((
            RefusalReason::CategoryNotDeclared,
            format!("{name} is not declared to receive `{extra}`"),
        ));
    }
    // Data that stays in the exporter's own country is not transferred anywhere.
    for country in recipient
        .countries
        .iter()
        .filter(|c| Some(c.as_str()) != home)
    {
        mechanisms::check_country(
            in_force,
            exporter,
            country,
            date,
            mechanism,
            recipient.agreed,
            recipient.certified,
        )
        .map_err(|(refusal, message)| (refusal.reason(), message))?;
    }
    Ok(())
}

/// An entry's terms on `date` when a change to them took effect after it: `(categories, countries, mechanisms, DPF
/// certified)` as the earliest such change's revision recorded them before; `None` when today's terms applied then.
async fn terms_on(
    tenancy: &Tenancy,
    sp: &subprocessor::Model,
    date: NaiveDate,
) -> Result<Option<(Vec<String>, Vec<String>, Vec<String>, bool)>, AppError> {
    let later = steward_entities::subprocessor_revision::Entity::find()
        .filter(steward_entities::subprocessor_revision::Column::SubProcessorId.eq(sp.id))
        .filter(steward_entities::subprocessor_revision::Column::Change.eq("change_effective"))
        .order_by_asc(steward_entities::subprocessor_revision::Column::Id)
        .all(tenancy.system().control())
        .await?
        .into_iter()
        .find(|r| r.at.date_naive() > date);
    let Some(before) = later.and_then(|r| r.before) else {
        return Ok(None);
    };
    let names = |key: &str| -> Vec<String> {
        before[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Some((
        names("categories"),
        names("countries"),
        names("mechanisms"),
        before["dpf_certified"].as_bool().unwrap_or(false),
    )))
}

/// Records an onward transfer of the scope's tenant's data, or refuses it with a reason code.
pub async fn record_transfer(
    tenancy: &Tenancy,
    scope: &Scope,
    input: TransferInput,
) -> Result<onward_transfer::Model, AppError> {
    let today = Utc::now().date_naive();
    let date = crate::validate::date("transferredOn", input.transferred_on.unwrap_or(today))?;
    if date > today {
        return Err(AppError::BadInput(
            "`transferredOn` is in the future".into(),
        ));
    }
    let purpose = taxonomy::purpose(input.purpose.trim())?.key.clone();
    let categories: BTreeSet<String> = input
        .categories
        .iter()
        .map(|c| Ok(taxonomy::category(c.trim())?.key.clone()))
        .collect::<Result<_, AppError>>()?;
    if categories.is_empty() {
        return Err(AppError::BadInput(
            "`categories` must name at least one".into(),
        ));
    }
    let sp = get(tenancy, input.sub_processor_id).await?;
    let status = sp.status;
    let notices = scope
        .find_control::<change_notice::Entity>()
        .filter(change_notice::Column::SubProcessorId.eq(sp.id))
        .order_by_asc(change_notice::Column::Id)
        .all(scope.control())
        .await?;
    let standing = super::in_force(&notices.iter().collect::<Vec<_>>());
    let mechanism = input
        .mechanism
        .as_deref()
        .map(|m| mechanisms::known(m.trim()).map(|m| m.key.clone()))
        .transpose()?;
    let in_force = mechanisms_in_force(tenancy).await?;
    // A transfer on an earlier day is checked against the terms in force that day: those before each change that
    // took effect since (its revision keeps them).
    let then = terms_on(tenancy, &sp, date).await?;
    let (declared, countries, agreed, certified) = match &then {
        Some(t) => (&t.0, &t.1, &t.2, t.3),
        None => (
            &sp.categories.0,
            &sp.countries.0,
            &sp.mechanisms.0,
            sp.dpf_certified,
        ),
    };
    let in_effect_since = notices
        .iter()
        .rev()
        .find(|n| n.kind != steward_entities::change_notice::ChangeKind::Change)
        .and_then(|n| n.activated_at)
        .map(|at| at.date_naive());
    let recipient = Recipient {
        name: &sp.name,
        status,
        notice: standing,
        in_effect_since,
        declared,
        countries,
        agreed,
        certified,
    };
    check_transfer(
        &recipient,
        &categories,
        mechanism.as_deref(),
        date,
        &in_force,
        (
            mechanisms::exporter_law(Some(scope.tenant().country.as_str())),
            Some(scope.tenant().country.as_str()),
        ),
    )
    .map_err(|(reason, message)| AppError::Refused { reason, message })?;
    let subject_ids = match (&input.subject_ids, input.subject_count) {
        (Some(ids), None) => {
            let ids: BTreeSet<SubjectId> = ids.iter().copied().collect();
            if ids.is_empty() || ids.len() > 10_000 {
                return Err(AppError::BadInput(
                    "`subjectIds` must name 1-10000 subjects".into(),
                ));
            }
            let query = scope
                .find::<steward_entities::data_subject::Entity>()
                .filter(steward_entities::data_subject::Column::Id.is_in(ids.iter().copied()));
            let found = crate::pagination::count(query, scope.db()).await?;
            if found != ids.len() as u64 {
                return Err(AppError::NotFound(
                    "some of `subjectIds` are not subjects of this tenant".into(),
                ));
            }
            let restricted = scope
                .find::<steward_entities::data_subject::Entity>()
                .filter(steward_entities::data_subject::Column::Id.is_in(ids.iter().copied()))
                .filter(steward_entities::data_subject::Column::RestrictedAt.is_not_null());
            if crate::pagination::count(restricted, scope.db()).await? > 0 {
                return Err(AppError::Refused {
                    reason: RefusalReason::SubjectRestricted,
                    message: "some of `subjectIds` have their processing restricted: they cannot be transferred until the restriction is lifted".into(),
                });
            }
            // Nor for a purpose one of them objected to (being handled, or upheld).
            for id in &ids {
                crate::subjects::refuse_if_objected(scope.db(), scope.find(), id.0, &purpose)
                    .await?;
            }
            ids.into_iter().collect::<Vec<_>>()
        }
        (None, Some(n)) if n > 0 => Vec::new(),
        _ => {
            return Err(AppError::BadInput(
                "give either `subjectIds` or a positive `subjectCount`".into(),
            ));
        }
    };
    let count = if subject_ids.is_empty() {
        input.subject_count.unwrap_or(0)
    } else {
        subject_ids.len() as i32
    };
    let id = Uuid::now_v7();
    let txn = scope.begin().await?;
    let model = txn
        .insert(onward_transfer::ActiveModel {
            id: Set(id),
            sub_processor_id: Set(sp.id),
            categories: Set(categories.iter().cloned().collect()),
            purpose: Set(purpose),
            subject_count: Set(count),
            mechanism: Set(mechanism),
            countries: Set(sp.countries.clone()),
            transferred_on: Set(date),
            recorded_by: Set(scope.principal().label()),
            created_at: Set(Utc::now()),
            ..Default::default()
        })
        .await?;
    for subject in &subject_ids {
        txn.insert(onward_transfer_subject::ActiveModel {
            transfer_id: Set(id),
            subject_id: Set(subject.0),
            ..Default::default()
        })
        .await?;
    }
    txn.commit(
        AuditEntry::by(
            scope.principal(),
            "transfer.recorded",
            "onward_transfer",
            id,
        )
        .with_detail(json!({ "subprocessor": sp.id, "categories": categories, "subjects": count })),
    )
    .await?;
    Ok(model)
}

/// A tenant's onward transfers, newest first.
pub async fn transfers_of(scope: &Scope) -> Result<Vec<onward_transfer::Model>, AppError> {
    Ok(scope
        .find::<onward_transfer::Entity>()
        .order_by_desc(onward_transfer::Column::Id)
        .all(scope.db())
        .await?)
}

/// The transfers to one sub-processor across every tenant (legal), newest first.
pub async fn transfers_to(
    tenancy: &Tenancy,
    principal: &Principal,
    sp: SubProcessorId,
) -> Result<Vec<onward_transfer::Model>, AppError> {
    let platform = tenancy
        .require_platform(principal, Permission::TransferManage)
        .await?;
    let mut all = Vec::new();
    for (_, db) in platform.regions() {
        all.extend(
            onward_transfer::Entity::find()
                .filter(onward_transfer::Column::SubProcessorId.eq(sp))
                .all(db)
                .await?,
        );
    }
    all.sort_by_key(|t| std::cmp::Reverse(t.id));
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Every refusal of the rule, each on its own, and the transfers it allows.
    #[test]
    fn transfers_are_refused_for_each_reason() {
        let in_force = Rules::baseline();
        let declared = strings(&["contact.email", "contact.name"]);
        let us = strings(&["US"]);
        let eea = strings(&["DE"]);
        let scc = strings(&["eu_scc_2021"]);
        let dpf = strings(&["eu_us_dpf"]);
        let shield = strings(&["privacy_shield"]);
        let base = Recipient {
            name: "Mailer Inc",
            status: SubProcessorStatus::Active,
            notice: Some((ChangeNoticeStatus::Active, d("2026-01-01"))),
            in_effect_since: Some(d("2026-01-01")),
            declared: &declared,
            countries: &us,
            agreed: &scc,
            certified: false,
        };
        let email: BTreeSet<String> = ["contact.email".to_owned()].into();
        let on = d("2026-06-01");
        let check = |r: &Recipient<'_>, categories: &BTreeSet<String>, mechanism: Option<&str>| {
            check_transfer(r, categories, mechanism, on, &in_force, ("EEA", None))
                .map_err(|(reason, _)| reason)
        };

        assert_eq!(check(&base, &email, Some("eu_scc_2021")), Ok(()));
        // Not before the entry was in effect for the tenant.
        assert_eq!(
            check_transfer(
                &base,
                &email,
                Some("eu_scc_2021"),
                d("2025-12-31"),
                &in_force,
                ("EEA", None)
            )
            .map_err(|(reason, _)| reason),
            Err(RefusalReason::NotYetEffective)
        );
        let within_eea = Recipient {
            countries: &eea,
            ..base
        };
        assert_eq!(
            check(&within_eea, &email, None),
            Ok(()),
            "no mechanism needed inside the EEA"
        );

        let cases: Vec<(Recipient<'_>, BTreeSet<String>, Option<&str>, RefusalReason)> = vec![
            (
                Recipient {
                    status: SubProcessorStatus::Retired,
                    ..base
                },
                email.clone(),
                Some("eu_scc_2021"),
                RefusalReason::SubprocessorRetired,
            ),
            (
                Recipient {
                    notice: None,
                    ..base
                },
                email.clone(),
                Some("eu_scc_2021"),
                RefusalReason::NotAnnouncedToTenant,
            ),
            (
                Recipient {
                    notice: Some((ChangeNoticeStatus::Pending, d("2026-07-01"))),
                    ..base
                },
                email.clone(),
                Some("eu_scc_2021"),
                RefusalReason::NotYetEffective,
            ),
            (
                Recipient {
                    notice: Some((ChangeNoticeStatus::Blocked, d("2026-01-01"))),
                    ..base
                },
                email.clone(),
                Some("eu_scc_2021"),
                RefusalReason::Objected,
            ),
            (
                Recipient {
                    notice: Some((ChangeNoticeStatus::Excluded, d("2026-01-01"))),
                    ..base
                },
                email.clone(),
                Some("eu_scc_2021"),
                RefusalReason::ExcludedForTenant,
            ),
            (
                base,
                ["health.condition".to_owned()].into(),
                Some("eu_scc_2021"),
                RefusalReason::CategoryNotDeclared,
            ),
            (base, email.clone(), None, RefusalReason::MechanismRequired),
            (
                base,
                email.clone(),
                Some("bcr"),
                RefusalReason::MechanismNotAgreed,
            ),
            (
                Recipient {
                    agreed: &dpf,
                    ..base
                },
                email.clone(),
                Some("eu_us_dpf"),
                RefusalReason::EntityNotCertified,
            ),
            (
                Recipient {
                    agreed: &shield,
                    certified: true,
                    ..base
                },
                email.clone(),
                Some("privacy_shield"),
                RefusalReason::MechanismInvalidOnDate,
            ),
        ];
        for (recipient, categories, mechanism, reason) in &cases {
            assert_eq!(
                check(recipient, categories, *mechanism),
                Err(*reason),
                "{recipient:?} {categories:?} {mechanism:?}"
            );
        }
        // Every rule-level refusal of the rule appears above.
        let seen: BTreeSet<&str> = cases.iter().map(|(.., r)| r.code()).collect();
        assert_eq!(seen.len(), cases.len());
    }
}
