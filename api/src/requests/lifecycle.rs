//! The transitions, each taking the version the caller saw: `RECEIVED → IN_PROGRESS → COMPLETED | REJECTED`, with
//! `PAUSED` and one extension; completing applies what the request's kind asks (an export, a rectification, the end
//! of an erasure).

use super::*;
use crate::ids::{ExportId, RequestId, SubjectId};

/// The notice kind a client's admins are told of a paused request with.
pub const NOTICE_PAUSED: &str = "request.paused";
/// The notice kind a client's admins are told of an extended deadline with.
pub const NOTICE_EXTENDED: &str = "request.extended";
/// The notice kind a client's admins are told of a rejected request with.
pub const NOTICE_REJECTED: &str = "request.rejected";
/// The notice kind a client's admins are told of a completed request with.
pub const NOTICE_COMPLETED: &str = "request.completed";

/// Loads a request for a transition: the caller's version must be the current one.
pub(super) async fn for_change(
    scope: &Scope,
    id: RequestId,
    version: i32,
    allowed: &[RequestState],
    verb: &str,
) -> Result<(dsr_request::Model, RequestState), AppError> {
    let request = get(scope, id).await?;
    if request.version != version {
        return Err(stale(&request));
    }
    let state = request.state;
    if !allowed.contains(&state) {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::InvalidTransition,
            message: format!(
                "a {} request cannot be {verb}",
                state.as_str().replace('_', " ")
            ),
        });
    }
    Ok((request, state))
}

pub(super) fn stale(request: &dsr_request::Model) -> AppError {
    AppError::Conflict(format!(
        "the request changed since you read it (now version {}); read it again and retry",
        request.version
    ))
}

/// Writes a changed request if nobody changed it meanwhile.
pub(super) async fn save(
    txn: &Work,
    before: &dsr_request::Model,
    mut model: dsr_request::ActiveModel,
) -> Result<dsr_request::Model, AppError> {
    // The subject's row before the request's: an erasure takes it first too (`erasure::lock_subjects`).
    crate::erasure::lock_subjects(
        txn,
        &[SubjectId(before.subject_id)],
        crate::erasure::Lock::Change,
    )
    .await?;
    model.version = Set(before.version + 1);
    model.updated_at = Set(Utc::now());
    let updated = txn
        .update_many::<dsr_request::Entity>()
        .set(model)
        .filter(dsr_request::Column::Id.eq(before.id))
        .filter(dsr_request::Column::Version.eq(before.version))
        .exec(txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(stale(before));
    }
    txn.find::<dsr_request::Entity>()
        .filter(dsr_request::Column::Id.eq(before.id))
        .one(txn)
        .await?
        .ok_or_else(|| stale(before))
}

pub(super) fn reason(field: &str, raw: &str) -> Result<String, AppError> {
    validate::text(field, raw, MAX_REASON_CHARS)
}

/// `RECEIVED → IN_PROGRESS`. An erasure's job is queued; a restriction takes effect now.
pub async fn start(
    scope: &Scope,
    id: RequestId,
    version: i32,
) -> Result<dsr_request::Model, AppError> {
    let (request, _) = for_change(scope, id, version, &[RequestState::Received], "started").await?;
    let kind = request.kind;
    if kind == RequestKind::Erasure
        && crate::retention::held(scope.db(), scope.find())
            .await?
            .covers(SubjectId(request.subject_id))
    {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::LegalHold,
            message: "a legal hold covers this subject: its data cannot be erased until the hold is lifted".into(),
        });
    }
    if kind == RequestKind::Restriction {
        subjects::get(scope, SubjectId(request.subject_id)).await?;
    }
    let txn = scope.begin().await?;
    let mut model: dsr_request::ActiveModel = request.clone().into();
    model.state = Set(RequestState::InProgress);
    model.handled_by = Set(Some(scope.principal().label()));
    let updated = save(&txn, &request, model).await?;
    match kind {
        RequestKind::Erasure => {
            crate::erasure::propagation::enqueue_erasure(&txn, scope.tenant_id(), &updated).await?
        }
        RequestKind::Restriction => {
            // Read as it is now (`save` holds its row): a restriction already in force stays the one it started
            // with, and a subject erased meanwhile has nothing left to restrict.
            let restricted = txn
                .update_many::<data_subject::Entity>()
                .col_expr(data_subject::Column::RestrictedAt, Some(Utc::now()).into())
                .col_expr(
                    data_subject::Column::RestrictedByRequest,
                    Some(updated.id).into(),
                )
                .filter(data_subject::Column::Id.eq(updated.subject_id))
                .filter(data_subject::Column::RestrictedAt.is_null())
                .exec(&txn)
                .await?;
            if restricted.rows_affected == 1 {
                // A departing tenant's export marks restricted subjects: built again with this one marked.
                crate::erasure::invalidate(&txn).await?;
            }
        }
        // Pending the controller's verification of its grounds (Art. 18(1)(d)), the values held for the purpose
        // objected to are restricted: not read, changed or transferred. Rejecting the objection lifts it; upholding
        // it keeps it (Art. 21(1): no longer processed for that purpose).
        RequestKind::Objection => {
            if let Some(purpose) = &updated.objected_purpose {
                txn.update_many::<personal_data::Entity>()
                    .col_expr(
                        personal_data::Column::RestrictedByRequest,
                        Some(updated.id).into(),
                    )
                    .filter(personal_data::Column::SubjectId.eq(updated.subject_id))
                    .filter(personal_data::Column::Purpose.eq(purpose.as_str()))
                    .filter(personal_data::Column::RestrictedByRequest.is_null())
                    .exec(&txn)
                    .await?;
            }
        }
        _ => {}
    }
    txn.commit(
        AuditEntry::by(scope.principal(), "request.started", "dsr_request", id)
            .with_detail(json!({ "kind": kind.as_str(), "subject": updated.subject_id })),
    )
    .await?;
    Ok(updated)
}

/// `IN_PROGRESS → PAUSED`: waiting for the controller; the clock stops.
pub async fn pause(
    scope: &Scope,
    id: RequestId,
    version: i32,
    why: &str,
) -> Result<dsr_request::Model, AppError> {
    let why = reason("reason", why)?;
    let (request, _) =
        for_change(scope, id, version, &[RequestState::InProgress], "paused").await?;
    // Sealed before the transaction: on SQLite it holds the database's one writer connection.
    let sealed_reason = seal_reason(scope, &request, Reason::Pause, &why).await?;
    let now = Utc::now();
    let clock = scope.tenant().clock()?;
    // Paused after its due date: the clock stopped too late, and the request stays overdue while it waits.
    let late = now > due_at(&clock, request.due_on);
    let txn = scope.begin().await?;
    let mut model: dsr_request::ActiveModel = request.clone().into();
    model.state = Set(RequestState::Paused);
    model.paused_at = Set(Some(now));
    model.pause_reason_sealed = Set(Some(sealed_reason));
    model.paused_while_overdue = Set(late);
    let updated = save(&txn, &request, model).await?;
    // The controller is told: its own deadline towards the person does not stop with ours.
    crate::notices::notify(
        &txn,
        scope.tenant_id(),
        NOTICE_PAUSED,
        &format!(
            "Paused: {} request {} (due {})",
            updated.kind.as_str(),
            updated.id,
            updated.due_on
        ),
        &format!(
            "{} paused request {} on {}{}: its clock is stopped until it resumes. The reason is on the request \
             (`pauseReason`).",
            scope.principal().label(),
            updated.id,
            clock.day(now),
            if late {
                ", after its due date: it stays overdue"
            } else {
                ""
            }
        ),
    )
    .await?;
    // The deadline job looks at a paused request again by the time its first pause reminder is due (otherwise it
    // would sleep until the reminder date of the deadline as it stood).
    let first_reminder = now + Duration::days(super::handlers::PAUSE_REMINDER_DAYS);
    job::Entity::update_many()
        .col_expr(job::Column::RunAt, first_reminder.into())
        .filter(job::Column::DedupeKey.eq(super::deadline_job_key(&updated)))
        .filter(job::Column::State.eq(steward_entities::job::JobState::Queued))
        .filter(job::Column::RunAt.gt(first_reminder))
        .exec(&txn)
        .await?;
    txn.commit(
        AuditEntry::by(scope.principal(), "request.paused", "dsr_request", id)
            .with_detail(json!({ "overdue": late })),
    )
    .await?;
    Ok(updated)
}

/// `PAUSED → IN_PROGRESS`: the days left when the clock stopped count again from today.
pub async fn resume(
    scope: &Scope,
    id: RequestId,
    version: i32,
) -> Result<dsr_request::Model, AppError> {
    let (request, _) = for_change(scope, id, version, &[RequestState::Paused], "resumed").await?;
    let now = Utc::now();
    let clock = scope.tenant().clock()?;
    let paused_on = clock.day(request.paused_at.unwrap_or(now));
    let today = clock.day(now);
    let basis = request.clock_basis;
    let due_on = clock
        .calendar
        .resume(basis, request.due_on, paused_on, today)?;
    let txn = scope.begin().await?;
    let mut model: dsr_request::ActiveModel = request.clone().into();
    model.state = Set(RequestState::InProgress);
    model.paused_at = Set(None);
    model.paused_while_overdue = Set(false);
    model.paused_days = Set(request.paused_days + (today - paused_on).num_days() as i32);
    model.due_on = Set(due_on);
    if due_on != request.due_on {
        // A new due date: overdue again later is overdue again, and told again.
        model.overdue_notified = Set(false);
    }
    let updated = save(&txn, &request, model).await?;
    schedule_deadline(&txn, scope.tenant_id(), &updated).await?;
    if updated.kind == RequestKind::Erasure {
        // Its job, had it come round while the request was paused, ended without erasing (or, after a failure that
        // took the key, without finishing): queued again, it erases, or finds its tombstone and ends.
        crate::erasure::requeue_erasure(
            &txn,
            scope.tenant_id(),
            &updated,
            &format!("resumed:{}", updated.version),
        )
        .await?;
    }
    txn.commit(
        AuditEntry::by(scope.principal(), "request.resumed", "dsr_request", id)
            .with_detail(json!({ "due_on": due_on })),
    )
    .await?;
    Ok(updated)
}

/// Extends the deadline once, by `days` of the request's own basis, with a reason.
pub async fn extend(
    scope: &Scope,
    id: RequestId,
    version: i32,
    days: i32,
    why: &str,
) -> Result<dsr_request::Model, AppError> {
    let why = reason("reason", why)?;
    if !(1..=MAX_EXTENSION_DAYS as i32).contains(&days) {
        return Err(AppError::BadInput(format!(
            "`days` must be between 1 and {MAX_EXTENSION_DAYS}"
        )));
    }
    let (request, _) = for_change(
        scope,
        id,
        version,
        &[
            RequestState::Received,
            RequestState::InProgress,
            RequestState::Paused,
        ],
        "extended",
    )
    .await?;
    if request.extended_at.is_some() {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::AlreadyExtended,
            message: "a request's deadline can be extended only once".into(),
        });
    }
    let clock = scope.tenant().clock()?;
    if request.due_on < clock.day(Utc::now()) {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::DeadlinePassed,
            message: format!(
                "the deadline ({}) has passed: an extension must be decided, and the person told, within the first \
                 period (Art. 12(3)); the request stays overdue until it is completed or rejected",
                request.due_on
            ),
        });
    }
    let basis = request.clock_basis;
    let due_on = clock.calendar.add(basis, request.due_on, days as u32)?;
    let latest = latest_extended_due(&request);
    if due_on > latest {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::ExtensionTooLong,
            message: format!(
                "extended by {days} {} days the deadline would be {due_on}, after {latest}: at most three months \
                 after the request was received (plus {} days its clock was stopped), and not after the \
                 controller's latest date, three months after it received the request on {}, Art. 12(3)",
                basis.as_str(),
                request.paused_days,
                super::controller_deadline(&request).received_on
            ),
        });
    }
    // Sealed before the transaction: on SQLite it holds the database's one writer connection.
    let sealed_reason = seal_reason(scope, &request, Reason::Extension, &why).await?;
    let txn = scope.begin().await?;
    let mut model: dsr_request::ActiveModel = request.clone().into();
    model.extended_at = Set(Some(Utc::now()));
    model.extension_reason_sealed = Set(Some(sealed_reason));
    model.due_on = Set(due_on);
    // A new due date: overdue again later is overdue again, and told again.
    model.overdue_notified = Set(false);
    let updated = save(&txn, &request, model).await?;
    schedule_deadline(&txn, scope.tenant_id(), &updated).await?;
    // The controller is told, with the new date: it informs the person of the extension and its reasons within the
    // first month (Art. 12(3)).
    crate::notices::notify(
        &txn,
        scope.tenant_id(),
        NOTICE_EXTENDED,
        &format!(
            "Extended: {} request {} is now due on {due_on}",
            updated.kind.as_str(),
            updated.id
        ),
        &format!(
            "{} extended request {} by {days} {} days, from {} to {due_on}. The reason is on the request \
             (`extensionReason`); the person must be told of the extension and its reasons.",
            scope.principal().label(),
            updated.id,
            basis.as_str(),
            request.due_on
        ),
    )
    .await?;
    txn.commit(
        AuditEntry::by(scope.principal(), "request.extended", "dsr_request", id).with_detail(
            json!({ "from": request.due_on, "to": due_on, "days": days, "basis": basis.as_str() }),
        ),
    )
    .await?;
    Ok(updated)
}

/// The latest a deadline may be extended to: three months after receipt (one month plus two further months,
/// Art. 12(3)), moved by the days the request's clock was stopped, and never past the controller's own latest date,
/// three months after it received the request (its clock does not stop with ours): an answer after that would come
/// too late for the controller to give the person.
pub fn latest_extended_due(request: &dsr_request::Model) -> chrono::NaiveDate {
    let three_months = |day: chrono::NaiveDate| {
        day.checked_add_months(chrono::Months::new(3))
            .unwrap_or(day)
    };
    let ours = three_months(request.received_at.date_naive())
        + chrono::Duration::days(request.paused_days.max(0).into());
    match request.controller_received_on {
        Some(on) => ours.min(three_months(on)),
        None => ours,
    }
}

/// Rejects a request that is not final, with a reason. An erasure already carried out cannot be rejected.
pub async fn reject(
    scope: &Scope,
    id: RequestId,
    version: i32,
    why: &str,
) -> Result<dsr_request::Model, AppError> {
    let why = reason("reason", why)?;
    let (request, _) = for_change(
        scope,
        id,
        version,
        &[
            RequestState::Received,
            RequestState::InProgress,
            RequestState::Paused,
        ],
        "rejected",
    )
    .await?;
    if tombstone_of(scope, &request).await?.is_some() {
        return Err(erasure_carried_out());
    }
    refuse_rejecting_a_begun_erasure(scope, &request).await?;
    // Sealed before the transaction: on SQLite it holds the database's one writer connection.
    let sealed_reason = seal_reason(scope, &request, Reason::Rejection, &why).await?;
    let txn = scope.begin().await?;
    let mut model: dsr_request::ActiveModel = request.clone().into();
    model.state = Set(RequestState::Rejected);
    model.rejection_reason_sealed = Set(Some(sealed_reason));
    model.completed_at = Set(Some(Utc::now()));
    let updated = save(&txn, &request, model).await?;
    // Again under the subject's row (`save` holds it): an erasure that was running when the checks above read has
    // committed, or failed after deleting the key, by now.
    if tombstone_in(&txn, txn.find(), &request).await?.is_some() {
        return Err(erasure_carried_out());
    }
    refuse_rejecting_a_begun_erasure(scope, &request).await?;
    if lift_restriction_of(&txn, scope, &request).await? {
        // A departing tenant's export marks restricted subjects: built again without this one's mark.
        crate::erasure::invalidate(&txn).await?;
    }
    // The controller is told: it owes the person the refusal, its reasons and the right to complain within a month
    // (Art. 12(4)), whoever refused.
    let day = scope.tenant().clock()?.day(Utc::now());
    crate::notices::notify(
        &txn,
        scope.tenant_id(),
        NOTICE_REJECTED,
        &format!(
            "Rejected: {} request {}",
            updated.kind.as_str(),
            updated.id
        ),
        &format!(
            "{} rejected request {} on {day}. The reason is on the request (`rejectionReason`); the person must be \
             told of the refusal, its reasons and their right to complain to a supervisory authority.",
            scope.principal().label(),
            updated.id,
        ),
    )
    .await?;
    txn.commit(AuditEntry::by(
        scope.principal(),
        "request.rejected",
        "dsr_request",
        id,
    ))
    .await?;
    Ok(updated)
}

fn erasure_carried_out() -> AppError {
    AppError::Refused {
        reason: crate::error::RefusalReason::ErasureCarriedOut,
        message: "the subject's data is already erased; complete the request instead".into(),
    }
}

/// An erasure that deleted the key and then failed (it deletes the key last) is finished by its job's retry (or, when
/// paused meanwhile, by the one its resumption queues). Rejected, nothing would finish it, and the subject would keep
/// rows no key opens.
async fn refuse_rejecting_a_begun_erasure(
    scope: &Scope,
    request: &dsr_request::Model,
) -> Result<(), AppError> {
    if request.kind == RequestKind::Erasure
        && matches!(
            request.state,
            RequestState::InProgress | RequestState::Paused
        )
        && scope
            .subject_keys()
            .get(request.subject_id)
            .await?
            .is_none()
    {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::ErasureCarriedOut,
            message: "the subject's data key is already destroyed: the erasure is being carried out and cannot be \
                      rejected; complete the request once it is done"
                .into(),
        });
    }
    Ok(())
}

/// A rejected restriction request ends the restriction it started; whether the subject was restricted by it.
pub(super) async fn lift_restriction_of<C: ConnectionTrait>(
    txn: &C,
    scope: &Scope,
    request: &dsr_request::Model,
) -> Result<bool, DbErr> {
    let lifted = scope
        .update_many::<data_subject::Entity>()
        .col_expr(
            data_subject::Column::RestrictedAt,
            Option::<DateTime<Utc>>::None.into(),
        )
        .col_expr(
            data_subject::Column::RestrictedByRequest,
            Option::<Uuid>::None.into(),
        )
        .filter(data_subject::Column::Id.eq(request.subject_id))
        .filter(data_subject::Column::RestrictedByRequest.eq(request.id))
        .exec(txn)
        .await?;
    // A rejected objection (the controller's grounds override, Art. 21(1)): its purpose may be processed again.
    scope
        .update_many::<personal_data::Entity>()
        .col_expr(
            personal_data::Column::RestrictedByRequest,
            Option::<Uuid>::None.into(),
        )
        .filter(personal_data::Column::SubjectId.eq(request.subject_id))
        .filter(personal_data::Column::RestrictedByRequest.eq(request.id))
        .exec(txn)
        .await?;
    Ok(lifted.rows_affected > 0)
}

pub(super) async fn tombstone_of(
    scope: &Scope,
    request: &dsr_request::Model,
) -> Result<Option<erasure_tombstone::Model>, AppError> {
    tombstone_in(scope.db(), scope.find(), request).await
}

/// [`tombstone_of`], read through `db` (a transaction of the scope's, which `tombstones` comes from).
async fn tombstone_in<C: ConnectionTrait>(
    db: &C,
    tombstones: sea_orm::Select<erasure_tombstone::Entity>,
    request: &dsr_request::Model,
) -> Result<Option<erasure_tombstone::Model>, AppError> {
    Ok(tombstones
        .filter(erasure_tombstone::Column::SubjectId.eq(request.subject_id))
        .one(db)
        .await?)
}

/// `IN_PROGRESS → COMPLETED`, doing what the request's kind requires.
pub async fn complete(
    tenancy: &Tenancy,
    scope: &Scope,
    id: RequestId,
    version: i32,
) -> Result<dsr_request::Model, AppError> {
    let (request, _) =
        for_change(scope, id, version, &[RequestState::InProgress], "completed").await?;
    let kind = request.kind;
    let now = Utc::now();
    let mut detail = json!({ "kind": kind.as_str(), "subject": request.subject_id });
    // Work that reads before the transaction (SQLite has one writer connection: no writes beside an open transaction).
    let mut export = None;
    let mut rectified = Vec::new();
    match kind {
        RequestKind::Erasure => {
            if tombstone_of(scope, &request).await?.is_none() {
                return Err(AppError::Refused {
                    reason: crate::error::RefusalReason::ErasurePending,
                    message: "the erasure has not been carried out yet; its job is queued".into(),
                });
            }
            let open = crate::erasure::propagation::propagations(scope, RequestId(request.id))
                .await?
                .into_iter()
                .filter(|p| !p.state.is_done())
                .count();
            if open > 0 {
                return Err(AppError::Refused {
                    reason: crate::error::RefusalReason::PropagationOpen,
                    message: format!(
                        "{open} sub-processor(s) have not acknowledged or been confirmed yet"
                    ),
                });
            }
        }
        RequestKind::Access | RequestKind::Portability => {
            let subject = subjects::get(scope, SubjectId(request.subject_id))
                .await
                .map_err(|_| AppError::Refused {
                    reason: crate::error::RefusalReason::SubjectErased,
                    message: "the subject no longer exists; there is nothing to export".into(),
                })?;
            let key = subjects::subject_key(scope, &subject).await?;
            let document = build_export(tenancy, scope, &subject, &key).await?;
            let sealed = key
                .seal(EXPORT_CONTEXT, &document.to_string())
                .map_err(AppError::internal)?;
            export = Some(subject_export::ActiveModel {
                tenant_id: Set(scope.tenant_id().0),
                id: Set(Uuid::now_v7()),
                request_id: Set(request.id),
                subject_id: Set(subject.id),
                sealed: Set(sealed),
                downloads: Set(0),
                created_at: Set(now),
                expires_at: Set(now + Duration::days(EXPORT_TTL_DAYS)),
            });
        }
        RequestKind::Rectification => {
            rectified = prepare_rectification(scope, &request).await?;
        }
        RequestKind::Restriction | RequestKind::Objection => {}
    }
    let txn = scope.begin().await?;
    // Before the rectified values are written (`save` below takes it again, already held).
    crate::erasure::lock_subjects(
        &txn,
        &[SubjectId(request.subject_id)],
        crate::erasure::Lock::Change,
    )
    .await?;
    let mut model: dsr_request::ActiveModel = request.clone().into();
    model.state = Set(RequestState::Completed);
    model.completed_at = Set(Some(now));
    if let Some((sealed_log, records)) = rectified.pop().map(|r| (r.log, r.records)) {
        for record in &records {
            record.clone().update(&txn).await?;
        }
        // A departing tenant's export holds the inaccurate values: built again with the corrected ones.
        crate::erasure::invalidate(&txn).await?;
        model.payload_sealed = Set(Some(sealed_log));
        detail["records"] = json!(
            records
                .iter()
                .map(|r| r.id.clone().unwrap())
                .collect::<Vec<_>>()
        );
    }
    let updated = save(&txn, &request, model).await?;
    let mut downloadable_until = None;
    if let Some(export) = export {
        let export = export.insert(&txn).await?;
        jobs::enqueue(
            &txn,
            NewJob::new(Job::ExpireExport {
                export: ExportId(export.id),
            })
            .for_tenant(scope.tenant_id())
            .dedupe(export.id)
            .at(export.expires_at),
        )
        .await?;
        detail["export"] = json!(export.id);
        detail["expires_at"] = json!(export.expires_at);
        downloadable_until = Some(export.expires_at);
    }
    // The controller is told: it answers the person, and an access export is deleted when its week is over.
    let clock = scope.tenant().clock()?;
    crate::notices::notify(
        &txn,
        scope.tenant_id(),
        NOTICE_COMPLETED,
        &format!(
            "Completed: {} request {}",
            updated.kind.as_str(),
            updated.id
        ),
        &format!(
            "{} completed request {} on {}.{}",
            scope.principal().label(),
            updated.id,
            clock.day(now),
            match downloadable_until {
                Some(until) => format!(
                    " Its export can be downloaded until {} (`export` on the request); it is deleted then.",
                    clock.day(until)
                ),
                None => String::new(),
            }
        ),
    )
    .await?;
    txn.commit(
        AuditEntry::by(scope.principal(), "request.completed", "dsr_request", id)
            .with_detail(detail),
    )
    .await?;
    Ok(updated)
}

pub(super) struct Rectification {
    log: Vec<u8>,
    records: Vec<personal_data::ActiveModel>,
}

/// Re-seals the corrected values and keeps, sealed with the subject's key, what each value was before.
pub(super) async fn prepare_rectification(
    scope: &Scope,
    request: &dsr_request::Model,
) -> Result<Vec<Rectification>, AppError> {
    let subject = subjects::get(scope, SubjectId(request.subject_id)).await?;
    let key = subjects::subject_key(scope, &subject).await?;
    let sealed = request
        .payload_sealed
        .as_ref()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("rectification without payload")))?;
    let payload: Vec<Value> = serde_json::from_str(
        &key.open(PAYLOAD_CONTEXT, sealed)
            .map_err(AppError::internal)?,
    )
    .map_err(AppError::internal)?;
    let mut log = Vec::new();
    let mut records = Vec::new();
    for entry in payload {
        let id: Uuid =
            serde_json::from_value(entry["record"].clone()).map_err(AppError::internal)?;
        let after = entry["after"].as_str().unwrap_or_default().to_owned();
        let record = scope
            .find::<personal_data::Entity>()
            .filter(personal_data::Column::Id.eq(id))
            .one(scope.db())
            .await?
            .ok_or_else(|| AppError::Refused {
                reason: crate::error::RefusalReason::RecordGone,
                message: format!("personal data record {id} no longer exists; reject the request or submit a new one"),
            })?;
        let before = subjects::open_value(&key, &record)?;
        let mut model: personal_data::ActiveModel = record.clone().into();
        model.sealed_value = Set(key
            .seal(&record.category, &after)
            .map_err(AppError::internal)?);
        if record.blind_index.is_some() {
            model.blind_index = Set(Some(
                scope.blind_index(&crate::taxonomy::normalise_email(&after)),
            ));
        }
        model.updated_at = Set(Utc::now());
        records.push(model);
        log.push(
            json!({ "record": id, "category": record.category, "before": before, "after": after }),
        );
    }
    let log = key
        .seal(PAYLOAD_CONTEXT, &Value::Array(log).to_string())
        .map_err(AppError::internal)?;
    Ok(vec![Rectification { log, records }])
}

/// What a rectification request changed, before and after (opened with the subject's key; personal).
pub async fn rectification_log(
    scope: &Scope,
    request: &dsr_request::Model,
) -> Result<Option<Value>, AppError> {
    let Some(sealed) = &request.payload_sealed else {
        return Ok(None);
    };
    let Ok(subject) = subjects::get(scope, SubjectId(request.subject_id)).await else {
        return Ok(None);
    };
    let key = subjects::subject_key(scope, &subject).await?;
    let text = key
        .open(PAYLOAD_CONTEXT, sealed)
        .map_err(AppError::internal)?;
    Ok(Some(
        serde_json::from_str(&text).map_err(AppError::internal)?,
    ))
}

/// The tombstone an erasure left, if it ran.
pub async fn tombstone(
    scope: &Scope,
    request: &dsr_request::Model,
) -> Result<Option<erasure_tombstone::Model>, AppError> {
    Ok(tombstone_of(scope, request)
        .await?
        .filter(|t| t.request_id == request.id))
}
