//! Data subjects and their personal data: created, rectified and listed within one tenant's [`Scope`].
//!
//! Values are sealed with the subject's data key before they reach the database and opened only by
//! [`pii`](crate::subjects::values) for callers allowed to read them. Emails are found through their blind index. Audit events
//! name subjects and records by id and list categories, never values.

mod page;

pub use page::*;

pub mod children;
pub mod graphql;
pub mod values;

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sea_orm::sea_query::Query;
use sea_orm::sqlx::{self, Row};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityName, QueryFilter, QueryOrder,
    QueryTrait, Select, Set,
};
use serde_json::json;
use steward_entities::{data_subject, guardian_consent, personal_data};
use uuid::Uuid;

use crate::audit::AuditEntry;
use crate::crypto::SubjectKey;
use crate::error::AppError;
use crate::ids::{RecordId, RequestId, SubjectId};
use crate::pagination::{Page, PageOf};
use crate::taxonomy::{self, Format};
use crate::tenancy::{Scope, Work};
pub use children::{AgeBand, ChildrenRule, age_band};

const MAX_EXTERNAL_ID_CHARS: usize = 200;
const MAX_SOURCE_CHARS: usize = 200;
/// Personal data records one call may create with a subject.
pub const MAX_RECORDS_PER_CALL: usize = 50;
/// Records one subject may hold: a subject's answer (and a page of them) stays bounded.
pub const MAX_RECORDS_PER_SUBJECT: u64 = 200;

/// A value to record about a subject.
#[derive(Clone, Debug)]
pub struct NewPersonalData {
    pub category: String,
    pub value: String,
    pub purpose: String,
    pub source: String,
    pub collected_at: Option<DateTime<Utc>>,
}

/// What `updatePersonalData` may change (rectification).
#[derive(Clone, Debug, Default)]
pub struct PersonalDataChange {
    pub value: Option<String>,
    pub purpose: Option<String>,
    pub source: Option<String>,
}

/// A parent's or guardian's consent to processing a minor's data.
#[derive(Clone, Debug)]
pub struct GuardianConsent {
    /// Who consented (personal: stored sealed).
    pub guardian: String,
    /// How it was given, e.g. `written`, `electronic_signature`, `verified_email`, `in_person`.
    pub method: String,
    pub given_at: DateTime<Utc>,
}

/// Filters of `dataSubjects`.
#[derive(Clone, Debug, Default)]
pub struct SubjectFilter {
    pub external_id: Option<String>,
    pub email: Option<String>,
    pub category: Option<String>,
    /// Only these subjects (a staff member's lookup limited to the subjects its grants name).
    pub only: Option<Vec<Uuid>>,
}

impl SubjectFilter {
    /// Filters by value reveal whether someone is a subject: they need the right to read values.
    pub fn names_values(&self) -> bool {
        self.external_id.is_some() || self.email.is_some()
    }

    /// No filter: a page is then a run of the tenant's subjects with consecutive ids.
    pub fn is_empty(&self) -> bool {
        self.external_id.is_none()
            && self.email.is_none()
            && self.category.is_none()
            && self.only.is_none()
    }
}

/// Creates a subject, its data key and its first records, in one transaction.
pub async fn create(
    scope: &Scope,
    external_id: &str,
    birth_date: Option<NaiveDate>,
    records: Vec<NewPersonalData>,
    guardian: Option<GuardianConsent>,
) -> Result<(data_subject::Model, Vec<personal_data::Model>), AppError> {
    let external_id = clean_external_id(external_id)?;
    if records.len() > MAX_RECORDS_PER_CALL {
        return Err(AppError::BadInput(format!(
            "at most {MAX_RECORDS_PER_CALL} personal data records per call"
        )));
    }
    let checked = records
        .into_iter()
        .map(check_record)
        .collect::<Result<Vec<_>, _>>()?;
    let birth_date = birth_date.map(taxonomy::check_past_date).transpose()?;
    let guardian = guardian.map(check_guardian).transpose()?;
    children::check_create(
        children::rule_of(scope).await?,
        birth_date.map(age_band),
        !checked.is_empty(),
        guardian.is_some(),
    )?;

    let tenant = scope.tenant_id();
    let id = Uuid::now_v7();
    let key = SubjectKey::generate(tenant, id).map_err(AppError::internal)?;
    let now = Utc::now();
    // The key first, in the subject-key database: if the subject's transaction then fails, the key is taken back (a
    // key left behind opens nothing, its subject never existed).
    let wrapped = scope
        .tenant_key()
        .wrap(id, &key)
        .map_err(AppError::internal)?;
    scope.subject_keys().put(id, wrapped).await?;
    let created = insert_subject(
        scope,
        id,
        &key,
        &external_id,
        birth_date,
        checked,
        guardian,
        now,
    )
    .await;
    if created.is_err()
        && let Err(e) = scope.subject_keys().delete(&[id]).await
    {
        tracing::warn!(error = %e, subject = %id, "the key of a subject not created stays in the subject-key database");
    }
    created
}

/// The region's part of [`create`]: the subject, its records and its guardian's consent, in one transaction.
#[allow(clippy::too_many_arguments)]
async fn insert_subject(
    scope: &Scope,
    id: Uuid,
    key: &SubjectKey,
    external_id: &str,
    birth_date: Option<NaiveDate>,
    checked: Vec<CheckedRecord>,
    guardian: Option<GuardianConsent>,
    now: chrono::DateTime<Utc>,
) -> Result<(data_subject::Model, Vec<personal_data::Model>), AppError> {
    let txn = scope.begin().await?;
    let subject = txn
        .insert(data_subject::ActiveModel {
            id: Set(id),
            external_id_sealed: Set(seal_external_id(key, external_id)?),
            external_id_index: Set(scope.external_id_index(external_id)),
            // Kept apart: the key is in the subject-key database.
            wrapped_key: Set(Vec::new()),
            birth_date_sealed: Set(birth_date.map(|d| seal_birth_date(key, d)).transpose()?),
            restricted_at: Set(None),
            restricted_by_request: Set(None),
            known_under_13: Set(false),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .await
        .map_err(|e| {
            AppError::on_unique(e, || {
                "this tenant already has a subject with that externalId".into()
            })
        })?;
    let mut inserted = Vec::with_capacity(checked.len());
    for record in checked {
        inserted.push(insert_record(scope, &txn, &subject, key, record, now).await?);
    }
    if let Some(guardian) = guardian {
        insert_consent(scope, &txn, SubjectId(id), key, guardian, now).await?;
    }
    let categories: Vec<&str> = inserted.iter().map(|r| r.category.as_str()).collect();
    txn.commit(
        AuditEntry::by(scope.principal(), "subject.created", "data_subject", id)
            .with_detail(json!({ "categories": categories, "birth_date": birth_date.is_some() })),
    )
    .await?;
    Ok((subject, inserted))
}

/// Changes a subject's external id and/or birth date (`Some(None)` clears it).
/// Raises the erasure owed for a child under 13, inside the transaction of the subject update that learned of it
/// (`None` when one was raised before). The requests room implements it (`requests::ChildErasures`) and the schema
/// hands it to the resolvers, so this room needs nothing above it.
#[async_trait::async_trait]
pub trait ChildErasure: Send + Sync {
    async fn raise(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        scope: &Scope,
        subject: SubjectId,
    ) -> Result<Option<RequestId>, AppError>;
}

pub async fn update(
    scope: &Scope,
    id: SubjectId,
    external_id: Option<&str>,
    birth_date: Option<Option<NaiveDate>>,
    known_under_13: Option<bool>,
    children: &dyn ChildErasure,
) -> Result<data_subject::Model, AppError> {
    let subject = get(scope, id).await?;
    let external_id = external_id.map(clean_external_id).transpose()?;
    let birth_date = birth_date
        .map(|d| d.map(taxonomy::check_past_date).transpose())
        .transpose()?;
    if external_id.is_none() && birth_date.is_none() && known_under_13.is_none() {
        return Err(AppError::BadInput(
            "nothing to change: give `externalId`, `birthDate` or `knownUnder13`".into(),
        ));
    }
    refuse_if_restricted(&subject)?;
    let rule = children::rule_of(scope).await?;
    if known_under_13 == Some(false) && subject.known_under_13 {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::ChildUnder13,
            message: "a subject known to be under 13 stays so".into(),
        });
    }
    let becomes_child = !subject.known_under_13
        && (known_under_13 == Some(true)
            || matches!(birth_date, Some(Some(d)) if age_band(d) == AgeBand::Under13));
    // Under the seed's rule a child under 13 learned of is erased; under the controller's own rule it is a minor
    // whose data needs a guardian's consent.
    let erase_child = becomes_child && rule == ChildrenRule::Seed;
    let key = subject_key(scope, &subject).await?;
    let mut changed = Vec::new();
    let mut model: data_subject::ActiveModel = subject.clone().into();
    if let Some(external_id) = external_id {
        model.external_id_sealed = Set(seal_external_id(&key, &external_id)?);
        model.external_id_index = Set(scope.external_id_index(&external_id));
        changed.push("external_id");
    }
    if let Some(birth_date) = birth_date {
        model.birth_date_sealed = Set(birth_date.map(|d| seal_birth_date(&key, d)).transpose()?);
        changed.push("birth_date");
    }
    if becomes_child {
        model.known_under_13 = Set(true);
        changed.push("known_under_13");
    }
    model.updated_at = Set(Utc::now());
    let txn = scope.begin().await?;
    let updated = model.update(&txn).await.map_err(|e| {
        AppError::on_unique(e, || {
            "this tenant already has a subject with that externalId".into()
        })
    })?;
    let raised = if erase_child {
        children.raise(&txn, scope, id).await?
    } else {
        None
    };
    txn.commit(
        AuditEntry::by(scope.principal(), "subject.updated", "data_subject", id)
            .with_detail(json!({ "changed": changed, "raised_erasure": raised })),
    )
    .await?;
    Ok(updated)
}

/// Records one more value about a subject.
pub async fn add_personal_data(
    scope: &Scope,
    subject_id: SubjectId,
    record: NewPersonalData,
) -> Result<personal_data::Model, AppError> {
    let record = check_record(record)?;
    let subject = get(scope, subject_id).await?;
    let key = subject_key(scope, &subject).await?;
    let txn = scope.begin().await?;
    // The subject's row, read again and locked (PostgreSQL; SQLite has one writer) in the transaction that adds the
    // value: the limit, a restriction and an age set meanwhile are checked on what the insert commits against, so
    // two adds at once cannot both pass the limit, nor one slip past a restriction that starts beside it.
    let mut locked = txn
        .find::<data_subject::Entity>()
        .filter(data_subject::Column::Id.eq(subject_id));
    if txn.get_database_backend() == DbBackend::Postgres {
        locked = sea_orm::QuerySelect::lock(locked, sea_orm::sea_query::LockType::Update);
    }
    let subject = locked
        .one(&txn)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no data subject {subject_id}")))?;
    refuse_if_restricted(&subject)?;
    refuse_if_objected(&txn, txn.find(), subject.id, &record.purpose).await?;
    children::check_may_add(&txn, children::rule_of(scope).await?, &subject, &key).await?;
    let held = crate::pagination::count(
        txn.find::<personal_data::Entity>()
            .filter(personal_data::Column::SubjectId.eq(subject_id)),
        &txn,
    )
    .await?;
    if held >= MAX_RECORDS_PER_SUBJECT {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::TooManyRecords,
            message: format!(
                "a subject holds at most {MAX_RECORDS_PER_SUBJECT} personal data records; rectify or erase one first"
            ),
        });
    }
    let inserted = insert_record(scope, &txn, &subject, &key, record, Utc::now()).await?;
    txn.commit(AuditEntry::by(scope.principal(), "personal_data.added", "personal_data", inserted.id)
            .with_detail(json!({ "subject": subject_id, "category": inserted.category, "purpose": inserted.purpose }))).await?;
    Ok(inserted)
}

/// Rectifies a record: a new value (re-sealed), purpose or source.
pub async fn update_personal_data(
    scope: &Scope,
    id: RecordId,
    change: PersonalDataChange,
) -> Result<personal_data::Model, AppError> {
    if change.value.is_none() && change.purpose.is_none() && change.source.is_none() {
        return Err(AppError::BadInput(
            "nothing to change: give `value`, `purpose` or `source`".into(),
        ));
    }
    let record = scope
        .find::<personal_data::Entity>()
        .filter(personal_data::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no personal data record {id}")))?;
    let subject = get(scope, SubjectId(record.subject_id)).await?;
    refuse_if_restricted(&subject)?;
    refuse_if_value_restricted(&record)?;
    let key = subject_key(scope, &subject).await?;
    let category = taxonomy::category(&record.category)?;
    let mut model: personal_data::ActiveModel = record.clone().into();
    let mut changed = Vec::new();
    if let Some(value) = &change.value {
        let value = taxonomy::check_value(category, value)?;
        model.sealed_value = Set(key
            .seal(&record.category, &value)
            .map_err(AppError::internal)?);
        model.blind_index = Set(blind_index_for(scope, category.format, &value));
        changed.push("value");
    }
    if let Some(purpose) = &change.purpose {
        let purpose = taxonomy::purpose(purpose)?.key.clone();
        refuse_if_objected(scope.db(), scope.find(), subject.id, &purpose).await?;
        model.purpose = Set(purpose);
        changed.push("purpose");
    }
    if let Some(source) = &change.source {
        let source = clean_source(source)?;
        model.source_sealed = Set(seal_source(&key, id, &source)?);
        changed.push("source");
    }
    model.updated_at = Set(Utc::now());
    let txn = scope.begin().await?;
    let updated = model.update(&txn).await?;
    txn.commit(AuditEntry::by(scope.principal(), "personal_data.rectified", "personal_data", id)
            .with_detail(json!({ "subject": record.subject_id, "category": record.category, "changed": changed }))).await?;
    Ok(updated)
}

/// Records a parent's or guardian's consent for a minor (13 to 17 under the seed's rule; any age under 18 under the
/// controller's rule for all minors).
pub async fn record_guardian_consent(
    scope: &Scope,
    subject_id: SubjectId,
    consent: GuardianConsent,
) -> Result<guardian_consent::Model, AppError> {
    let consent = check_guardian(consent)?;
    let subject = get(scope, subject_id).await?;
    let key = subject_key(scope, &subject).await?;
    children::check_consent(
        children::rule_of(scope).await?,
        &subject,
        open_birth_date(&key, &subject)?.map(age_band),
    )?;
    let txn = scope.begin().await?;
    let model = insert_consent(
        scope,
        &txn,
        SubjectId(subject.id),
        &key,
        consent,
        Utc::now(),
    )
    .await?;
    txn.commit(
        AuditEntry::by(
            scope.principal(),
            "guardian_consent.recorded",
            "data_subject",
            subject.id,
        )
        .with_detail(json!({ "consent": model.id, "method": model.method })),
    )
    .await?;
    Ok(model)
}

/// The states in which an objection restricts its purpose: being handled, or upheld.
const OBJECTION_STANDS: [steward_entities::dsr_request::RequestState; 3] = [
    steward_entities::dsr_request::RequestState::InProgress,
    steward_entities::dsr_request::RequestState::Paused,
    steward_entities::dsr_request::RequestState::Completed,
];

/// Refuses processing a subject's data for `purpose` when the person objected to it (Art. 21) and the objection is
/// being handled or was upheld. `requests` is the tenant's request table from its door (`scope.find()` or
/// `work.find()`), read on `db`.
pub async fn refuse_if_objected<C: sea_orm::ConnectionTrait>(
    db: &C,
    requests: sea_orm::Select<steward_entities::dsr_request::Entity>,
    subject: Uuid,
    purpose: &str,
) -> Result<(), AppError> {
    use steward_entities::dsr_request;
    let standing = requests
        .filter(dsr_request::Column::SubjectId.eq(subject))
        .filter(dsr_request::Column::Kind.eq(dsr_request::RequestKind::Objection))
        .filter(dsr_request::Column::ObjectedPurpose.eq(purpose))
        .filter(dsr_request::Column::State.is_in(OBJECTION_STANDS));
    if crate::pagination::count(standing, db).await? > 0 {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::PurposeObjected,
            message: format!(
                "the person objected to processing their data for `{purpose}` (Art. 21): not while the objection is \
                 handled or once it was upheld"
            ),
        });
    }
    Ok(())
}

/// A value an objection restricts is not changed except through the request.
fn refuse_if_value_restricted(record: &personal_data::Model) -> Result<(), AppError> {
    if let Some(request) = record.restricted_by_request {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::PurposeObjected,
            message: format!(
                "this value is restricted by the person's objection (request {request}) to processing for `{}`",
                record.purpose
            ),
        });
    }
    Ok(())
}

/// A restricted subject's data is not changed except through its requests.
pub fn refuse_if_restricted(subject: &data_subject::Model) -> Result<(), AppError> {
    if subject.restricted_at.is_some() {
        return Err(AppError::Refused {
            reason: crate::error::RefusalReason::SubjectRestricted,
            message: "processing of this subject is restricted; lift the restriction first".into(),
        });
    }
    Ok(())
}

const GUARDIAN_METHODS: [&str; 5] = [
    "written",
    "electronic_signature",
    "verified_email",
    "in_person",
    "other",
];

fn check_guardian(consent: GuardianConsent) -> Result<GuardianConsent, AppError> {
    let guardian = crate::validate::text("guardian", &consent.guardian, 200)?;
    let method = consent.method.trim().to_lowercase();
    if !GUARDIAN_METHODS.contains(&method.as_str()) {
        return Err(AppError::BadInput(format!(
            "`method` must be one of {}",
            GUARDIAN_METHODS.join(", ")
        )));
    }
    if consent.given_at > Utc::now() + chrono::Duration::minutes(5) {
        return Err(AppError::BadInput("`givenAt` is in the future".into()));
    }
    Ok(GuardianConsent {
        guardian,
        method,
        given_at: consent.given_at,
    })
}

async fn insert_consent(
    scope: &Scope,
    txn: &Work,
    subject: SubjectId,
    key: &SubjectKey,
    consent: GuardianConsent,
    now: DateTime<Utc>,
) -> Result<guardian_consent::Model, AppError> {
    Ok(txn
        .insert(guardian_consent::ActiveModel {
            id: Set(Uuid::now_v7()),
            subject_id: Set(subject.0),
            guardian_sealed: Set(key
                .seal(crate::subjects::GUARDIAN_CONTEXT, &consent.guardian)
                .map_err(AppError::internal)?),
            method: Set(consent.method),
            given_at: Set(consent.given_at),
            recorded_by: Set(scope.principal().label()),
            created_at: Set(now),
            ..Default::default()
        })
        .await?)
}

pub(crate) const GUARDIAN_CONTEXT: &str = "subject.guardian";

/// Age in whole years on `today`.
pub fn age_on(birth: NaiveDate, today: NaiveDate) -> i32 {
    let mut age = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// The subject's data key: read from the region's subject-key database, unwrapped with the tenant key.
pub async fn subject_key(
    scope: &Scope,
    subject: &data_subject::Model,
) -> Result<SubjectKey, AppError> {
    let wrapped = scope
        .subject_keys()
        .get(subject.id)
        .await?
        .ok_or_else(|| key_erased(subject.id))?;
    unwrap_subject_key(scope, subject.id, &wrapped)
}

/// A subject's wrapped key (as [`crate::tenancy::SubjectKeys`] returns it), unwrapped with the tenant key.
pub fn unwrap_subject_key(
    scope: &Scope,
    subject: Uuid,
    wrapped: &[u8],
) -> Result<SubjectKey, AppError> {
    scope
        .tenant_key()
        .unwrap(subject, wrapped)
        .map_err(|e| AppError::internal(anyhow::anyhow!("subject {subject}: {e}")))
}

/// A subject whose key is gone: it was erased, and this row is from a region database restored from a backup taken
/// before (`steward restore` deletes it). Its values open no more.
pub fn key_erased(subject: Uuid) -> AppError {
    AppError::NotFound(format!(
        "data subject {subject} was erased: its key is gone, and its values with it"
    ))
}

/// Opens one record's value. Callers decide first whether the reader may see it ([`crate::subjects::values`]).
pub(crate) fn open_value(
    key: &SubjectKey,
    record: &personal_data::Model,
) -> Result<String, AppError> {
    key.open(&record.category, &record.sealed_value)
        .map_err(|e| AppError::internal(anyhow::anyhow!("record {}: {e}", record.id)))
}

pub(crate) fn open_birth_date(
    key: &SubjectKey,
    subject: &data_subject::Model,
) -> Result<Option<NaiveDate>, AppError> {
    subject
        .birth_date_sealed
        .as_ref()
        .map(|sealed| {
            let text = key
                .open(BIRTH_DATE_CONTEXT, sealed)
                .map_err(|e| AppError::internal(anyhow::anyhow!("subject {}: {e}", subject.id)))?;
            NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(AppError::internal)
        })
        .transpose()
}

const BIRTH_DATE_CONTEXT: &str = "subject.birth_date";

/// Opens the subject's external id. Callers decide first whether the reader may see it ([`crate::subjects::values`]).
pub(crate) fn open_external_id(
    key: &SubjectKey,
    subject: &data_subject::Model,
) -> Result<String, AppError> {
    key.open(
        steward_migration::EXTERNAL_ID_CONTEXT,
        &subject.external_id_sealed,
    )
    .map_err(|e| AppError::internal(anyhow::anyhow!("subject {}: {e}", subject.id)))
}

fn seal_external_id(key: &SubjectKey, external_id: &str) -> Result<Vec<u8>, AppError> {
    key.seal(steward_migration::EXTERNAL_ID_CONTEXT, external_id)
        .map_err(AppError::internal)
}

/// Opens a record's source (bound to the record). Callers decide first whether the reader may see it.
pub(crate) fn open_source(
    key: &SubjectKey,
    record: &personal_data::Model,
) -> Result<String, AppError> {
    key.open(
        &steward_migration::source_context(record.id),
        &record.source_sealed,
    )
    .map_err(|e| AppError::internal(anyhow::anyhow!("record {}: {e}", record.id)))
}

fn seal_source(key: &SubjectKey, record: RecordId, source: &str) -> Result<Vec<u8>, AppError> {
    key.seal(&steward_migration::source_context(record.0), source)
        .map_err(AppError::internal)
}

fn seal_birth_date(key: &SubjectKey, date: NaiveDate) -> Result<Vec<u8>, AppError> {
    key.seal(BIRTH_DATE_CONTEXT, &date.format("%Y-%m-%d").to_string())
        .map_err(AppError::internal)
}

/// A record that passed every check, ready to seal.
struct CheckedRecord {
    category: &'static taxonomy::Category,
    value: String,
    purpose: String,
    source: String,
    collected_at: DateTime<Utc>,
}

fn check_record(record: NewPersonalData) -> Result<CheckedRecord, AppError> {
    let category = taxonomy::category(record.category.trim())?;
    let purpose = taxonomy::purpose(record.purpose.trim())?.key.clone();
    let value = taxonomy::check_value(category, &record.value)?;
    let source = clean_source(&record.source)?;
    let now = Utc::now();
    let collected_at = record.collected_at.unwrap_or(now);
    // A little clock skew between the client and us is tolerated; a collection date in the future is not.
    if collected_at > now + chrono::Duration::minutes(5) {
        return Err(AppError::BadInput("`collectedAt` is in the future".into()));
    }
    Ok(CheckedRecord {
        category,
        value,
        purpose,
        source,
        collected_at,
    })
}

async fn insert_record(
    scope: &Scope,
    txn: &Work,
    subject: &data_subject::Model,
    key: &SubjectKey,
    record: CheckedRecord,
    now: DateTime<Utc>,
) -> Result<personal_data::Model, AppError> {
    let sealed = key
        .seal(&record.category.key, &record.value)
        .map_err(AppError::internal)?;
    let id = Uuid::now_v7();
    Ok(txn
        .insert(personal_data::ActiveModel {
            id: Set(id),
            subject_id: Set(subject.id),
            category: Set(record.category.key.clone()),
            purpose: Set(record.purpose),
            source_sealed: Set(seal_source(key, RecordId(id), &record.source)?),
            collected_at: Set(record.collected_at),
            sealed_value: Set(sealed),
            blind_index: Set(blind_index_for(
                scope,
                record.category.format,
                &record.value,
            )),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        })
        .await?)
}

fn blind_index_for(scope: &Scope, format: Format, value: &str) -> Option<String> {
    (format == Format::Email).then(|| scope.blind_index(&taxonomy::normalise_email(value)))
}

fn clean_external_id(raw: &str) -> Result<String, AppError> {
    let id = raw.trim();
    if id.is_empty()
        || id.chars().count() > MAX_EXTERNAL_ID_CHARS
        || id.chars().any(crate::validate::hidden)
    {
        return Err(AppError::BadInput(format!(
            "`externalId` must be 1-{MAX_EXTERNAL_ID_CHARS} printable characters (no control, zero-width or \
             direction-changing characters)"
        )));
    }
    Ok(id.to_owned())
}

fn clean_source(raw: &str) -> Result<String, AppError> {
    let source = raw.trim();
    if source.is_empty()
        || source.chars().count() > MAX_SOURCE_CHARS
        || source.chars().any(char::is_control)
    {
        return Err(AppError::BadInput(format!(
            "`source` (where the data came from) must be 1-{MAX_SOURCE_CHARS} printable characters"
        )));
    }
    Ok(source.to_owned())
}

#[cfg(test)]
mod tests {
    use sea_orm::{IdenStatic, Iterable};

    use super::*;

    #[test]
    fn ages_turn_on_the_birthday() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(age_on(d("2013-11-29"), d("2026-11-28")), 12);
        assert_eq!(age_on(d("2013-11-29"), d("2026-11-29")), 13);
        assert_eq!(age_on(d("2008-02-29"), d("2026-02-28")), 17);
        assert_eq!(age_on(d("2008-02-29"), d("2026-03-01")), 18);
    }

    /// The positional decoders read every column of the two tables once, or say why not: a column added to an entity
    /// must be added to a list (and to the decoder, which the compiler enforces through the struct literal).
    #[test]
    fn positional_columns_cover_the_entities() {
        let mut subject: Vec<&str> = data_subject::Column::iter().map(|c| c.as_str()).collect();
        let mut listed = [&SUBJECT_COLUMNS[..], &SUBJECT_NOT_READ[..]].concat();
        subject.sort_unstable();
        listed.sort_unstable();
        assert_eq!(subject, listed);
        let mut record: Vec<&str> = personal_data::Column::iter().map(|c| c.as_str()).collect();
        let mut listed = [&RECORD_COLUMNS[..], &RECORD_NOT_READ[..]].concat();
        record.sort_unstable();
        listed.sort_unstable();
        assert_eq!(record, listed);
    }
}
