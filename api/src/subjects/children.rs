//! The children's rules, as each controller instructs (`ChildrenRule`, set by its `client_admin`): the seed policy's
//! by default — nothing about a child under 13 (a subject learned to be one is erased), a parent's or guardian's
//! consent for 13 to 17 — or a guardian's consent for every subject under 18, none refused or erased for age.

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use steward_entities::{data_subject, guardian_consent, tenant};

pub use steward_entities::tenant::ChildrenRule;

use super::{SubjectKey, open_birth_date};
use crate::error::{AppError, RefusalReason};
use crate::tenancy::{Scope, Work};

/// The age bands the rules use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgeBand {
    Under13,
    /// 13 to 17.
    Minor,
    Adult,
}

pub fn age_band(birth: chrono::NaiveDate) -> AgeBand {
    match super::age_on(birth, Utc::now().date_naive()) {
        ..13 => AgeBand::Under13,
        13..=17 => AgeBand::Minor,
        _ => AgeBand::Adult,
    }
}

/// What a subject of this age is under a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Treatment {
    /// Nothing is taken about them; learned later, they are erased.
    Refused,
    /// Personal data only with a recorded guardian consent.
    NeedsGuardian,
    Free,
}

/// How `rule` treats a subject known to be under 13 (`known_under_13`) or of age band `band`.
pub fn treatment(rule: ChildrenRule, known_under_13: bool, band: Option<AgeBand>) -> Treatment {
    let under_13 = known_under_13 || band == Some(AgeBand::Under13);
    match rule {
        ChildrenRule::Seed if under_13 => Treatment::Refused,
        _ if under_13 || band == Some(AgeBand::Minor) => Treatment::NeedsGuardian,
        _ => Treatment::Free,
    }
}

/// The scope's tenant's rule (read from the directory: a write-path read, never on a page).
pub async fn rule_of(scope: &Scope) -> Result<ChildrenRule, AppError> {
    Ok(tenant::Entity::find_by_id(scope.tenant_id().0)
        .one(scope.control())
        .await?
        .map_or(ChildrenRule::Seed, |t| t.children_rule))
}

/// Sets the scope's tenant's rule (its `client_admin`: the controller's instruction), with an event in its chain. It
/// governs what comes next: a subject already erased stays erased, and a subject under 13 kept under the rule for all
/// minors is not erased by a switch back to the seed's (new data about it is refused from then on).
pub async fn set_rule(
    tenancy: &crate::tenancy::Tenancy,
    scope: &Scope,
    rule: ChildrenRule,
) -> Result<ChildrenRule, AppError> {
    use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
    let txn = scope.control().begin().await?;
    let found = tenant::Entity::find_by_id(scope.tenant_id().0)
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no tenant {}", scope.tenant_id())))?;
    let before = found.children_rule;
    if before == rule {
        return Ok(rule);
    }
    let mut model: tenant::ActiveModel = found.into();
    model.children_rule = Set(rule);
    model.updated_at = Set(Utc::now());
    model.update(&txn).await?;
    let deferred = crate::owed::defer(
        &txn,
        scope.tenant_id(),
        &crate::audit::AuditEntry::by(
            scope.principal(),
            "tenant.children_rule_set",
            "tenant",
            scope.tenant_id(),
        )
        .with_detail(serde_json::json!({ "from": before.as_str(), "to": rule.as_str() })),
        Vec::new(),
    )
    .await?;
    txn.commit().await?;
    crate::owed::apply_now(tenancy, deferred).await;
    Ok(rule)
}

pub(super) fn child_under_13() -> AppError {
    AppError::Refused {
        reason: RefusalReason::ChildUnder13,
        message: "this person is under 13: under the tenant's children's rule Steward takes no personal data about \
                  them (nothing was stored)"
            .into(),
    }
}

pub(super) fn guardian_consent_required() -> AppError {
    AppError::Refused {
        reason: RefusalReason::GuardianConsentRequired,
        message: "this person is a minor: record a parent's or guardian's consent first (guardianConsent / \
                  recordGuardianConsent)"
            .into(),
    }
}

/// Whether a new subject of age band `band`, with records or not and a guardian's consent or not, may be created.
pub(super) fn check_create(
    rule: ChildrenRule,
    band: Option<AgeBand>,
    has_records: bool,
    has_guardian: bool,
) -> Result<(), AppError> {
    match treatment(rule, false, band) {
        Treatment::Refused => Err(child_under_13()),
        Treatment::NeedsGuardian if has_records && !has_guardian => {
            Err(guardian_consent_required())
        }
        Treatment::NeedsGuardian => Ok(()),
        Treatment::Free if has_guardian => Err(AppError::BadInput(
            "`guardianConsent` is recorded only for minors (give their `birthDate`)".into(),
        )),
        Treatment::Free => Ok(()),
    }
}

/// Whether a guardian's consent may be recorded for this subject.
pub(super) fn check_consent(
    rule: ChildrenRule,
    subject: &data_subject::Model,
    band: Option<AgeBand>,
) -> Result<(), AppError> {
    match treatment(rule, subject.known_under_13, band) {
        Treatment::Refused => Err(child_under_13()),
        Treatment::NeedsGuardian => Ok(()),
        Treatment::Free => Err(AppError::Refused {
            reason: RefusalReason::NotAMinor,
            message: "guardian consent is recorded for minors; this subject's birth date does not say it is one"
                .into(),
        }),
    }
}

/// New personal data is refused for a subject the rule refuses, and for one needing a guardian's consent without it.
pub(super) async fn check_may_add(
    txn: &Work,
    rule: ChildrenRule,
    subject: &data_subject::Model,
    key: &SubjectKey,
) -> Result<(), AppError> {
    let band = open_birth_date(key, subject)?.map(age_band);
    match treatment(rule, subject.known_under_13, band) {
        Treatment::Refused => Err(child_under_13()),
        Treatment::NeedsGuardian => {
            let consent = txn
                .find::<guardian_consent::Entity>()
                .filter(guardian_consent::Column::SubjectId.eq(subject.id))
                .one(txn)
                .await?;
            if consent.is_none() {
                return Err(guardian_consent_required());
            }
            Ok(())
        }
        Treatment::Free => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_treats_each_age() {
        use AgeBand::*;
        use ChildrenRule::*;
        use Treatment::*;
        for (rule, known, band, expect) in [
            (Seed, false, Some(Under13), Refused),
            (Seed, true, None, Refused),
            (Seed, false, Some(Minor), NeedsGuardian),
            (Seed, false, Some(Adult), Free),
            (Seed, false, None, Free),
            (GuardianForAllMinors, false, Some(Under13), NeedsGuardian),
            (GuardianForAllMinors, true, None, NeedsGuardian),
            (GuardianForAllMinors, false, Some(Minor), NeedsGuardian),
            (GuardianForAllMinors, false, Some(Adult), Free),
        ] {
            assert_eq!(
                treatment(rule, known, band),
                expect,
                "{rule:?} {known} {band:?}"
            );
        }
    }
}
