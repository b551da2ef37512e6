//! Data-subject requests: submitted by a client admin (or raised by Steward for a child under 13), worked by privacy
//! officers through `RECEIVED → IN_PROGRESS → COMPLETED | REJECTED` (with `PAUSED` and one extension), each with a
//! legal deadline counted by [`deadlines`](crate::deadlines).
//!
//! What completing a request does depends on its kind: an access or portability request produces a sealed export the
//! client admin can download for [`EXPORT_TTL_DAYS`]; a rectification applies its changes (before and after kept only
//! sealed); a restriction, applied when work starts, stays until the client lifts it; an erasure completes only after
//! the erasure job deleted the subject's values and key in one transaction (leaving a tombstone) and every
//! sub-processor that received the data acknowledged (webhook) or a named person confirmed (manual). An erasure
//! certificate, signed with Ed25519, is then available.
//!
//! Every transition takes the version the caller saw; a stale one is `CONFLICT`.

mod lifecycle;

pub use lifecycle::*;

pub mod certificate;
pub mod children;
pub mod export;
pub mod graphql;
pub mod handlers;

pub use certificate::{Certificate, certificate, certificate_public_key};
pub use children::ChildErasures;
use export::{EXPORT_CONTEXT, build_export};
pub use export::{download_export, export_of};
pub(crate) use handlers::{erase, expire_export, remind_deadline, warn_calendars_ending};

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use ed25519_dalek::Signer;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::{Value, json};
use steward_entities::{
    audit_event, data_subject, dsr_request, erasure_tombstone, guardian_consent, job,
    legal_disclosure, personal_data, staff_notice, subject_export, subprocessor,
};
use uuid::Uuid;

use crate::audit::{self, AuditEntry};
use crate::deadlines::{self, Clock, ClockBasis};
use crate::error::AppError;
use crate::ids::{RecordId, RequestId, SubjectId, TenantId};
use crate::jobs::{self, Job, NewJob, Outcome};
use crate::pagination::{Page, PageOf};
use crate::subjects;
use crate::tenancy::{Platform, Scope, Tenancy, Work};
use crate::validate;

/// Days an access or portability export stays downloadable.
pub const EXPORT_TTL_DAYS: i64 = 7;
/// Business days before the due date when the reminder goes out.
pub const REMINDER_BUSINESS_DAYS: u32 = 5;
const DEADLINE_DAYS: u32 = 30;
const MAX_EXTENSION_DAYS: u32 = 60;
const MAX_REASON_CHARS: usize = 2000;

/// Idempotency keys of the erasures Steward raises for children; clients cannot use them.
const CHILD_KEY_PREFIX: &str = "child-under-13:";

pub use steward_entities::dsr_request::{RequestKind, RequestOrigin, RequestState};

/// A request to submit.
#[derive(Clone, Debug)]
pub struct Submission {
    pub subject_id: SubjectId,
    pub kind: RequestKind,
    pub idempotency_key: Option<String>,
    pub note: Option<String>,
    /// Rectification only: (personal data record, corrected value).
    pub rectifications: Vec<(RecordId, String)>,
    /// The day the controller received the request from the person (default: today).
    pub controller_received_on: Option<NaiveDate>,
    /// `OBJECTION` only, and required there: the purpose the person objects to (a taxonomy purpose).
    pub objected_purpose: Option<String>,
}

/// How far back a controller's receipt date may lie: further is a typo, not a late request.
const MAX_CONTROLLER_DAYS_BACK: i64 = 366;

/// The controller's own clock (Art. 12(3)): one month from the day it received the request, extendable by two further
/// months.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerDeadline {
    pub received_on: NaiveDate,
    /// One month after receipt, or three once the request was extended (the controller extends with us).
    pub due_on: NaiveDate,
    /// Three months after receipt: the latest any extension reaches.
    pub latest_due_on: NaiveDate,
    /// Set when our deadline falls after the controller's: it has to answer before we do.
    pub warning: Option<String>,
}

/// The controller's deadline for a request, beside ours. A month from the 31st ends on the last day of a shorter
/// month (as chrono adds months).
pub fn controller_deadline(request: &dsr_request::Model) -> ControllerDeadline {
    let received_on = request
        .controller_received_on
        .unwrap_or_else(|| request.received_at.date_naive());
    let months = |n| {
        received_on
            .checked_add_months(chrono::Months::new(n))
            .unwrap_or(NaiveDate::MAX)
    };
    let latest_due_on = months(3);
    // The controller can extend its own deadline only within its first month (Art. 12(3)): an extension of ours
    // decided after that does not give it the three months.
    let extended_in_time = request
        .extended_at
        .is_some_and(|at| at.date_naive() <= months(1));
    let due_on = if extended_in_time {
        latest_due_on
    } else {
        months(1)
    };
    let warning = (request.due_on > due_on && !request.state.is_final()).then(|| {
        format!(
            "our deadline ({}) falls after yours ({due_on}, {} after you received the request on {received_on}, \
             Art. 12(3)): plan to answer the person before we are due",
            request.due_on,
            if extended_in_time {
                "three months"
            } else {
                "one month"
            }
        )
    });
    ControllerDeadline {
        received_on,
        due_on,
        latest_due_on,
        warning,
    }
}

/// Filters of the request lists.
#[derive(Clone, Debug, Default)]
pub struct RequestFilter {
    pub state: Option<RequestState>,
    pub kind: Option<RequestKind>,
    pub subject_id: Option<SubjectId>,
    /// Only requests past their due date and not final.
    pub overdue: Option<bool>,
    /// Only open requests due within this many days (of their own basis) from today.
    pub due_within_days: Option<i32>,
}

/// The deadline of a request as the API shows it.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    pub due_on: NaiveDate,
    pub due_at: DateTime<Utc>,
    pub days_left: i64,
    pub overdue: bool,
}

/// End of the due day in the tenant's time zone: a request is overdue from its next midnight.
pub fn due_at(clock: &Clock, due_on: NaiveDate) -> DateTime<Utc> {
    clock.end_of(due_on)
}

/// The deadline of a request at `now` (for a paused request, days left as of the pause).
pub fn deadline(clock: &Clock, request: &dsr_request::Model, now: DateTime<Utc>) -> Deadline {
    let calendar = clock.calendar;
    let basis = request.clock_basis;
    let state = request.state;
    let today = match (state, request.paused_at) {
        (RequestState::Paused, Some(paused)) => clock.day(paused),
        _ => clock.day(now),
    };
    let due_at = due_at(clock, request.due_on);
    Deadline {
        due_on: request.due_on,
        due_at,
        days_left: calendar.days_left(basis, today, request.due_on),
        // A paused request's clock is stopped: overdue only if it was paused after its due date.
        overdue: !state.is_final()
            && if state == RequestState::Paused {
                request.paused_while_overdue
            } else {
                now > due_at
            },
    }
}

/// Submits a request for one of the scope's tenant's subjects. With an idempotency key, a retried submit returns the
/// request the first one created.
pub async fn submit(scope: &Scope, input: Submission) -> Result<dsr_request::Model, AppError> {
    let key = input
        .idempotency_key
        .as_deref()
        .map(|k| validate::text("idempotencyKey", k, 100))
        .transpose()?;
    let note = input
        .note
        .as_deref()
        .map(|n| validate::text("note", n, MAX_REASON_CHARS))
        .transpose()?;
    if key
        .as_deref()
        .is_some_and(|k| k.starts_with(CHILD_KEY_PREFIX))
    {
        return Err(AppError::BadInput(format!(
            "`idempotencyKey` must not start with `{CHILD_KEY_PREFIX}` (reserved for erasures Steward raises)"
        )));
    }
    if let Some(key) = &key
        && let Some(existing) = by_idempotency_key(scope, key).await?
    {
        return same_request(existing, &input);
    }
    let clock = scope.tenant().clock()?;
    let now = Utc::now();
    let today = clock.day(now);
    if let Some(on) = input.controller_received_on
        && (on > today || on < today - Duration::days(MAX_CONTROLLER_DAYS_BACK))
    {
        return Err(AppError::BadInput(format!(
            "`controllerReceivedOn` must be a day from the last {MAX_CONTROLLER_DAYS_BACK} days, not in the future"
        )));
    }
    let objected_purpose = match (input.kind, input.objected_purpose.as_deref()) {
        (RequestKind::Objection, Some(p)) => Some(crate::taxonomy::purpose(p.trim())?.key.clone()),
        (RequestKind::Objection, None) => {
            return Err(AppError::BadInput(
                "an objection names the purpose objected to: `objectedPurpose`".into(),
            ));
        }
        (_, Some(_)) => {
            return Err(AppError::BadInput(
                "`objectedPurpose` is given only with an OBJECTION request".into(),
            ));
        }
        (_, None) => None,
    };
    let subject = subjects::get(scope, input.subject_id).await?;
    let payload = match (input.kind, input.rectifications.is_empty()) {
        (RequestKind::Rectification, true) => {
            return Err(AppError::BadInput(
                "a rectification request needs `rectifications`: the records to correct and their values".into(),
            ));
        }
        (RequestKind::Rectification, false) => {
            Some(seal_rectifications(scope, &subject, &input.rectifications).await?)
        }
        (_, false) => {
            return Err(AppError::BadInput(
                "`rectifications` are given only with a RECTIFICATION request".into(),
            ));
        }
        (_, true) => None,
    };
    let basis = input.kind.basis();
    let due_on = clock.calendar.add(basis, today, DEADLINE_DAYS)?;
    let id = Uuid::now_v7();
    let note = match note {
        Some(note) => Some(seal_note(
            &subjects::subject_key(scope, &subject).await?,
            RequestId(id),
            &note,
        )?),
        None => None,
    };
    let model = dsr_request::ActiveModel {
        tenant_id: Set(scope.tenant_id().0),
        id: Set(id),
        subject_id: Set(subject.id),
        kind: Set(input.kind),
        origin: Set(RequestOrigin::Client),
        state: Set(RequestState::Received),
        idempotency_key: Set(key.clone()),
        submitted_by: Set(scope.principal().label()),
        note_sealed: Set(note),
        payload_sealed: Set(payload),
        received_at: Set(now),
        controller_received_on: Set(Some(input.controller_received_on.unwrap_or(today))),
        objected_purpose: Set(objected_purpose),
        clock_basis: Set(basis),
        due_on: Set(due_on),
        paused_at: Set(None),
        pause_reason_sealed: Set(None),
        paused_days: Set(0),
        extended_at: Set(None),
        extension_reason_sealed: Set(None),
        rejection_reason_sealed: Set(None),
        completed_at: Set(None),
        handled_by: Set(None),
        reminded_for_due_on: Set(None),
        overdue_notified: Set(false),
        paused_while_overdue: Set(false),
        version: Set(1),
        updated_at: Set(now),
    };
    let mut txn = scope.begin().await?;
    let inserted = match model.insert(&txn).await {
        Ok(m) => m,
        Err(e) => {
            drop(txn);
            // A concurrent submit with the same key won the race: answer with its request.
            if let (Some(key), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) =
                (&key, e.sql_err())
                && let Some(existing) = by_idempotency_key(scope, key).await?
            {
                return same_request(existing, &input);
            }
            return Err(e.into());
        }
    };
    txn.record(
        AuditEntry::by(
            scope.principal(),
            "request.submitted",
            "dsr_request",
            inserted.id,
        )
        .with_detail(json!({
            "kind": input.kind.as_str(),
            "subject": subject.id,
            "due_on": due_on,
            "basis": basis.as_str(),
        })),
    )
    .await?;
    schedule_deadline(&txn, scope.tenant_id(), &inserted).await?;
    txn.commit_recorded().await?;
    Ok(inserted)
}

fn same_request(
    existing: dsr_request::Model,
    input: &Submission,
) -> Result<dsr_request::Model, AppError> {
    if SubjectId(existing.subject_id) == input.subject_id && existing.kind == input.kind {
        Ok(existing)
    } else {
        Err(AppError::Conflict(
            "this idempotencyKey was already used for a different request".into(),
        ))
    }
}

async fn by_idempotency_key(
    scope: &Scope,
    key: &str,
) -> Result<Option<dsr_request::Model>, AppError> {
    Ok(scope
        .find::<dsr_request::Entity>()
        .filter(dsr_request::Column::IdempotencyKey.eq(key))
        .one(scope.db())
        .await?)
}

const PAYLOAD_CONTEXT: &str = "request.payload";

/// Opens a request's note. Callers decide first whether the reader may see it ([`crate::subjects::values`]).
pub(crate) fn open_note(
    key: &crate::crypto::SubjectKey,
    request: &dsr_request::Model,
    sealed: &[u8],
) -> Result<String, AppError> {
    key.open(&steward_migration::note_context(request.id), sealed)
        .map_err(|e| AppError::internal(anyhow::anyhow!("request {}: {e}", request.id)))
}

fn seal_note(
    key: &crate::crypto::SubjectKey,
    request: RequestId,
    note: &str,
) -> Result<Vec<u8>, AppError> {
    key.seal(&steward_migration::note_context(request.0), note)
        .map_err(AppError::internal)
}

/// A reason given with a transition (pause, extension, rejection): free text that can name the person, so sealed
/// with the subject's key like the note. Refused once the subject's data is erased (complete the request instead).
async fn seal_reason(
    scope: &Scope,
    request: &dsr_request::Model,
    field: Reason,
    why: &str,
) -> Result<Vec<u8>, AppError> {
    let subject = match subjects::get(scope, SubjectId(request.subject_id)).await {
        Ok(subject) => subject,
        Err(AppError::NotFound(_)) => {
            return Err(AppError::Refused {
                reason: crate::error::RefusalReason::ErasureCarriedOut,
                message: "the subject's data is already erased; complete the request instead"
                    .into(),
            });
        }
        Err(e) => return Err(e),
    };
    subjects::subject_key(scope, &subject)
        .await?
        .seal(
            &steward_migration::reason_context(field.column(), request.id),
            why,
        )
        .map_err(AppError::internal)
}

/// Opens a sealed reason. Callers decide first whether the reader may see it ([`crate::subjects::values`]).
pub(crate) fn open_reason(
    key: &crate::crypto::SubjectKey,
    request: &dsr_request::Model,
    field: Reason,
    sealed: &[u8],
) -> Result<String, AppError> {
    key.open(
        &steward_migration::reason_context(field.column(), request.id),
        sealed,
    )
    .map_err(|e| AppError::internal(anyhow::anyhow!("request {}: {e}", request.id)))
}

/// The reasons a request's transitions carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Pause,
    Extension,
    Rejection,
}

impl Reason {
    /// The clear column it was stored in before it was sealed (part of its sealing context).
    pub fn column(self) -> &'static str {
        match self {
            Reason::Pause => "pause_reason",
            Reason::Extension => "extension_reason",
            Reason::Rejection => "rejection_reason",
        }
    }
}

async fn seal_rectifications(
    scope: &Scope,
    subject: &data_subject::Model,
    changes: &[(RecordId, String)],
) -> Result<Vec<u8>, AppError> {
    if changes.len() > subjects::MAX_RECORDS_PER_CALL {
        return Err(AppError::BadInput(format!(
            "at most {} rectifications per request",
            subjects::MAX_RECORDS_PER_CALL
        )));
    }
    let ids: BTreeSet<RecordId> = changes.iter().map(|(id, _)| *id).collect();
    if ids.len() != changes.len() {
        return Err(AppError::BadInput(
            "`rectifications` names a record twice".into(),
        ));
    }
    let records = scope
        .find::<personal_data::Entity>()
        .filter(personal_data::Column::SubjectId.eq(subject.id))
        .filter(personal_data::Column::Id.is_in(ids.iter().copied()))
        .all(scope.db())
        .await?;
    let mut entries = Vec::new();
    for (id, value) in changes {
        let record = records
            .iter()
            .find(|r| RecordId(r.id) == *id)
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "subject {} has no personal data record {id}",
                    subject.id
                ))
            })?;
        let category = crate::taxonomy::category(&record.category)?;
        let value = crate::taxonomy::check_value(category, value)?;
        entries.push(json!({ "record": id, "category": record.category, "after": value }));
    }
    let key = subjects::subject_key(scope, subject).await?;
    key.seal(PAYLOAD_CONTEXT, &Value::Array(entries).to_string())
        .map_err(AppError::internal)
}

/// One request of the scope's tenant; another tenant's id is `NOT_FOUND`.
pub async fn get(scope: &Scope, id: RequestId) -> Result<dsr_request::Model, AppError> {
    scope
        .find::<dsr_request::Entity>()
        .filter(dsr_request::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no data-subject request {id}")))
}

fn filtered(
    mut query: sea_orm::Select<dsr_request::Entity>,
    filter: &RequestFilter,
    today: NaiveDate,
) -> Result<sea_orm::Select<dsr_request::Entity>, AppError> {
    if let Some(state) = filter.state {
        query = query.filter(dsr_request::Column::State.eq(state));
    }
    if let Some(kind) = filter.kind {
        query = query.filter(dsr_request::Column::Kind.eq(kind.as_str()));
    }
    if let Some(subject) = filter.subject_id {
        query = query.filter(dsr_request::Column::SubjectId.eq(subject));
    }
    use sea_orm::Condition;
    let running = [RequestState::Received, RequestState::InProgress];
    let open = [
        RequestState::Received,
        RequestState::InProgress,
        RequestState::Paused,
    ];
    match filter.overdue {
        // Running and past its due date, or paused after it (a paused request's clock is stopped: paused in time,
        // it is not overdue while it waits).
        Some(true) => {
            query = query.filter(
                Condition::any()
                    .add(
                        Condition::all()
                            .add(dsr_request::Column::State.is_in(running))
                            .add(dsr_request::Column::DueOn.lt(today)),
                    )
                    .add(
                        Condition::all()
                            .add(dsr_request::Column::State.eq(RequestState::Paused))
                            .add(dsr_request::Column::PausedWhileOverdue.eq(true)),
                    ),
            );
        }
        Some(false) => {
            query = query.filter(
                Condition::any()
                    .add(dsr_request::Column::State.is_not_in(open))
                    .add(
                        Condition::all()
                            .add(dsr_request::Column::State.is_in(running))
                            .add(dsr_request::Column::DueOn.gte(today)),
                    )
                    .add(
                        Condition::all()
                            .add(dsr_request::Column::State.eq(RequestState::Paused))
                            .add(dsr_request::Column::PausedWhileOverdue.eq(false)),
                    ),
            );
        }
        None => {}
    }
    if let Some(days) = filter.due_within_days {
        if !(0..=366).contains(&days) {
            return Err(AppError::BadInput(
                "`dueWithinDays` must be between 0 and 366".into(),
            ));
        }
        query = query
            .filter(dsr_request::Column::State.is_in(open))
            .filter(dsr_request::Column::DueOn.gte(today))
            .filter(dsr_request::Column::DueOn.lte(today + Duration::days(i64::from(days))));
    }
    Ok(query)
}

/// One page of the scope's tenant's requests, oldest first.
pub async fn list(
    scope: &Scope,
    page: Page,
    filter: &RequestFilter,
) -> Result<PageOf<dsr_request::Model>, AppError> {
    let query = filtered(
        scope.find::<dsr_request::Entity>(),
        filter,
        scope.tenant().clock()?.day(Utc::now()),
    )?;
    let total = crate::pagination::count(query.clone(), scope.db()).await?;
    let mut query = query;
    if let Some(after) = page.after {
        query = query.filter(dsr_request::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(dsr_request::Column::Id)
        .limit(page.fetch_limit())
        .all(scope.db())
        .await?;
    Ok(PageOf::from_fetched(rows, &page, total))
}

/// The privacy officers' queue: requests of every tenant, oldest first, with each one's region (a read across every
/// tenant: it takes the platform capability).
pub async fn list_all(
    platform: Platform<'_>,
    page: Page,
    filter: &RequestFilter,
) -> Result<PageOf<(String, dsr_request::Model)>, AppError> {
    let today = Utc::now().date_naive();
    let mut rows = Vec::new();
    let mut total = 0;
    for (region, db) in platform.regions() {
        let query = filtered(dsr_request::Entity::find(), filter, today)?;
        total += crate::pagination::count(query.clone(), db).await?;
        let mut query = query;
        if let Some(after) = page.after {
            query = query.filter(dsr_request::Column::Id.gt(after));
        }
        rows.extend(
            query
                .order_by_asc(dsr_request::Column::Id)
                .limit(page.fetch_limit())
                .all(db)
                .await?
                .into_iter()
                .map(|r| (region.to_owned(), r)),
        );
    }
    rows.sort_by_key(|(_, r)| r.id);
    rows.truncate(page.fetch_limit() as usize);
    Ok(PageOf::from_fetched(rows, &page, total))
}

/// Lifts a subject's restriction (the controller's decision).
pub async fn lift_restriction(
    scope: &Scope,
    subject_id: SubjectId,
    why: &str,
) -> Result<data_subject::Model, AppError> {
    let why = reason("reason", why)?;
    let subject = subjects::get(scope, subject_id).await?;
    if subject.restricted_at.is_none() {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::NotRestricted,
            message: "this subject's processing is not restricted".into(),
        });
    }
    let txn = scope.begin().await?;
    let mut model: data_subject::ActiveModel = subject.clone().into();
    model.restricted_at = Set(None);
    model.restricted_by_request = Set(None);
    let updated = model.update(&txn).await?;
    // A departing tenant's export marks restricted subjects: built again without this one's mark.
    crate::erasure::invalidate(&txn).await?;
    txn.commit(
        AuditEntry::by(
            scope.principal(),
            "subject.restriction_lifted",
            "data_subject",
            subject_id,
        )
        .with_detail(
            json!({ "request": subject.restricted_by_request, "reason_given": !why.is_empty() }),
        ),
    )
    .await?;
    Ok(updated)
}

async fn schedule_deadline<C: ConnectionTrait>(
    txn: &C,
    tenant: TenantId,
    request: &dsr_request::Model,
) -> Result<(), DbErr> {
    jobs::enqueue(
        txn,
        NewJob::new(deadline_job(request))
            .for_tenant(tenant)
            .dedupe(deadline_dedupe(request)),
    )
    .await?;
    Ok(())
}

/// The deadline job of `request` as it stands (one per due date).
fn deadline_job(request: &dsr_request::Model) -> Job {
    Job::RequestDeadline {
        request: RequestId(request.id),
        due_on: request.due_on,
    }
}

fn deadline_dedupe(request: &dsr_request::Model) -> String {
    format!("{}:{}", request.id, request.due_on)
}

/// The stored dedupe key of `request`'s deadline job.
pub(super) fn deadline_job_key(request: &dsr_request::Model) -> String {
    deadline_job(request).key(deadline_dedupe(request))
}

#[cfg(test)]
mod tests {
    use super::handlers::sub_business_days;
    use super::*;

    #[test]
    fn the_controllers_month_runs_from_its_receipt() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let request = |received: &str, due: &str, extended: Option<&str>| dsr_request::Model {
            tenant_id: Uuid::nil(),
            id: Uuid::nil(),
            subject_id: Uuid::nil(),
            kind: RequestKind::Erasure,
            origin: RequestOrigin::Client,
            state: RequestState::InProgress,
            idempotency_key: None,
            submitted_by: "t".into(),
            note_sealed: None,
            payload_sealed: None,
            received_at: d("2026-12-01").and_hms_opt(9, 0, 0).unwrap().and_utc(),
            controller_received_on: Some(d(received)),
            objected_purpose: None,
            clock_basis: ClockBasis::Business,
            due_on: d(due),
            paused_at: None,
            pause_reason_sealed: None,
            paused_days: 0,
            extended_at: extended.map(|on| d(on).and_hms_opt(9, 0, 0).unwrap().and_utc()),
            extension_reason_sealed: None,
            rejection_reason_sealed: None,
            completed_at: None,
            handled_by: None,
            reminded_for_due_on: None,
            overdue_notified: false,
            paused_while_overdue: false,
            version: 1,
            updated_at: Utc::now(),
        };
        // A month from 31 January ends on the last day of February; three months on 30 April.
        let c = controller_deadline(&request("2027-01-31", "2027-02-20", None));
        assert_eq!(
            (c.due_on, c.latest_due_on),
            (d("2027-02-28"), d("2027-04-30"))
        );
        assert_eq!(c.warning, None);
        // Our 30 business days end after the controller's month: warned.
        let c = controller_deadline(&request("2026-11-20", "2027-01-15", None));
        assert_eq!(c.due_on, d("2026-12-20"));
        assert!(c.warning.unwrap().contains("2026-12-20"));
        // Extended within the controller's month, the controller has three months.
        let c = controller_deadline(&request("2026-11-20", "2027-01-15", Some("2026-12-20")));
        assert_eq!(c.due_on, d("2027-02-20"));
        assert_eq!(c.warning, None);
        // Extended after it, too late for the controller to extend: its month stands, and it is warned.
        let c = controller_deadline(&request("2026-11-20", "2027-01-15", Some("2026-12-21")));
        assert_eq!(c.due_on, d("2026-12-20"));
        assert!(c.warning.unwrap().contains("one month"));
        // Unknown receipt (older requests): the day we received it.
        let mut old = request("2026-11-20", "2026-12-20", None);
        old.controller_received_on = None;
        assert_eq!(controller_deadline(&old).received_on, d("2026-12-01"));
    }

    #[test]
    fn reminders_fall_five_business_days_before() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let eu = deadlines::calendar("DE", None).unwrap();
        // Due Thu 14 Jan 2027: back over 13, 12, 11, 8, 7 January.
        assert_eq!(sub_business_days(eu, d("2027-01-14"), 5), d("2027-01-07"));
        // Due Fri 10 Apr 2026: back over 9, 8, 7, then Easter Monday and Good Friday skipped, 2 April, 1 April.
        assert_eq!(sub_business_days(eu, d("2026-04-10"), 5), d("2026-04-01"));
    }
}
