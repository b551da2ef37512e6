//! Changes to the terms of a sub-processor in use (GDPR Art. 28(2): "any intended changes concerning the addition
//! or replacement"): more countries, more categories, another purpose or another legal entity are announced to every
//! tenant bound to the entry as a change notice of kind `change`, with the notice period and objections of a new
//! sub-processor. The entry's current terms stay in force until the effective date ([`apply_due`]); a tenant whose
//! objection to the change still stands then has the entry blocked for its data ([`in_force`]).

use super::*;
use steward_entities::PendingTerms;

/// What in a new set of terms reaches beyond the current ones; empty when nothing does (a narrower change, a new
/// website or name, another mechanism, a DPA date), which applies at once.
pub(super) fn widening(before: &subprocessor::Model, c: &Checked) -> Vec<String> {
    let added = |new: &[String], old: &[String]| -> Vec<String> {
        new.iter().filter(|n| !old.contains(n)).cloned().collect()
    };
    let mut parts = Vec::new();
    let countries = added(&c.countries, &before.countries.0);
    if !countries.is_empty() {
        parts.push(format!("adds countries {}", countries.join(", ")));
    }
    let categories = added(&c.categories, &before.categories.0);
    if !categories.is_empty() {
        parts.push(format!("adds categories {}", categories.join(", ")));
    }
    if c.purpose != before.purpose {
        parts.push(format!("changes its purpose to: {}", c.purpose));
    }
    if c.legal_entity != before.legal_entity {
        parts.push(format!(
            "changes its legal entity from {} to {}",
            before.legal_entity, c.legal_entity
        ));
    }
    parts
}

/// The model as it will be once its pending terms take effect.
fn with_terms(sp: &subprocessor::Model, t: &PendingTerms) -> subprocessor::Model {
    subprocessor::Model {
        name: t.name.clone(),
        name_key: t.name.to_lowercase(),
        legal_entity: t.legal_entity.clone(),
        website: t.website.clone(),
        purpose: t.purpose.clone(),
        countries: Names(t.countries.clone()),
        categories: Names(t.categories.clone()),
        mechanisms: Names(t.mechanisms.clone()),
        dpf_certified: t.dpf_certified,
        dpa_signed_on: t.dpa_signed_on,
        pending_terms: None,
        pending_effective_on: None,
        ..sp.clone()
    }
}

/// Announces wider terms for an entry in use: stored beside the current ones, a change notice to every tenant bound
/// to it (not to those it is excluded for), effective `effective_on` (default: the longest notice period among
/// them), which must leave each its full notice period.
pub(super) async fn announce(
    tenancy: &Tenancy,
    (platform, principal): (Platform<'_>, &Principal),
    before: subprocessor::Model,
    terms: PendingTerms,
    widens: Vec<String>,
    (effective_on, why): (Option<NaiveDate>, String),
) -> Result<subprocessor::Model, AppError> {
    if let (Some(_), Some(on)) = (&before.pending_terms, before.pending_effective_on) {
        return Err(AppError::Conflict(format!(
            "a change to {} is already announced, effective {on}: it takes effect before another can be announced",
            before.name
        )));
    }
    let notices = change_notice::Entity::find()
        .filter(change_notice::Column::SubProcessorId.eq(before.id))
        .order_by_asc(change_notice::Column::Id)
        .all(platform.control())
        .await?;
    let mut bound: Vec<Uuid> = notices
        .iter()
        .map(|n| n.tenant_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|t| {
            let mine: Vec<&change_notice::Model> =
                notices.iter().filter(|n| n.tenant_id == *t).collect();
            in_force(&mine).is_some_and(|(s, _)| s != ChangeNoticeStatus::Excluded)
        })
        .collect();
    let live: HashMap<Uuid, tenant::Model> = live_tenants(platform)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    bound.retain(|t| live.contains_key(t));
    let effective_on = super::effective_date(
        effective_on,
        &bound.iter().map(|t| &live[t]).collect::<Vec<_>>(),
        1,
    )?;
    let now = Utc::now();
    let control = platform.control().begin().await?;
    // Conditional on no change pending, so of two announced at once one is CONFLICT.
    let written = subprocessor::Entity::update_many()
        .col_expr(
            subprocessor::Column::PendingTerms,
            Some(terms.clone()).into(),
        )
        .col_expr(
            subprocessor::Column::PendingEffectiveOn,
            Some(effective_on).into(),
        )
        .col_expr(subprocessor::Column::UpdatedAt, now.into())
        .filter(subprocessor::Column::Id.eq(before.id))
        .filter(subprocessor::Column::PendingEffectiveOn.is_null())
        .exec(&control)
        .await?;
    if written.rows_affected == 0 {
        return Err(AppError::Conflict(format!(
            "a change to {} was announced meanwhile",
            before.name
        )));
    }
    let after = subprocessor::Model {
        pending_terms: Some(terms.clone()),
        pending_effective_on: Some(effective_on),
        updated_at: now,
        ..before.clone()
    };
    let id = SubProcessorId(before.id);
    let future = with_terms(&after, &terms);
    revise(
        &control,
        principal,
        id,
        "change_announced",
        &why,
        Some(&before),
        &future,
    )
    .await?;
    let notice = Owed::notice(
        NOTICE_SUBPROCESSOR_CHANGE,
        &format!("Change to sub-processor {}", before.name),
        format!(
            "{} {}. From {effective_on} it will process your data ({}) in {} for: {}. Until then its current terms \
             apply. You may object until then.",
            before.name,
            widens.join("; "),
            terms.categories.join(", "),
            terms.countries.join(", "),
            terms.purpose
        ),
    );
    let entry = AuditEntry::by(
        principal,
        "subprocessor.change_announced",
        "subprocessor",
        id,
    )
    .with_detail(json!({ "effective_on": effective_on, "changes": widens }));
    let mut owing = Owing::default();
    for t in &bound {
        insert_notice(
            &control,
            (before.id, *t),
            ChangeKind::Change,
            (ChangeNoticeStatus::Pending, effective_on),
            now,
        )
        .await?;
        owing.push(owed::defer(&control, TenantId(*t), &entry, vec![notice.clone()]).await?);
    }
    control.commit().await?;
    owing.apply(tenancy).await;
    Ok(after)
}

/// Withdraws a change announced and not yet in effect (legal): the entry keeps its terms, each tenant's change notice
/// is `withdrawn`, and every tenant told of the change is told it is withdrawn.
pub async fn withdraw_change(
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
    let Some(on) = before.pending_effective_on else {
        return Err(AppError::Conflict(format!(
            "{} has no change announced",
            before.name
        )));
    };
    let now = Utc::now();
    let control = platform.control().begin().await?;
    let written = subprocessor::Entity::update_many()
        .col_expr(
            subprocessor::Column::PendingTerms,
            Option::<PendingTerms>::None.into(),
        )
        .col_expr(
            subprocessor::Column::PendingEffectiveOn,
            Option::<NaiveDate>::None.into(),
        )
        .col_expr(subprocessor::Column::UpdatedAt, now.into())
        .filter(subprocessor::Column::Id.eq(id))
        .filter(subprocessor::Column::PendingEffectiveOn.eq(on))
        .exec(&control)
        .await?;
    if written.rows_affected == 0 {
        return Err(AppError::Conflict(format!(
            "the change to {} took effect or was withdrawn meanwhile",
            before.name
        )));
    }
    let after = subprocessor::Model {
        pending_terms: None,
        pending_effective_on: None,
        updated_at: now,
        ..before.clone()
    };
    revise(
        &control,
        principal,
        id,
        "change_withdrawn",
        &why,
        Some(&before),
        &after,
    )
    .await?;
    let told: Vec<Uuid> = change_notice::Entity::find()
        .select_only()
        .column(change_notice::Column::TenantId)
        .filter(change_notice::Column::SubProcessorId.eq(id))
        .filter(change_notice::Column::Kind.eq(ChangeKind::Change))
        .filter(change_notice::Column::Status.eq(ChangeNoticeStatus::Pending))
        .into_tuple()
        .all(&control)
        .await?;
    change_notice::Entity::update_many()
        .col_expr(
            change_notice::Column::Status,
            ChangeNoticeStatus::Withdrawn.into(),
        )
        .filter(change_notice::Column::SubProcessorId.eq(id))
        .filter(change_notice::Column::Kind.eq(ChangeKind::Change))
        .filter(change_notice::Column::Status.eq(ChangeNoticeStatus::Pending))
        .exec(&control)
        .await?;
    let entry = AuditEntry::by(
        principal,
        "subprocessor.change_withdrawn",
        "subprocessor",
        id,
    )
    .with_detail(json!({ "effective_on": on }));
    let notice = Owed::notice(
        NOTICE_SUBPROCESSOR_CHANGE,
        &format!("Change to sub-processor {} withdrawn", before.name),
        format!(
            "The change to {} announced for {on} is withdrawn: its terms stay as they are. Reason: {why}",
            before.name
        ),
    );
    let mut owing = Owing::default();
    for t in told {
        owing.push(owed::defer(&control, TenantId(t), &entry, vec![notice.clone()]).await?);
    }
    control.commit().await?;
    owing.apply(tenancy).await;
    Ok(after)
}

/// Puts the pending terms whose date has come into effect (the daily activation). Idempotent; returns how many.
pub(super) async fn apply_due(tenancy: &Tenancy, today: NaiveDate) -> Result<usize, AppError> {
    let db = tenancy.system().control();
    let due = subprocessor::Entity::find()
        .filter(subprocessor::Column::PendingEffectiveOn.lte(today))
        .filter(subprocessor::Column::Status.ne(SubProcessorStatus::Retired))
        .all(db)
        .await?;
    let system = Principal {
        subject: "steward".into(),
        kind: ActorKind::Staff,
        tenant_id: None,
    };
    let mut applied = 0;
    for before in due {
        let Some(terms) = before.pending_terms.clone() else {
            continue;
        };
        let txn = db.begin().await?;
        let future = with_terms(&before, &terms);
        // Every column written: the new terms in full.
        let mut model = subprocessor::ActiveModel::from(future.clone()).reset_all();
        model.pending_terms = Set(None);
        model.pending_effective_on = Set(None);
        model.updated_at = Set(Utc::now());
        // Conditional on the change still pending, so two sweeps apply it once.
        let result = subprocessor::Entity::update_many()
            .set(model)
            .filter(subprocessor::Column::Id.eq(before.id))
            .filter(subprocessor::Column::PendingEffectiveOn.eq(before.pending_effective_on))
            .exec(&txn)
            .await?;
        if result.rows_affected == 0 {
            continue;
        }
        revise(
            &txn,
            &system,
            SubProcessorId(before.id),
            "change_effective",
            "effective date reached",
            Some(&before),
            &future,
        )
        .await?;
        txn.commit().await?;
        applied += 1;
    }
    Ok(applied)
}

/// Where an entry stands for a tenant, from every notice the tenant has about it (oldest first), as `(status,
/// effective date)`: the entry's own notice (new, replacement or onboarding) decides, unless a change to its terms
/// reached its date while the tenant's objection stood (blocked) or was excluded for it. A change still pending
/// leaves the current terms in force. `None`: the entry was never announced to the tenant.
pub fn in_force(notices: &[&change_notice::Model]) -> Option<(ChangeNoticeStatus, NaiveDate)> {
    let base = notices
        .iter()
        .rev()
        .find(|n| n.kind != ChangeKind::Change)?;
    if base.status != ChangeNoticeStatus::Active {
        return Some((base.status, base.effective_on));
    }
    let refused = notices.iter().rev().find(|n| {
        n.kind == ChangeKind::Change
            && matches!(
                n.status,
                ChangeNoticeStatus::Blocked | ChangeNoticeStatus::Excluded
            )
    });
    Some(match refused {
        Some(change) => (change.status, change.effective_on),
        None => (ChangeNoticeStatus::Active, base.effective_on),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(kind: ChangeKind, status: ChangeNoticeStatus, on: &str) -> change_notice::Model {
        change_notice::Model {
            id: Uuid::now_v7(),
            sub_processor_id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            kind,
            effective_on: on.parse().unwrap(),
            status,
            created_at: Utc::now(),
            activated_at: None,
        }
    }

    #[test]
    fn a_change_in_its_window_leaves_the_entry_in_force() {
        use ChangeKind::*;
        use ChangeNoticeStatus::*;
        let base = notice(New, Active, "2026-01-01");
        let pending = notice(Change, Pending, "2027-02-01");
        let blocked = notice(Change, Blocked, "2027-02-01");
        let excluded = notice(Change, Excluded, "2027-02-01");
        let accepted = notice(Change, Active, "2027-02-01");
        let on = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(in_force(&[]), None);
        assert_eq!(in_force(&[&base]), Some((Active, on("2026-01-01"))));
        assert_eq!(
            in_force(&[&base, &pending]),
            Some((Active, on("2026-01-01")))
        );
        assert_eq!(
            in_force(&[&base, &accepted]),
            Some((Active, on("2026-01-01")))
        );
        assert_eq!(
            in_force(&[&base, &blocked]),
            Some((Blocked, on("2027-02-01")))
        );
        assert_eq!(
            in_force(&[&base, &excluded]),
            Some((Excluded, on("2027-02-01")))
        );
        // The entry's own notice decides first: pending for a tenant told late, whatever its changes.
        let late = notice(New, Pending, "2027-03-01");
        assert_eq!(
            in_force(&[&late, &accepted]),
            Some((Pending, on("2027-03-01")))
        );
        // A change notice alone (never announced itself) is not being in force.
        assert_eq!(in_force(&[&accepted]), None);
    }
}
