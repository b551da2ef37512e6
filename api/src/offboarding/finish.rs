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
    // Terminated with an interim certificate: the final one waits for every propagation to be settled.
    if t.status == TenantStatus::Terminated {
        return finalize(tenancy, scope, now).await;
    }
    if t.status != TenantStatus::Offboarding {
        return Ok(Outcome::Done);
    }
    if let Some(due) = t.offboarding_due_at
        && now < due
    {
        return Ok(Outcome::Later(due));
    }
    // Nothing is deleted on one staff member's word: wait for the client's confirmation or a second approval, and
    // say so once, to the privacy officers and the client's admins: data kept past its grace period on nobody's
    // instruction would otherwise wait unseen.
    if t.offboarding_authorized_by.is_none() {
        awaiting_authorization(tenancy, scope, &t).await?;
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
            // Emptied and being built again (an erasure, a rectification, a restriction started or lifted): waited
            // for, unless it was complete once and that copy's download window has closed. The departing tenant
            // causes most rebuilds, and one that kept causing them would otherwise never be deleted.
            Some(e) if !e.ready && (e.first_ready_at.is_none() || now < e.expires_at) => {
                return Ok(Outcome::Later(now + Duration::minutes(5)));
            }
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
    if terminate(tenancy, scope, &t).await? {
        Ok(Outcome::Done)
    } else {
        Ok(Outcome::Later(now + FINALIZE_EVERY))
    }
}

/// How often a terminated tenant's outstanding propagations are looked at again for its final certificate.
const FINALIZE_EVERY: Duration = Duration::hours(1);

/// The propagations of the offboarding's own erasures, per sub-processor and state, and whether every one is
/// acknowledged or confirmed.
async fn propagation_states(
    scope: &Scope,
) -> Result<(BTreeMap<String, BTreeMap<String, i64>>, bool), AppError> {
    let propagations = scope
        .find::<erasure_propagation::Entity>()
        .filter(erasure_propagation::Column::RequestId.eq(scope.tenant_id().0))
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
    Ok((by_sp, propagations.iter().all(|p| p.state.is_done())))
}

/// Whether no data key of the tenant's subjects is left, read from the subject-key database (and no subject row).
async fn keys_destroyed(scope: &Scope) -> Result<bool, AppError> {
    Ok(scope.subject_keys().count().await? == 0
        && crate::pagination::count(scope.find::<data_subject::Entity>(), scope.db()).await? == 0)
}

/// The head of the tenant's audit chain, as the certificate names it.
async fn chain_head(scope: &Scope) -> Result<serde_json::Value, AppError> {
    let head = scope
        .find::<audit_event::Entity>()
        .order_by_desc(audit_event::Column::Seq)
        .one(scope.db())
        .await?;
    Ok(json!(head.map(|h| json!({ "seq": h.seq, "hash": h.hash }))))
}

/// A terminated tenant's interim certificate becomes final once every propagation is acknowledged or confirmed: the
/// same statement, with the propagations as they now stand, `final: true`, when, and the chain's head now. The interim
/// one is kept beside it. Idempotent; until then, looked at again every hour.
async fn finalize(
    tenancy: &Tenancy,
    scope: &Scope,
    now: DateTime<Utc>,
) -> Result<Outcome, AppError> {
    let tenant = scope.tenant_id();
    let Some(interim) = scope
        .find_control::<offboarding_certificate::Entity>()
        .one(scope.control())
        .await?
    else {
        return Ok(Outcome::Done);
    };
    if interim.is_final != Some(false) {
        return Ok(Outcome::Done);
    }
    let (by_sp, settled) = propagation_states(scope).await?;
    if !settled {
        return Ok(Outcome::Later(now + FINALIZE_EVERY));
    }
    let mut document: serde_json::Value = serde_json::from_str(&interim.document)
        .map_err(|e| AppError::internal(anyhow::anyhow!("interim certificate of {tenant}: {e}")))?;
    document["final"] = json!(true);
    document["finalized_at"] = json!(audit::canonical_time(now));
    document["outstanding"] = json!({});
    document["propagations"] = json!(by_sp);
    document["data_keys_destroyed"] = json!(keys_destroyed(scope).await?);
    document["audit_chain_head"] = chain_head(scope).await?;
    let document = document.to_string();
    let key = tenancy.keyring().certificate_key();
    let signature =
        base64::engine::general_purpose::STANDARD.encode(key.sign(document.as_bytes()).to_bytes());
    // Only this job writes the row (one worker holds it at a time), so the interim one read above is the one replaced.
    let control = scope.control().begin().await?;
    let mut model: offboarding_certificate::ActiveModel = interim.clone().into();
    model.is_final = Set(Some(true));
    model.interim_document = Set(Some(interim.document));
    model.interim_signature = Set(Some(interim.signature));
    model.interim_issued_at = Set(Some(interim.issued_at));
    model.document = Set(document);
    model.signature = Set(signature);
    model.issued_at = Set(now);
    sea_orm::ActiveModelTrait::update(model, &control).await?;
    audit::append_platform(
        &control,
        AuditEntry::system("tenant.certificate_final", "tenant", tenant),
    )
    .await?;
    control.commit().await?;
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

    // Journalled first, so a restored backup of the region can have it applied again (`erasure::journal`).
    let journalled = crate::erasure::journal::record(
        scope,
        crate::erasure::journal::Erased::Subjects,
        &ids.iter().map(|s| s.0).collect::<Vec<_>>(),
        None,
    )
    .await?;
    let now = Utc::now();
    let txn = scope.begin().await?;
    // The batch's subjects before their values, in id order, as a request's erasure takes its subject's row.
    crate::erasure::lock_subjects(&txn, &ids, crate::erasure::Lock::Erase).await?;
    txn.delete_many::<personal_data::Entity>()
        .filter(personal_data::Column::SubjectId.is_in(ids.iter().copied()))
        .exec(&txn)
        .await?;
    // A hold placed since the batch was chosen (read after the first write, so on SQLite this is the writer): roll the
    // batch back; the next run skips held subjects. (The cascade below deletes the values again, finding none.)
    let held_now = crate::retention::held(&txn, txn.find()).await?;
    // A subject erased on request since the batch was read (that erasure held its row; on SQLite it committed before
    // this transaction's first write): its tombstone and propagations exist already. The batch is read again.
    let present = crate::pagination::count(
        txn.find::<data_subject::Entity>()
            .filter(data_subject::Column::Id.is_in(ids.iter().copied())),
        &txn,
    )
    .await?;
    if present != ids.len() as u64
        || held_now.tenant_wide
        || ids.iter().any(|s| held_now.covers(*s))
    {
        drop(txn);
        crate::erasure::journal::forget(scope, journalled).await;
        return Ok(());
    }
    crate::erasure::delete_subjects(scope, &txn, &ids, crate::erasure::TenantExport::Keep).await?;
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
    scope.checkpoint().await;
    Ok(())
}

/// Records the end, signs the certificate and marks the tenant `terminated`. The certificate is final when every
/// propagation is already acknowledged or confirmed, interim otherwise (naming what is outstanding); returns which.
pub(super) async fn terminate(
    tenancy: &Tenancy,
    scope: &Scope,
    t: &tenant::Model,
) -> Result<bool, AppError> {
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
    let (by_sp, settled) = propagation_states(scope).await?;
    // What is still owed: per sub-processor, the propagations neither acknowledged nor confirmed.
    let outstanding: BTreeMap<&String, BTreeMap<&String, &i64>> = by_sp
        .iter()
        .map(|(sp, states)| {
            let open: BTreeMap<&String, &i64> = states
                .iter()
                .filter(|(state, _)| !matches!(state.as_str(), "acknowledged" | "confirmed"))
                .collect();
            (sp, open)
        })
        .filter(|(_, open)| !open.is_empty())
        .collect();
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
    // Every subject was erased with its key; a key left by a subject whose creation failed goes too.
    scope.subject_keys().delete_all().await?;
    scope.checkpoint().await;
    let head = chain_head(scope).await?;
    let keys_destroyed = keys_destroyed(scope).await?;
    let document = json!({
        "type": "steward.offboarding-certificate/v1",
        "final": settled,
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
        "data_keys_destroyed": keys_destroyed,
        "propagations": by_sp,
        "outstanding": outstanding,
        "audit_chain_head": head,
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
        is_final: Set(Some(settled)),
        interim_document: Set(None),
        interim_signature: Set(None),
        interim_issued_at: Set(None),
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
    Ok(settled)
}

/// The staff notice kind of a grace period that ended with the deletion not authorized.
pub const NOTICE_AWAITING_AUTHORIZATION: &str = "offboarding.awaiting_authorization";

/// Tells the privacy officers (a staff notice) and the tenant's admins (a notice), once per offboarding, that its grace
/// period has ended and the deletion waits for an authorization.
async fn awaiting_authorization(
    tenancy: &Tenancy,
    scope: &Scope,
    t: &tenant::Model,
) -> Result<(), AppError> {
    let tenant = scope.tenant_id();
    let due = t
        .offboarding_due_at
        .map(|d| d.date_naive().to_string())
        .unwrap_or_default();
    let filed = crate::notices::file_staff_once(
        tenancy.system().control(),
        &format!("{NOTICE_AWAITING_AUTHORIZATION}:{tenant}:{due}"),
        NOTICE_AWAITING_AUTHORIZATION,
        tenant,
        &tenant.to_string(),
        &format!("{}: deletion awaits authorization", t.name),
        &format!(
            "The grace period of tenant {} ({tenant}) ended on {due}, and its data is still held: the deletion waits \
             for its client_admin's confirmation or a second platform admin's approval (authorizeOffboarding), or \
             the offboarding is cancelled (cancelOffboarding).",
            t.name
        ),
    )
    .await?;
    if filed {
        let txn = scope.begin().await?;
        crate::notices::notify(
            &txn,
            tenant,
            NOTICE_AWAITING_AUTHORIZATION,
            "The deletion of your data awaits your confirmation",
            &format!(
                "The grace period of your contract's end passed on {due}; your data is still held and will be \
                 deleted once one of your admins confirms it (authorizeOffboarding). Until then you can still cancel \
                 the offboarding (cancelOffboarding)."
            ),
        )
        .await?;
        txn.commit(AuditEntry::system(
            NOTICE_AWAITING_AUTHORIZATION,
            "tenant",
            tenant.0,
        ))
        .await?;
    }
    Ok(())
}
