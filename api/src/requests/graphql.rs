//! Data-subject requests: `submitDataSubjectRequest` (client admin), the privacy officers' transitions
//! (`start…`, `pause…`, `resume…`, `extend…`, `reject…`, `complete…`) with the controller's deadline beside ours,
//! `liftRestriction`, the lists with their deadlines, `subjectExport`, `erasureCertificate`, and the job queue's
//! `jobs` / `retryJob` / `staffNotices` for privacy officers.

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;
use steward_entities::{dsr_request, staff_notice};
use steward_policy::Permission;

use crate::deadlines::{Clock, ClockBasis};
use crate::erasure::graphql::ErasurePropagation;
use crate::error::AppError;
use crate::graphql::types::{Conn, connection};
use crate::graphql::{open_scope, principal, tenancy};
use crate::ids::{JobId, RecordId, RequestId, SubjectId};
use crate::pagination::Page;
use crate::requests::{self, RequestFilter, RequestKind, RequestOrigin, RequestState, Submission};
use steward_entities::job::JobState;

/// A request from an individual, handled for the controller (the tenant).
pub struct DataSubjectRequest {
    model: dsr_request::Model,
    /// The tenant's clock: its holidays and time zone.
    clock: Clock,
}

impl DataSubjectRequest {
    fn tenant(&self) -> ID {
        ID(self.model.tenant_id.to_string())
    }

    fn deadline(&self) -> Result<requests::Deadline, AppError> {
        Ok(requests::deadline(&self.clock, &self.model, Utc::now()))
    }

    /// A sealed text of the request (note, reasons), opened for a reader allowed to read the subject's values;
    /// `null` when there is none, or once the subject was erased.
    async fn open_sealed(
        &self,
        ctx: &Context<'_>,
        category: &str,
        sealed: Option<&[u8]>,
        open: impl FnOnce(&crate::crypto::SubjectKey, &[u8]) -> Result<String, AppError>,
    ) -> async_graphql::Result<Option<String>> {
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let scope = open_scope(ctx, Some(&self.tenant()), Permission::RequestRead).await?;
        let subject = match crate::subjects::get(&scope, SubjectId(self.model.subject_id)).await {
            Ok(subject) => subject,
            Err(AppError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let pii = crate::subjects::graphql::pii(ctx)?;
        pii.check_read(&scope, &subject, category).await?;
        let key = pii.subject_key(&scope, &subject).await?;
        Ok(Some(open(&key, sealed)?))
    }
}

#[Object]
impl DataSubjectRequest {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    async fn tenant_id(&self) -> ID {
        self.tenant()
    }
    async fn subject_id(&self) -> ID {
        ID(self.model.subject_id.to_string())
    }
    async fn kind(&self) -> RequestKind {
        self.model.kind
    }
    async fn origin(&self) -> RequestOrigin {
        self.model.origin
    }
    async fn state(&self) -> RequestState {
        self.model.state
    }
    /// Give it back with every transition: a stale version is `CONFLICT`.
    async fn version(&self) -> i32 {
        self.model.version
    }
    async fn submitted_by(&self) -> &str {
        &self.model.submitted_by
    }
    /// The submitter's note (personal: stored sealed with the subject's key and read like its values, so staff need
    /// an access grant covering the subject; `null` once the subject was erased, its key gone).
    #[graphql(complexity = 10)]
    async fn note(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        self.open_sealed(
            ctx,
            "request.note",
            self.model.note_sealed.as_deref(),
            |key, sealed| requests::open_note(key, &self.model, sealed),
        )
        .await
    }
    async fn received_at(&self) -> DateTime<Utc> {
        self.model.received_at
    }
    async fn clock_basis(&self) -> ClockBasis {
        self.model.clock_basis
    }
    /// The last day to answer (counted in the tenant's calendar and time zone).
    async fn due_on(&self) -> NaiveDate {
        self.model.due_on
    }
    /// OBJECTION only: the purpose objected to.
    async fn objected_purpose(&self) -> Option<&str> {
        self.model.objected_purpose.as_deref()
    }
    /// The day the controller received the request from the person (for requests submitted before this was asked:
    /// the day we received it).
    async fn controller_received_on(&self) -> NaiveDate {
        requests::controller_deadline(&self.model).received_on
    }
    /// The controller's own legal due date (Art. 12(3)): one month after it received the request, three once the
    /// request was extended.
    async fn controller_due_on(&self) -> NaiveDate {
        requests::controller_deadline(&self.model).due_on
    }
    /// The latest the controller's deadline can be extended to: three months after it received the request.
    async fn controller_latest_due_on(&self) -> NaiveDate {
        requests::controller_deadline(&self.model).latest_due_on
    }
    /// Set while the request is open and our `dueOn` falls after `controllerDueOn`: the controller must answer
    /// before we are due.
    async fn deadline_warning(&self) -> Option<String> {
        requests::controller_deadline(&self.model).warning
    }
    /// The end of the due day in the tenant's time zone (as an instant).
    async fn due_at(&self) -> async_graphql::Result<DateTime<Utc>> {
        Ok(self.deadline()?.due_at)
    }
    /// Days of the request's basis until the due date; negative once overdue. While paused: as of the pause.
    async fn days_left(&self) -> async_graphql::Result<i64> {
        Ok(self.deadline()?.days_left)
    }
    /// Past its due date and not completed or rejected (a paused request's clock is stopped).
    async fn overdue(&self) -> async_graphql::Result<bool> {
        Ok(self.deadline()?.overdue)
    }
    async fn paused_at(&self) -> Option<DateTime<Utc>> {
        self.model.paused_at
    }
    /// Why it was paused (personal, like the note: sealed, read with the right to read the subject's values).
    #[graphql(complexity = 10)]
    async fn pause_reason(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        self.open_sealed(
            ctx,
            "request.pause_reason",
            self.model.pause_reason_sealed.as_deref(),
            |key, sealed| requests::open_reason(key, &self.model, requests::Reason::Pause, sealed),
        )
        .await
    }
    /// Calendar days the request spent paused, over every pause so far.
    async fn paused_days(&self) -> i32 {
        self.model.paused_days
    }
    async fn extended_at(&self) -> Option<DateTime<Utc>> {
        self.model.extended_at
    }
    /// Why its deadline was extended (personal, like the note: sealed, read with the right to read the subject's values).
    #[graphql(complexity = 10)]
    async fn extension_reason(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        self.open_sealed(
            ctx,
            "request.extension_reason",
            self.model.extension_reason_sealed.as_deref(),
            |key, sealed| {
                requests::open_reason(key, &self.model, requests::Reason::Extension, sealed)
            },
        )
        .await
    }
    /// Why it was rejected (personal, like the note: sealed, read with the right to read the subject's values).
    #[graphql(complexity = 10)]
    async fn rejection_reason(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        self.open_sealed(
            ctx,
            "request.rejection_reason",
            self.model.rejection_reason_sealed.as_deref(),
            |key, sealed| {
                requests::open_reason(key, &self.model, requests::Reason::Rejection, sealed)
            },
        )
        .await
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.model.completed_at
    }
    async fn handled_by(&self) -> Option<&str> {
        self.model.handled_by.as_deref()
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// What an erasure deleted (no values: counts per category), once its job ran.
    #[graphql(complexity = "10 + child_complexity")]
    async fn erasure(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ErasureRecord>> {
        if self.model.kind != RequestKind::Erasure {
            return Ok(None);
        }
        let scope = open_scope(ctx, Some(&self.tenant()), Permission::RequestRead).await?;
        let Some(t) = requests::tombstone(&scope, &self.model).await? else {
            return Ok(None);
        };
        let data_key_destroyed =
            crate::erasure::key_destroyed(&scope, SubjectId(self.model.subject_id)).await?;
        Ok(Some(ErasureRecord {
            erased_at: t.erased_at,
            values_erased: t.values_erased,
            data_key_destroyed,
            counts: t
                .counts
                .0
                .into_iter()
                .map(|(category, count)| CategoryCount { category, count })
                .collect(),
        }))
    }
    /// Where an erasure was passed on: one entry per sub-processor that received the subject's data.
    #[graphql(complexity = "10 + child_complexity")]
    async fn propagations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ErasurePropagation>> {
        if self.model.kind != RequestKind::Erasure {
            return Ok(Vec::new());
        }
        let scope = open_scope(ctx, Some(&self.tenant()), Permission::RequestRead).await?;
        Ok(
            crate::erasure::propagation::propagations(&scope, RequestId(self.model.id))
                .await?
                .into_iter()
                .map(ErasurePropagation)
                .collect(),
        )
    }
    /// The export of a completed access or portability request, while it can be downloaded.
    #[graphql(complexity = "10 + child_complexity")]
    async fn export(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ExportInfo>> {
        let scope = open_scope(ctx, Some(&self.tenant()), Permission::RequestRead).await?;
        Ok(requests::export_of(&scope, RequestId(self.model.id))
            .await?
            .map(|e| ExportInfo {
                id: ID(e.id.to_string()),
                created_at: e.created_at,
                expires_at: e.expires_at,
                downloads: e.downloads,
            }))
    }
    /// A rectification's changes, before and after (personal: the tenant's readers of values only).
    #[graphql(complexity = "10 + child_complexity")]
    async fn rectification(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Json<Value>>> {
        if self.model.kind != RequestKind::Rectification {
            return Ok(None);
        }
        let scope = open_scope(ctx, Some(&self.tenant()), Permission::PiiRead).await?;
        // Values like any other: withheld while the subject is restricted, and a staff read is logged.
        let Ok(subject) = crate::subjects::get(&scope, SubjectId(self.model.subject_id)).await
        else {
            return Ok(None);
        };
        crate::subjects::graphql::pii(ctx)?
            .check_read(&scope, &subject, "subject.rectification")
            .await?;
        Ok(requests::rectification_log(&scope, &self.model)
            .await?
            .map(Json))
    }
}

#[derive(SimpleObject)]
pub struct CategoryCount {
    pub category: String,
    pub count: i64,
}

/// The tombstone of an erasure.
#[derive(SimpleObject)]
pub struct ErasureRecord {
    pub erased_at: DateTime<Utc>,
    pub values_erased: i32,
    pub counts: Vec<CategoryCount>,
    /// Whether the subject's data key is gone, read from the databases now (no key in the region's subject-key
    /// database, no subject row).
    pub data_key_destroyed: bool,
}

#[derive(SimpleObject)]
pub struct ExportInfo {
    pub id: ID,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub downloads: i32,
}

#[derive(InputObject)]
pub struct RectificationInput {
    /// A personal data record of the subject.
    pub record_id: ID,
    /// Its corrected value.
    pub value: String,
}

#[derive(InputObject)]
pub struct SubmitDataSubjectRequestInput {
    /// Clients may omit it (their own tenant).
    pub tenant_id: Option<ID>,
    pub subject_id: ID,
    pub kind: RequestKind,
    /// A retried submit with the same key returns the first request instead of creating another.
    pub idempotency_key: Option<String>,
    pub note: Option<String>,
    /// RECTIFICATION only: the records to correct.
    #[graphql(default)]
    pub rectifications: Vec<RectificationInput>,
    /// The day you received the request from the person (default: today), within the last year. Your own one-month
    /// deadline (Art. 12(3)) runs from it: see `controllerDueOn` and `deadlineWarning`.
    pub controller_received_on: Option<NaiveDate>,
    /// OBJECTION only, and required there: the purpose the person objects to (a taxonomy purpose, e.g.
    /// `marketing.communications.email`). Once the request is started, the subject's values held for it are
    /// restricted until the objection is rejected; upheld, they stay restricted.
    pub objected_purpose: Option<String>,
}

#[derive(InputObject, Default)]
pub struct RequestFilterInput {
    pub state: Option<RequestState>,
    pub kind: Option<RequestKind>,
    pub subject_id: Option<ID>,
    /// `true`: only requests past their due date and still open.
    pub overdue: Option<bool>,
    /// Only open requests due within this many calendar days from today.
    pub due_within_days: Option<i32>,
}

impl RequestFilterInput {
    fn into_filter(self) -> Result<RequestFilter, AppError> {
        Ok(RequestFilter {
            state: self.state,
            kind: self.kind,
            subject_id: self
                .subject_id
                .as_ref()
                .map(|id| SubjectId::parse("subjectId", id))
                .transpose()?,
            overdue: self.overdue,
            due_within_days: self.due_within_days,
        })
    }
}

/// The downloadable export of an access or portability request.
#[derive(SimpleObject)]
pub struct SubjectExport {
    pub request_id: ID,
    pub subject_id: ID,
    pub expires_at: DateTime<Utc>,
    /// Everything Steward holds about the subject: values with category, purpose, source and dates; onward
    /// transfers; requests.
    pub document: Json<Value>,
}

/// A signed erasure certificate. Verify `signature` (Ed25519, base64) over the UTF-8 bytes of `document` with
/// `publicKey` (base64; also published at `/.well-known/steward-signing-key.json`).
#[derive(SimpleObject)]
pub struct ErasureCertificate {
    pub document: String,
    pub signature: String,
    pub public_key: String,
    pub algorithm: String,
}

/// A job of the durable queue.
#[derive(SimpleObject)]
pub struct Job {
    pub id: ID,
    /// `control` or the region whose database holds it.
    pub queue: String,
    pub kind: String,
    pub tenant_id: Option<ID>,
    pub state: JobState,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<crate::jobs::JobRecord> for Job {
    fn from(j: crate::jobs::JobRecord) -> Self {
        let m = j.model;
        Job {
            id: ID(m.id.to_string()),
            queue: j.queue,
            kind: m.kind,
            tenant_id: m.tenant_id.map(|t| ID(t.to_string())),
            state: m.state,
            attempts: m.attempts,
            max_attempts: m.max_attempts,
            run_at: m.run_at,
            last_error: m.last_error,
            created_at: m.created_at,
            finished_at: m.finished_at,
        }
    }
}

/// A notice to privacy officers (request reminders, dead jobs).
#[derive(SimpleObject)]
pub struct StaffNotice {
    pub id: ID,
    pub kind: String,
    pub tenant_id: Option<ID>,
    pub object_id: Option<String>,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct RequestQuery;

#[Object]
impl RequestQuery {
    /// Requests from individuals. Clients see their own tenant's; staff name a tenant, or leave `tenantId` out to
    /// work the queue of every tenant (privacy officers). Oldest first.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    async fn data_subject_requests(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        filter: Option<RequestFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Conn<DataSubjectRequest>> {
        let page = Page::new(first, after.as_deref())?;
        let filter = filter.unwrap_or_default().into_filter()?;
        let principal = principal(ctx)?;
        if tenant_id.is_none() && principal.kind == steward_policy::ActorKind::Staff {
            let tenancy = tenancy(ctx)?;
            let platform = tenancy
                .require_platform(principal, Permission::RequestRead)
                .await?;
            let found = requests::list_all(platform, page, &filter).await?;
            let mut clocks = std::collections::HashMap::new();
            for (_, r) in &found.rows {
                if let std::collections::hash_map::Entry::Vacant(slot) = clocks.entry(r.tenant_id) {
                    let tenant = crate::ids::TenantId(r.tenant_id);
                    let record = tenancy
                        .find(tenant)
                        .await?
                        .ok_or_else(|| AppError::NotFound(format!("no tenant {tenant}")))?;
                    slot.insert(record.clock()?);
                }
            }
            return Ok(connection(
                found,
                |(_, r)| r.id.to_string(),
                |(_, model)| DataSubjectRequest {
                    clock: clocks[&model.tenant_id],
                    model,
                },
            ));
        }
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RequestRead).await?;
        let clock = scope.tenant().clock()?;
        let found = requests::list(&scope, page, &filter).await?;
        Ok(connection(
            found,
            |r| r.id.to_string(),
            |model| DataSubjectRequest { model, clock },
        ))
    }

    async fn data_subject_request(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
    ) -> async_graphql::Result<DataSubjectRequest> {
        let id = RequestId::parse("id", &id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RequestRead).await?;
        Ok(DataSubjectRequest {
            model: requests::get(&scope, id).await?,
            clock: scope.tenant().clock()?,
        })
    }

    /// Downloads the export of a completed access or portability request (the tenant's `client_admin`), within
    /// its download window. Each download is audited.
    async fn subject_export(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        request_id: ID,
    ) -> async_graphql::Result<SubjectExport> {
        let request_id = RequestId::parse("requestId", &request_id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RequestSubmit).await?;
        let (export, document) = requests::download_export(&scope, request_id).await?;
        Ok(SubjectExport {
            request_id: ID(export.request_id.to_string()),
            subject_id: ID(export.subject_id.to_string()),
            expires_at: export.expires_at,
            document: Json(document),
        })
    }

    /// The signed certificate of a completed erasure request.
    async fn erasure_certificate(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        request_id: ID,
    ) -> async_graphql::Result<ErasureCertificate> {
        let request_id = RequestId::parse("requestId", &request_id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RequestRead).await?;
        let issuer = ctx
            .data::<crate::accountability::records::Processor>()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let cert = requests::certificate(tenancy(ctx)?, &scope, request_id, &issuer).await?;
        Ok(ErasureCertificate {
            document: cert.document,
            signature: cert.signature,
            public_key: cert.public_key,
            algorithm: "Ed25519".into(),
        })
    }

    /// Jobs of the durable queue in one state, newest first (privacy officers): `DEAD` ones need attention.
    async fn jobs(&self, ctx: &Context<'_>, state: JobState) -> async_graphql::Result<Vec<Job>> {
        let tenancy = tenancy(ctx)?;
        tenancy
            .require_platform(principal(ctx)?, Permission::RequestHandle)
            .await?;
        Ok(crate::jobs::list(tenancy, state)
            .await?
            .into_iter()
            .map(Job::from)
            .collect())
    }

    /// Notices to privacy officers (request reminders, overdue requests, dead jobs), newest first, at most 100.
    async fn staff_notices(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<StaffNotice>> {
        let tenancy = tenancy(ctx)?;
        let platform = tenancy
            .require_platform(principal(ctx)?, Permission::RequestHandle)
            .await?;
        let rows = staff_notice::Entity::find()
            .filter(staff_notice::Column::Role.eq("privacy_officer"))
            .order_by_desc(staff_notice::Column::CreatedAt)
            .limit(100)
            .all(platform.control())
            .await
            .map_err(AppError::from)?;
        Ok(rows
            .into_iter()
            .map(|n| StaffNotice {
                id: ID(n.id.to_string()),
                kind: n.kind,
                tenant_id: n.tenant_id.map(|t| ID(t.to_string())),
                object_id: n.object_id,
                title: n.title,
                body: n.body,
                created_at: n.created_at,
            })
            .collect())
    }
}

#[derive(Default)]
pub struct RequestMutation;

/// The privacy officers' scope on a request's tenant, and the request id.
async fn handle_scope(
    ctx: &Context<'_>,
    tenant_id: Option<&ID>,
    id: &ID,
) -> Result<(crate::tenancy::Scope, RequestId), AppError> {
    let id = RequestId::parse("id", id)?;
    Ok((
        open_scope(ctx, tenant_id, Permission::RequestHandle).await?,
        id,
    ))
}

fn answer(
    scope: &crate::tenancy::Scope,
    model: dsr_request::Model,
) -> Result<DataSubjectRequest, AppError> {
    Ok(DataSubjectRequest {
        model,
        clock: scope.tenant().clock()?,
    })
}

#[Object]
impl RequestMutation {
    /// Submits a request on behalf of one of the tenant's data subjects (the tenant's `client_admin`).
    async fn submit_data_subject_request(
        &self,
        ctx: &Context<'_>,
        input: SubmitDataSubjectRequestInput,
    ) -> async_graphql::Result<DataSubjectRequest> {
        let subject_id = SubjectId::parse("subjectId", &input.subject_id)?;
        let rectifications = input
            .rectifications
            .iter()
            .map(|r| Ok((RecordId::parse("recordId", &r.record_id)?, r.value.clone())))
            .collect::<Result<Vec<_>, AppError>>()?;
        let scope = open_scope(ctx, input.tenant_id.as_ref(), Permission::RequestSubmit).await?;
        let model = requests::submit(
            &scope,
            Submission {
                subject_id,
                kind: input.kind,
                idempotency_key: input.idempotency_key,
                note: input.note,
                rectifications,
                controller_received_on: input.controller_received_on,
                objected_purpose: input.objected_purpose,
            },
        )
        .await?;
        Ok(answer(&scope, model)?)
    }

    /// `RECEIVED → IN_PROGRESS` (privacy officer). An erasure is queued at once; a restriction takes effect.
    async fn start_data_subject_request(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
        version: i32,
    ) -> async_graphql::Result<DataSubjectRequest> {
        let (scope, id) = handle_scope(ctx, tenant_id.as_ref(), &id).await?;
        let model = requests::start(&scope, id, version).await?;
        Ok(answer(&scope, model)?)
    }

    /// `IN_PROGRESS → PAUSED`, awaiting information from the controller: the deadline's clock stops.
    async fn pause_data_subject_request(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
        version: i32,
        reason: String,
    ) -> async_graphql::Result<DataSubjectRequest> {
        let (scope, id) = handle_scope(ctx, tenant_id.as_ref(), &id).await?;
        let model = requests::pause(&scope, id, version, &reason).await?;
        Ok(answer(&scope, model)?)
    }

    /// `PAUSED → IN_PROGRESS`: the days left when paused count again from today.
    async fn resume_data_subject_request(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
        version: i32,
    ) -> async_graphql::Result<DataSubjectRequest> {
        let (scope, id) = handle_scope(ctx, tenant_id.as_ref(), &id).await?;
        let model = requests::resume(&scope, id, version).await?;
        Ok(answer(&scope, model)?)
    }

    /// Extends the deadline once by `days` (1-60) of the request's basis, with a reason.
    async fn extend_data_subject_request(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
        version: i32,
        days: i32,
        reason: String,
    ) -> async_graphql::Result<DataSubjectRequest> {
        let (scope, id) = handle_scope(ctx, tenant_id.as_ref(), &id).await?;
        let model = requests::extend(&scope, id, version, days, &reason).await?;
        Ok(answer(&scope, model)?)
    }

    /// Rejects a request, with the reason the controller will see.
    async fn reject_data_subject_request(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
        version: i32,
        reason: String,
    ) -> async_graphql::Result<DataSubjectRequest> {
        let (scope, id) = handle_scope(ctx, tenant_id.as_ref(), &id).await?;
        let model = requests::reject(&scope, id, version, &reason).await?;
        Ok(answer(&scope, model)?)
    }

    /// `IN_PROGRESS → COMPLETED`. Access/portability: the export is produced. Rectification: the changes are
    /// applied. Erasure: only once the erasure ran and every propagation is acknowledged or confirmed.
    async fn complete_data_subject_request(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
        version: i32,
    ) -> async_graphql::Result<DataSubjectRequest> {
        let (scope, id) = handle_scope(ctx, tenant_id.as_ref(), &id).await?;
        let model = requests::complete(tenancy(ctx)?, &scope, id, version).await?;
        Ok(answer(&scope, model)?)
    }

    /// Lifts a subject's restriction (the tenant's `client_admin`, the controller's decision).
    async fn lift_restriction(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        subject_id: ID,
        reason: String,
    ) -> async_graphql::Result<bool> {
        let subject_id = SubjectId::parse("subjectId", &subject_id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RequestSubmit).await?;
        requests::lift_restriction(&scope, subject_id, &reason).await?;
        Ok(true)
    }

    /// Puts a dead job back in the queue with fresh attempts (privacy officer).
    async fn retry_job(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Job> {
        let id = JobId::parse("id", &id)?;
        let tenancy = tenancy(ctx)?;
        let principal = principal(ctx)?;
        tenancy
            .require_platform(principal, Permission::RequestHandle)
            .await?;
        Ok(Job::from(crate::jobs::retry(tenancy, principal, id).await?))
    }
}
