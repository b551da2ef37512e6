//! The handlers of the request jobs: the erasure itself, the due-date reminders, and the end of an export's download
//! window.

use super::*;
use crate::ids::{ExportId, RequestId, SubjectId, TenantId};
use steward_entities::Counts;
use steward_entities::dsr_request::RequestOrigin;
use steward_entities::erasure_tombstone::ErasureOrigin;

/// Deletes the subject's values, guardian consents, exports and data key in one transaction with the
/// tombstone, the propagation tasks and this job's completion. Run again after a crash, it finds the tombstone.
pub(crate) async fn erase(
    tenancy: &Tenancy,
    scope: &Scope,
    job: &job::Model,
    request_id: RequestId,
) -> Result<Outcome, AppError> {
    let Some(request) = scope
        .find::<dsr_request::Entity>()
        .filter(dsr_request::Column::Id.eq(request_id))
        .one(scope.db())
        .await?
    else {
        return Ok(Outcome::Done);
    };
    if request.state != RequestState::InProgress || tombstone_of(scope, &request).await?.is_some() {
        return Ok(Outcome::Done);
    }
    let Ok(subject) = subjects::get(scope, SubjectId(request.subject_id)).await else {
        return Ok(Outcome::Done);
    };
    let records = scope
        .find::<personal_data::Entity>()
        .filter(personal_data::Column::SubjectId.eq(subject.id))
        .all(scope.db())
        .await?;
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for record in &records {
        *counts.entry(record.category.clone()).or_default() += 1;
    }
    let categories: BTreeSet<String> = counts.keys().cloned().collect();
    let erased = BTreeMap::from([(SubjectId(subject.id), categories)]);
    let recipients =
        crate::erasure::recipients(scope, &erased, crate::erasure::Extent::Subject).await?;
    let registry = crate::erasure::registry_of(tenancy, &recipients).await?;

    // Journalled before the region deletes (so a restored backup can have it applied again), unless a hold is known
    // to stop it; one found only inside the transaction, or a request rejected meanwhile, takes the entry back.
    let held_before = crate::retention::held(scope.db(), scope.find())
        .await?
        .covers(SubjectId(subject.id));
    let journalled = if held_before {
        None
    } else {
        crate::erasure::journal::record(
            scope,
            crate::erasure::journal::Erased::Subjects,
            &[subject.id],
            Some(request.id),
        )
        .await?
    };
    let now = Utc::now();
    let mut txn = scope.begin().await?;
    jobs::begin_writing(&txn, job).await?;
    // The subject's row before anything of it (`erasure::lock_subjects`); gone, another erasure took it (an
    // offboarding's batch, or this job on another instance) and left its tombstone, which completing the request reads.
    crate::erasure::lock_subjects(&txn, &[SubjectId(subject.id)], crate::erasure::Lock::Erase)
        .await?;
    let still_there = txn
        .find::<data_subject::Entity>()
        .filter(data_subject::Column::Id.eq(subject.id))
        .one(&txn)
        .await?
        .is_some();
    // Checked inside the transaction: a hold placed after the request started (or while this job read) wins.
    // The erasure is recorded as held and stops; lifting the hold queues it again. A request rejected meanwhile
    // is left alone.
    let still_open = txn
        .find::<dsr_request::Entity>()
        .filter(dsr_request::Column::Id.eq(request.id))
        .filter(dsr_request::Column::State.eq(RequestState::InProgress))
        .one(&txn)
        .await?
        .is_some();
    if !still_open || !still_there {
        jobs::complete_in(&txn, job).await?;
        txn.commit_unaudited(crate::tenancy::Unaudited::NothingChanged)
            .await?;
        crate::erasure::journal::forget(scope, journalled).await;
        return Ok(Outcome::Done);
    }
    if crate::retention::held(&txn, txn.find())
        .await?
        .covers(SubjectId(subject.id))
    {
        txn.record(
            AuditEntry::system("erasure.held", "dsr_request", request.id)
                .with_detail(json!({ "subject": subject.id })),
        )
        .await?;
        jobs::complete_in(&txn, job).await?;
        txn.commit_recorded().await?;
        crate::erasure::journal::forget(scope, journalled).await;
        return Ok(Outcome::Done);
    }
    crate::erasure::delete_subjects(
        scope,
        &txn,
        &[SubjectId(subject.id)],
        crate::erasure::TenantExport::Rebuild,
    )
    .await?;
    // Read back in the transaction: the event states what the cascade did, not what it should have.
    let key_destroyed = txn
        .find::<data_subject::Entity>()
        .filter(data_subject::Column::Id.eq(subject.id))
        .one(&txn)
        .await?
        .is_none()
        && scope.subject_keys().get(subject.id).await?.is_none();
    let values = records.len() as i32;
    txn.insert(erasure_tombstone::ActiveModel {
        subject_id: Set(subject.id),
        request_id: Set(request.id),
        erased_at: Set(now),
        counts: Set(Counts(counts.clone())),
        values_erased: Set(values),
        origin: Set(match request.origin {
            RequestOrigin::Client => ErasureOrigin::Client,
            RequestOrigin::ChildUnder13 => ErasureOrigin::ChildUnder13,
        }),
        ..Default::default()
    })
    .await?;
    let mut propagated = Vec::new();
    for ((_, sp_id), received) in &recipients {
        let sp = registry.get(sp_id);
        let (id, method) = crate::erasure::propagate(
            &txn,
            request.id,
            SubjectId(subject.id),
            (*sp_id, sp),
            received,
        )
        .await?;
        propagated.push(json!({ "propagation": id, "sub_processor": sp_id, "method": method }));
    }
    txn.record(
        AuditEntry::system("subject.erased", "dsr_request", request.id).with_detail(json!({
            "subject": subject.id,
            "values_erased": values,
            "counts": counts,
            "key_destroyed": key_destroyed,
            "propagations": propagated,
        })),
    )
    .await?;
    jobs::complete_in(&txn, job).await?;
    txn.commit_recorded().await?;
    // Deleted pages are zeroed (secure_delete); the WAL still holds the old pages until a checkpoint.
    scope.checkpoint().await;
    Ok(Outcome::Done)
}

/// Reminds the tenant and the privacy officers 5 business days before a request's due date, and again when it
/// becomes overdue. A request whose due date moved has a newer deadline job; this one then ends.
pub(crate) async fn remind_deadline(
    tenancy: &Tenancy,
    job: &job::Model,
    tenant: TenantId,
    request_id: RequestId,
    now: DateTime<Utc>,
) -> Result<Outcome, AppError> {
    let scope = tenancy.system_scope(tenant).await?;
    let Some(request) = scope
        .find::<dsr_request::Entity>()
        .filter(dsr_request::Column::Id.eq(request_id))
        .one(scope.db())
        .await?
    else {
        return Ok(Outcome::Done);
    };
    let state = request.state;
    let scheduled_for = job.payload["due_on"].as_str().unwrap_or_default();
    if state.is_final() || scheduled_for != request.due_on.to_string() {
        return Ok(Outcome::Done);
    }
    // The clock is stopped: look again later (a resume that keeps the due date finds this job still waiting). A pause
    // has no end of its own, so the privacy officers are reminded of it every PAUSE_REMINDER_DAYS while it lasts.
    if state == RequestState::Paused {
        let since = request.paused_at.unwrap_or(now);
        let days = (now - since).num_days();
        if days >= PAUSE_REMINDER_DAYS {
            let title = format!(
                "Paused for {days} days: {} request {}, its clock stopped",
                request.kind.as_str(),
                request.id
            );
            let key = format!(
                "{}:{}:{}",
                request.due_on,
                since.timestamp(),
                days / PAUSE_REMINDER_DAYS
            );
            remind_keyed(&scope, &request, NOTICE_PAUSED_LONG, &title, &key).await?;
        }
        return Ok(Outcome::Later(now + Duration::hours(1)));
    }
    let clock = scope.tenant().clock()?;
    let calendar = clock.calendar;
    let overdue_at = due_at(&clock, request.due_on) + Duration::seconds(1);
    let remind_on = sub_business_days(calendar, request.due_on, REMINDER_BUSINESS_DAYS);
    let remind_at = clock.start_of(remind_on);
    let kind = request.kind;
    if now >= overdue_at {
        if !request.overdue_notified {
            let title = format!(
                "Overdue: {} request {} was due on {}",
                kind.as_str(),
                request.id,
                request.due_on
            );
            remind(&scope, &request, "request.overdue", &title).await?;
            let mut txn = scope.begin().await?;
            txn.update_many::<dsr_request::Entity>()
                .col_expr(dsr_request::Column::OverdueNotified, true.into())
                .filter(dsr_request::Column::Id.eq(request.id))
                .exec(&txn)
                .await?;
            crate::notices::notify(
                &txn,
                tenant,
                "request.overdue",
                &title,
                &deadline_body(&request),
            )
            .await?;
            txn.record(
                AuditEntry::system("request.overdue", "dsr_request", request.id)
                    .with_detail(json!({ "due_on": request.due_on })),
            )
            .await?;
            jobs::complete_in(&txn, job).await?;
            txn.commit_recorded().await?;
        }
        return Ok(Outcome::Done);
    }
    if now >= remind_at {
        if request.reminded_for_due_on != Some(request.due_on) {
            let left = calendar.days_left(request.clock_basis, clock.day(now), request.due_on);
            let title = format!(
                "Due in {left} {} day(s): {} request {} (due {})",
                request.clock_basis,
                kind.as_str(),
                request.id,
                request.due_on
            );
            remind(&scope, &request, "request.reminder", &title).await?;
            let txn = scope.begin().await?;
            txn.update_many::<dsr_request::Entity>()
                .col_expr(
                    dsr_request::Column::RemindedForDueOn,
                    Some(request.due_on).into(),
                )
                .filter(dsr_request::Column::Id.eq(request.id))
                .exec(&txn)
                .await?;
            crate::notices::notify(
                &txn,
                tenant,
                "request.reminder",
                &title,
                &deadline_body(&request),
            )
            .await?;
            txn.commit(
                AuditEntry::system("request.reminded", "dsr_request", request.id)
                    .with_detail(json!({ "due_on": request.due_on })),
            )
            .await?;
        }
        return Ok(Outcome::Later(overdue_at));
    }
    Ok(Outcome::Later(remind_at))
}

/// The staff notice kind that warns the holiday calendars end within a year.
pub const NOTICE_CALENDARS_ENDING: &str = "calendar.ending";

/// Warns privacy officers (a staff notice, once per end date) when the shipped holiday calendars end within
/// [`deadlines::WARN_DAYS_BEFORE_END`] days of `now`: from their end, deadlines cannot be computed and requests are
/// refused. Returns whether the calendars end that soon.
pub async fn warn_calendars_ending(
    tenancy: &Tenancy,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(end) = deadlines::running_out(now.date_naive()) else {
        return Ok(false);
    };
    let id = Uuid::new_v5(
        &Uuid::NAMESPACE_OID,
        format!("{NOTICE_CALENDARS_ENDING}:{end}").as_bytes(),
    );
    let filed = staff_notice::Entity::insert(staff_notice::ActiveModel {
        id: Set(id),
        role: Set("privacy_officer".into()),
        kind: Set(NOTICE_CALENDARS_ENDING.into()),
        tenant_id: Set(None),
        object_id: Set(Some(end.to_string())),
        title: Set(format!("The public-holiday calendars end on {end}")),
        body: Set(format!(
            "Request deadlines are counted with the calendars shipped in this release, which cover days until {end}. \
             A deadline after that cannot be computed, and requests whose deadline would fall there are refused. \
             Regenerate the calendars (api/data/holidays/generate.py) and upgrade before then."
        )),
        created_at: Set(now),
        acknowledged_by: Set(None),
        acknowledged_at: Set(None),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(staff_notice::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(tenancy.system().control())
    .await?;
    // Logged once, with the notice; the server also logs it at start.
    if filed > 0 {
        tracing::warn!(%end, "the shipped public-holiday calendars end within a year");
    }
    Ok(true)
}

/// The privacy officers' copy of a reminder. Its id is derived from what it is about, so a retried job never
/// files it twice.
async fn remind(
    scope: &Scope,
    request: &dsr_request::Model,
    kind: &str,
    title: &str,
) -> Result<(), AppError> {
    remind_keyed(scope, request, kind, title, &request.due_on.to_string()).await
}

/// How long a pause runs before the privacy officers are reminded of it, and again after each such period.
pub const PAUSE_REMINDER_DAYS: i64 = 14;
/// The staff notice kind of a request paused for [`PAUSE_REMINDER_DAYS`] or more.
pub const NOTICE_PAUSED_LONG: &str = "request.paused_long";

/// A staff notice to privacy officers about `request`, filed once per `key`.
async fn remind_keyed(
    scope: &Scope,
    request: &dsr_request::Model,
    kind: &str,
    title: &str,
    key: &str,
) -> Result<(), AppError> {
    let title: String = title.chars().take(300).collect();
    crate::notices::file_staff_once(
        scope.control(),
        &format!("{kind}:{}:{key}", request.id),
        kind,
        scope.tenant_id(),
        &request.id.to_string(),
        &title,
        &deadline_body(request),
    )
    .await?;
    Ok(())
}

pub(crate) async fn expire_export(
    scope: &Scope,
    job: &job::Model,
    export: ExportId,
) -> Result<Outcome, AppError> {
    let mut txn = scope.begin().await?;
    let deleted = scope
        .delete_many::<subject_export::Entity>()
        .filter(subject_export::Column::Id.eq(export))
        .exec(&txn)
        .await?;
    if deleted.rows_affected > 0 {
        txn.record(AuditEntry::system(
            "export.expired",
            "subject_export",
            export,
        ))
        .await?;
    }
    jobs::complete_in(&txn, job).await?;
    txn.commit_recorded().await?;
    scope.checkpoint_region().await;
    Ok(Outcome::Done)
}

fn deadline_body(request: &dsr_request::Model) -> String {
    format!(
        "Request {} ({}, received {}) is due on {} ({} days). State: {}.",
        request.id,
        request.kind,
        request.received_at.date_naive(),
        request.due_on,
        request.clock_basis,
        request.state.as_str().replace('_', " ")
    )
}

/// The business day `n` business days before `due`.
pub(super) fn sub_business_days(
    calendar: &deadlines::Calendar,
    due: NaiveDate,
    n: u32,
) -> NaiveDate {
    let mut day = due;
    let mut left = n;
    while left > 0 {
        day -= Duration::days(1);
        if calendar.is_business_day(day) {
            left -= 1;
        }
    }
    day
}
