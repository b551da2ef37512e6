//! The end of the grace period: the subjects erased in batches (each told to its recipients), then the tenant terminated
//! with its certificate.

use super::*;
use crate::ids::{SubjectId, TenantId};
use steward_entities::Counts;

/// When the grace period has ended: erase every subject in batches, then sign the certificate and terminate.
pub(crate) async fn finish(
    tenancy: &Tenancy,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Outcome, AppError> {
    let tenant = scope.tenant_id();
    let Some(t) = details(tenancy, tenant).await? else {
        return Ok(Outcome::Done);
    };
    if t.status != TenantStatus::Offboarding {
        return Ok(Outcome::Done);
    }
    if let Some(due) = t.offboarding_due_at
        && now < due
    {
        return Ok(Outcome::Later(due));
    }
    // Nothing is deleted on one staff member's word: wait for the client's confirmation or a second approval.
    if t.offboarding_authorized_by.is_none() {
        return Ok(Outcome::Later(now + Duration::hours(1)));
    }
    // The client chose to get its data back first: nothing is deleted before the export exists, and then not before
    // it was downloaded or its download window closed.
    if t.offboarding_choice == Some(Choice::ReturnThenDelete) {
        match scope
            .find::<tenant_export::Entity>()
            .one(scope.db())
            .await?
        {
            None => return Ok(Outcome::Later(now + Duration::minutes(5))),
            Some(e) if !e.ready => return Ok(Outcome::Later(now + Duration::minutes(5))),
            Some(e) if e.downloads == 0 && now < e.expires_at => {
                return Ok(Outcome::Later(e.expires_at.min(now + Duration::hours(1))));
            }
            Some(_) => {}
        }
    }
    let held = crate::retention::held(scope.db(), scope.find()).await?;
    if held.tenant_wide {
        return Ok(Outcome::Later(now + Duration::hours(1)));
    }
    // From here on the offboarding can no longer be cancelled. Conditional: a cancel that won the race stands.
    if t.offboarding_erasure_started_at.is_none() {
        let started = tenant::Entity::update_many()
            .col_expr(
                tenant::Column::OffboardingErasureStartedAt,
                Some(Utc::now()).into(),
            )
            .filter(tenant::Column::Id.eq(tenant.0))
            .filter(tenant::Column::Status.eq(TenantStatus::Offboarding))
            .filter(tenant::Column::OffboardingAuthorizedBy.is_not_null())
            .filter(tenant::Column::OffboardingErasureStartedAt.is_null())
            .exec(scope.control())
            .await?;
        if started.rows_affected != 1 {
            return Ok(Outcome::Done);
        }
    }
    for _ in 0..BATCHES_PER_RUN {
        let mut query = scope
            .find::<data_subject::Entity>()
            .order_by_asc(data_subject::Column::Id)
            .limit(SUBJECTS_PER_BATCH);
        if !held.subjects.is_empty() {
            query = query.filter(data_subject::Column::Id.is_not_in(held.subjects.iter().copied()));
        }
        let batch = query.all(scope.db()).await?;
        if batch.is_empty() {
            break;
        }
        erase_batch(tenancy, scope, &batch, tenant).await?;
    }
    let left = crate::pagination::count(scope.find::<data_subject::Entity>(), scope.db()).await?;
    if left > 0 {
        // Held subjects wait for their hold; others for the next run.
        let wait = if left as usize <= held.subjects.len() {
            Duration::hours(1)
        } else {
            Duration::zero()
        };
        return Ok(Outcome::Later(now + wait));
    }
    terminate(tenancy, scope, &t).await?;
    Ok(Outcome::Done)
}

pub(super) async fn erase_batch(
    tenancy: &Tenancy,
    scope: &Scope,
    batch: &[data_subject::Model],
    tenant: TenantId,
) -> Result<(), AppError> {
    let ids: Vec<SubjectId> = batch.iter().map(|s| SubjectId(s.id)).collect();
    let records = scope
        .find::<personal_data::Entity>()
        .filter(personal_data::Column::SubjectId.is_in(ids.iter().copied()))
        .all(scope.db())
        .await?;
    let mut counts: BTreeMap<SubjectId, BTreeMap<String, i64>> = BTreeMap::new();
    for r in &records {
        *counts
            .entry(SubjectId(r.subject_id))
            .or_default()
            .entry(r.category.clone())
            .or_default() += 1;
    }
    // Recipients per subject (read before the transaction).
    let erased: BTreeMap<SubjectId, BTreeSet<String>> = ids
        .iter()
        .map(|subject| {
            let categories = counts
                .get(subject)
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            (*subject, categories)
        })
        .collect();
    let recipients =
        crate::erasure::recipients(scope, &erased, crate::erasure::Extent::Subject).await?;
    let registry = crate::erasure::registry_of(tenancy, &recipients).await?;

    let now = Utc::now();
    let txn = scope.begin().await?;
    txn.delete_many::<personal_data::Entity>()
        .filter(personal_data::Column::SubjectId.is_in(ids.iter().copied()))
        .exec(&txn)
        .await?;
    // A hold placed since the batch was chosen (read after the first write, so on SQLite this is the writer): roll the
    // batch back; the next run skips held subjects. (The cascade below deletes the values again, finding none.)
    let held_now = crate::retention::held(&txn, txn.find()).await?;
    if held_now.tenant_wide || ids.iter().any(|s| held_now.covers(*s)) {
        return Ok(());
    }
    crate::erasure::delete_subjects(&txn, &ids, crate::erasure::TenantExport::Keep).await?;
    let mut total = BTreeMap::<String, i64>::new();
    for subject in &ids {
        let c = counts.get(subject).cloned().unwrap_or_default();
        for (k, n) in &c {
            *total.entry(k.clone()).or_default() += n;
        }
        txn.insert(erasure_tombstone::ActiveModel {
            subject_id: Set(subject.0),
            // Offboarding erasures name the tenant as their "request".
            request_id: Set(tenant.0),
            erased_at: Set(now),
            values_erased: Set(c.values().sum::<i64>() as i32),
            counts: Set(Counts(c)),
            origin: Set(OFFBOARDING_ORIGIN),
            ..Default::default()
        })
        .await?;
    }
    for ((subject, sp), categories) in &recipients {
        crate::erasure::propagate(
            &txn,
            tenant.0,
            *subject,
            (*sp, registry.get(sp)),
            categories,
        )
        .await?;
    }
    txn.commit(
        AuditEntry::system("tenant.subjects_erased", "tenant", tenant).with_detail(json!({
            "subjects": ids.len(),
            "values_erased": records.len(),
            "counts": total,
            "propagations": recipients.len(),
        })),
    )
    .await?;
    Ok(())
}

pub(super) async fn terminate(
    tenancy: &Tenancy,
    scope: &Scope,
    t: &tenant::Model,
) -> Result<(), AppError> {
    let tenant = scope.tenant_id();
    // Only the offboarding's own erasures: subjects erased earlier on request have their own certificates.
    let tombstones = scope
        .find::<erasure_tombstone::Entity>()
        .filter(erasure_tombstone::Column::Origin.eq(OFFBOARDING_ORIGIN))
        .all(scope.db())
        .await?;
    let mut counts = BTreeMap::<String, i64>::new();
    for tomb in &tombstones {
        for (k, n) in &tomb.counts.0 {
            *counts.entry(k.clone()).or_default() += n;
        }
    }
    let propagations = scope
        .find::<erasure_propagation::Entity>()
        .filter(erasure_propagation::Column::RequestId.eq(tenant.0))
        .all(scope.db())
        .await?;
    let mut by_sp: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for p in &propagations {
        *by_sp
            .entry(p.sub_processor_name.clone())
            .or_default()
            .entry(p.state.as_str().to_owned())
            .or_default() += 1;
    }
    let export = scope
        .find::<tenant_export::Entity>()
        .one(scope.db())
        .await?;
    let now = Utc::now();
    let txn = scope.begin().await?;
    crate::offboarding::export::delete(&txn).await?;
    // Not completed here: the job is done only once the control database says `terminated`. A retry after a failed
    // control commit finds no subjects left and terminates again, and finds its event already in the chain.
    let recorded = scope
        .find::<audit_event::Entity>()
        .filter(audit_event::Column::Action.eq("tenant.terminated"))
        .one(&txn)
        .await?
        .is_some();
    if recorded {
        txn.commit_unaudited(crate::tenancy::Unaudited::NothingChanged)
            .await?;
    } else {
        txn.commit(
            AuditEntry::system("tenant.terminated", "tenant", tenant).with_detail(json!({
                "subjects_erased": tombstones.len(),
                "values_erased": counts.values().sum::<i64>(),
            })),
        )
        .await?;
    }
    crate::erasure::checkpoint(scope.db()).await?;
    let head = scope
        .find::<audit_event::Entity>()
        .order_by_desc(audit_event::Column::Seq)
        .one(scope.db())
        .await?;
    let document = json!({
        "type": "steward.offboarding-certificate/v1",
        "tenant_id": tenant.0,
        "tenant": t.name,
        "choice": t.offboarding_choice,
        "started_at": t.offboarding_started_at.map(audit::canonical_time),
        "grace_ended_at": t.offboarding_due_at.map(audit::canonical_time),
        "completed_at": audit::canonical_time(now),
        "export": export.map(|e| json!({ "created_at": audit::canonical_time(e.created_at), "downloads": e.downloads, "subjects": e.subjects })),
        "subjects_erased": tombstones.len(),
        "values_erased": counts.values().sum::<i64>(),
        "counts_by_category": counts,
        "data_keys_destroyed": true,
        "propagations": by_sp,
        "audit_chain_head": head.map(|h| json!({ "seq": h.seq, "hash": h.hash })),
    })
    .to_string();
    let key = tenancy.keyring().certificate_key();
    let signature =
        base64::engine::general_purpose::STANDARD.encode(key.sign(document.as_bytes()).to_bytes());
    let control = scope.control().begin().await?;
    offboarding_certificate::Entity::insert(offboarding_certificate::ActiveModel {
        tenant_id: Set(tenant.0),
        document: Set(document),
        signature: Set(signature),
        issued_at: Set(now),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(offboarding_certificate::Column::TenantId)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&control)
    .await?;
    tenant::Entity::update_many()
        .col_expr(tenant::Column::Status, TenantStatus::Terminated.into())
        .col_expr(tenant::Column::TerminatedAt, Some(now).into())
        .col_expr(tenant::Column::UpdatedAt, now.into())
        .filter(tenant::Column::Id.eq(tenant.0))
        .exec(&control)
        .await?;
    audit::append_platform(
        &control,
        AuditEntry::system("tenant.terminated", "tenant", tenant)
            .with_detail(json!({ "subjects_erased": tombstones.len() })),
    )
    .await?;
    crate::tenancy::assignments::bump_version(&control).await?;
    control.commit().await?;
    tenancy.forget_tenant(tenant);
    Ok(())
}
