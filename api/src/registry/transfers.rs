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
    change_notice, mechanism_invalidation, onward_transfer, onward_transfer_subject, subprocessor,
};
use steward_policy::Permission;
use uuid::Uuid;

use super::*;
use crate::audit::{self, AuditEntry};
use crate::auth::Principal;
use crate::error::AppError;
use crate::error::RefusalReason;
use crate::ids::{SubProcessorId, SubjectId};
use crate::registry::mechanisms::{self, Mechanism};
use crate::taxonomy;
use crate::tenancy::{Scope, Tenancy};

/// Mechanisms as in force now: the shipped baseline with legal's invalidations.
pub async fn mechanisms_in_force(tenancy: &Tenancy) -> Result<Vec<Mechanism>, AppError> {
    let recorded = mechanism_invalidation::Entity::find()
        .all(tenancy.system().control())
        .await?;
    let map: HashMap<String, NaiveDate> = recorded
        .into_iter()
        .map(|r| (r.mechanism, r.invalid_from))
        .collect();
    Ok(mechanisms::with_invalidations(&map))
}

/// Who is hit when a mechanism stops being valid: the public sub-processors relying on it for a country that needs
/// one, and the tenants whose data goes to them.
pub async fn affected_by_mechanism(
    tenancy: &Tenancy,
    mechanism: &str,
) -> Result<(Vec<subprocessor::Model>, Vec<Uuid>), AppError> {
    let today = Utc::now().date_naive();
    let mut hit = Vec::new();
    for sp in list(tenancy, true).await? {
        let relies = sp.mechanisms.0.iter().any(|m| m == mechanism)
            && sp
                .countries
                .0
                .iter()
                .any(|c| mechanisms::needs_mechanism(c, today));
        if relies {
            hit.push(sp);
        }
    }
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

/// Records that a mechanism is invalid from a date (legal), and returns who is affected.
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
    let key = mechanisms::known(mechanism.trim())?.key.clone();
    let why = reason(why)?;
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
            model.reason = Set(why);
            model.recorded_by = Set(principal.label());
            model.recorded_at = Set(Utc::now());
            model.update(&txn).await?;
        }
        None => {
            mechanism_invalidation::ActiveModel {
                id: Set(Uuid::now_v7()),
                mechanism: Set(key.clone()),
                invalid_from: Set(invalid_from),
                reason: Set(why),
                recorded_by: Set(principal.label()),
                recorded_at: Set(Utc::now()),
            }
            .insert(&txn)
            .await?;
        }
    }
    audit::append_platform(
        &txn,
        AuditEntry::by(
            principal,
            "mechanism.invalidated",
            "transfer_mechanism",
            &key,
        )
        .with_detail(json!({ "invalid_from": invalid_from })),
    )
    .await?;
    txn.commit().await?;
    affected_by_mechanism(tenancy, &key).await
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
    in_force: &[Mechanism],
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
        Some((ChangeNoticeStatus::Active, _)) => {}
    }
    if let Some(extra) = categories.iter().find(|c| !recipient.declared.contains(c)) {
        return Err((
            RefusalReason::CategoryNotDeclared,
            format!("{name} is not declared to receive `{extra}`"),
        ));
    }
    for country in recipient.countries {
        mechanisms::check_country(
            in_force,
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

/// Records an onward transfer of the scope's tenant's data, or refuses it with a reason code.
pub async fn record_transfer(
    tenancy: &Tenancy,
    scope: &Scope,
    input: TransferInput,
) -> Result<onward_transfer::Model, AppError> {
    let today = Utc::now().date_naive();
    let date = input.transferred_on.unwrap_or(today);
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
    let notice = scope
        .find_control::<change_notice::Entity>()
        .filter(change_notice::Column::SubProcessorId.eq(sp.id))
        .one(scope.control())
        .await?;
    let mechanism = input
        .mechanism
        .as_deref()
        .map(|m| mechanisms::known(m.trim()).map(|m| m.key.clone()))
        .transpose()?;
    let in_force = mechanisms_in_force(tenancy).await?;
    let recipient = Recipient {
        name: &sp.name,
        status,
        notice: notice.as_ref().map(|n| (n.status, n.effective_on)),
        declared: &sp.categories.0,
        countries: &sp.countries.0,
        agreed: &sp.mechanisms.0,
        certified: sp.dpf_certified,
    };
    check_transfer(
        &recipient,
        &categories,
        mechanism.as_deref(),
        date,
        &in_force,
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
    use std::collections::HashMap;

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
        let in_force = mechanisms::with_invalidations(&HashMap::new());
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
            declared: &declared,
            countries: &us,
            agreed: &scc,
            certified: false,
        };
        let email: BTreeSet<String> = ["contact.email".to_owned()].into();
        let on = d("2026-06-01");
        let check = |r: &Recipient<'_>, categories: &BTreeSet<String>, mechanism: Option<&str>| {
            check_transfer(r, categories, mechanism, on, &in_force).map_err(|(reason, _)| reason)
        };

        assert_eq!(check(&base, &email, Some("eu_scc_2021")), Ok(()));
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
