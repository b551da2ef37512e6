//! Data subjects and personal data: `taxonomy`, `dataSubjects`, `dataSubject`, `createDataSubject`,
//! `updateDataSubject`, `addPersonalData`, `updatePersonalData`.
//!
//! Metadata (ids, categories present, timestamps) needs `subject:read`; every personal value (`externalId`,
//! `birthDate`, `value`) is checked field by field through [`PiiContext`], so a caller without the right sees `null`
//! with a `FORBIDDEN` error at that path and the rest of the answer intact.

use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use steward_entities::{data_subject, personal_data};
use steward_policy::Permission;
use uuid::Uuid;

use crate::error::AppError;
use crate::graphql::principal;
use crate::graphql::types::{Conn, connection};
use crate::ids::{RecordId, SubjectId};
use crate::pagination::{Page, PageOf};
use crate::subjects::values::PiiContext;
use crate::subjects::{self, NewPersonalData, PersonalDataChange, SubjectFilter};
use crate::taxonomy;
use crate::tenancy::Scope;

pub(crate) fn pii<'a>(ctx: &Context<'a>) -> Result<&'a Arc<PiiContext>, AppError> {
    ctx.data::<Arc<PiiContext>>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("request without a PiiContext")))
}

async fn open_scope(
    ctx: &Context<'_>,
    tenant_id: Option<&ID>,
    permission: Permission,
) -> Result<Arc<Scope>, AppError> {
    Ok(Arc::new(
        crate::graphql::open_scope(ctx, tenant_id, permission).await?,
    ))
}

/// A person whose personal data the tenant has us process.
pub struct DataSubject {
    scope: Arc<Scope>,
    model: Arc<data_subject::Model>,
    /// Records fetched with the page (so a page costs the same number of queries whatever its size), or on first use
    /// by `categories` or `personalData`, once for both.
    records: tokio::sync::OnceCell<Arc<Vec<personal_data::Model>>>,
}

impl DataSubject {
    fn new(
        scope: Arc<Scope>,
        model: data_subject::Model,
        records: Option<Vec<personal_data::Model>>,
    ) -> Self {
        DataSubject {
            scope,
            model: Arc::new(model),
            records: tokio::sync::OnceCell::new_with(records.map(Arc::new)),
        }
    }

    async fn records(&self) -> Result<Arc<Vec<personal_data::Model>>, AppError> {
        self.records
            .get_or_try_init(|| async {
                let mut grouped = subjects::records_of(&self.scope, &[self.model.id]).await?;
                Ok(Arc::new(grouped.remove(&self.model.id).unwrap_or_default()))
            })
            .await
            .cloned()
    }
}

// Resolved field after field (`serial`): none of its fields waits on anything but `records`, which is shared, and
// async-graphql's concurrent resolution would build a `FuturesUnordered` for each of a page's subjects. (A doc comment
// here would become the type's description in the schema.)
#[Object(serial)]
impl DataSubject {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    /// The tenant's own reference for the person (personal: needs the right to read values).
    async fn external_id(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let pii = pii(ctx)?;
        pii.check_read(&self.scope, &self.model, "subject.external_id")
            .await?;
        let key = pii.subject_key(&self.scope, &self.model).await?;
        Ok(Some(subjects::open_external_id(&key, &self.model)?))
    }
    /// Date of birth (personal: needs the right to read values).
    async fn birth_date(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<NaiveDate>> {
        let pii = pii(ctx)?;
        pii.check_read(&self.scope, &self.model, "subject.birth_date")
            .await?;
        let key = pii.subject_key(&self.scope, &self.model).await?;
        Ok(subjects::open_birth_date(&key, &self.model)?)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
    /// Since when processing is restricted (Art. 18): values are withheld from everyone until lifted.
    async fn restricted_since(&self) -> Option<DateTime<Utc>> {
        self.model.restricted_at
    }
    /// The restriction request that restricted the subject.
    async fn restricted_by_request(&self) -> Option<ID> {
        self.model
            .restricted_by_request
            .map(|id| ID(id.to_string()))
    }
    /// The person is known to be under 13: new personal data is refused and an erasure is under way.
    async fn known_under_13(&self) -> bool {
        self.model.known_under_13
    }
    /// The categories of data held about the person (metadata, no values).
    async fn categories(&self) -> async_graphql::Result<Vec<String>> {
        let mut categories: Vec<String> = self
            .records()
            .await?
            .iter()
            .map(|r| r.category.clone())
            .collect();
        categories.sort();
        categories.dedup();
        Ok(categories)
    }
    /// The records held about the person, optionally only some categories.
    async fn personal_data(
        &self,
        categories: Option<Vec<String>>,
    ) -> async_graphql::Result<Vec<PersonalData>> {
        let records = self.records().await?;
        Ok(records
            .iter()
            .enumerate()
            .filter(|(_, r)| categories.as_ref().is_none_or(|c| c.contains(&r.category)))
            .map(|(at, _)| PersonalData {
                scope: self.scope.clone(),
                subject: self.model.clone(),
                records: records.clone(),
                at,
            })
            .collect())
    }
}

/// One value of one category about one subject.
pub struct PersonalData {
    scope: Arc<Scope>,
    subject: Arc<data_subject::Model>,
    /// The subject's records as fetched, shared by the page's `PersonalData` objects instead of copied into each.
    records: Arc<Vec<personal_data::Model>>,
    /// Which of them this is.
    at: usize,
}

impl PersonalData {
    fn one(scope: Arc<Scope>, subject: data_subject::Model, record: personal_data::Model) -> Self {
        PersonalData {
            scope,
            subject: Arc::new(subject),
            records: Arc::new(vec![record]),
            at: 0,
        }
    }

    fn record(&self) -> &personal_data::Model {
        &self.records[self.at]
    }
}

// `serial` as `DataSubject`: a page holds dozens of these, each with a field or two.
#[Object(serial)]
impl PersonalData {
    async fn id(&self) -> ID {
        ID(self.record().id.to_string())
    }
    async fn subject_id(&self) -> ID {
        ID(self.record().subject_id.to_string())
    }
    async fn category(&self) -> &str {
        &self.record().category
    }
    async fn purpose(&self) -> &str {
        &self.record().purpose
    }
    /// Where the data came from (personal: it can name the person's employer, school or family; needs the right to
    /// read values, and each staff read is logged as `personal_data.source`).
    async fn source(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let pii = pii(ctx)?;
        pii.check_read(&self.scope, &self.subject, "personal_data.source")
            .await?;
        let key = pii.subject_key(&self.scope, &self.subject).await?;
        Ok(Some(subjects::open_source(&key, self.record())?))
    }
    async fn collected_at(&self) -> DateTime<Utc> {
        self.record().collected_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.record().created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.record().updated_at
    }
    /// The `OBJECTION` request that restricts this value (held for the purpose objected to): its value is read by
    /// nobody, and it is not changed or transferred, until the objection is rejected; upheld, it stays restricted.
    async fn restricted_by_request(&self) -> Option<ID> {
        self.record()
            .restricted_by_request
            .map(|id| ID(id.to_string()))
    }
    /// The value, decrypted (needs `pii:read`, or for staff an access grant covering the subject; every staff read
    /// is logged for the client).
    async fn value(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        // Restricted by the person's objection to its purpose: read by nobody until the controller rejects it.
        if let Some(request) = self.record().restricted_by_request {
            return Err(AppError::Forbidden(format!(
                "restricted: the person objected to processing for `{}` (request {request})",
                self.record().purpose
            ))
            .into());
        }
        let pii = pii(ctx)?;
        pii.check_read(&self.scope, &self.subject, &self.record().category)
            .await?;
        let key = pii.subject_key(&self.scope, &self.subject).await?;
        Ok(Some(subjects::open_value(&key, self.record())?))
    }
}

#[derive(SimpleObject)]
pub struct TaxonomyCategory {
    pub key: String,
    pub name: String,
    pub description: String,
    /// How values are checked: text, email, phone, date, ip_address.
    pub format: String,
}

#[derive(SimpleObject)]
pub struct TaxonomyPurpose {
    pub key: String,
    pub name: String,
    pub description: String,
}

#[derive(SimpleObject)]
pub struct Taxonomy {
    pub version: String,
    pub categories: Vec<TaxonomyCategory>,
    pub purposes: Vec<TaxonomyPurpose>,
}

#[derive(Default)]
pub struct PersonalQuery;

#[Object]
impl PersonalQuery {
    /// The data categories and purposes Steward accepts (versioned).
    async fn taxonomy(&self, ctx: &Context<'_>) -> async_graphql::Result<Taxonomy> {
        principal(ctx)?;
        let t = taxonomy::taxonomy();
        Ok(Taxonomy {
            version: t.version.clone(),
            categories: t
                .categories
                .iter()
                .map(|c| TaxonomyCategory {
                    key: c.key.clone(),
                    name: c.name.clone(),
                    description: c.description.clone(),
                    format: format!("{:?}", c.format).to_lowercase(),
                })
                .collect(),
            purposes: t
                .purposes
                .iter()
                .map(|p| TaxonomyPurpose {
                    key: p.key.clone(),
                    name: p.name.clone(),
                    description: p.description.clone(),
                })
                .collect(),
        })
    }

    /// A tenant's data subjects, oldest first. Filters by `externalId` or `email` need the right to read values.
    #[graphql(complexity = "first.unwrap_or(20).clamp(1, 100) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn data_subjects(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        first: Option<i32>,
        after: Option<String>,
        external_id: Option<String>,
        email: Option<String>,
        #[graphql(desc = "Only subjects with data of this category.")] category: Option<String>,
    ) -> async_graphql::Result<Conn<DataSubject>> {
        let page = Page::new(first, after.as_deref())?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::SubjectRead).await?;
        let mut filter = SubjectFilter {
            external_id,
            email,
            category,
            only: None,
        };
        let looked_up: Vec<&str> = [
            filter.email.as_ref().map(|_| "email"),
            filter.external_id.as_ref().map(|_| "external_id"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if filter.names_values()
            && let crate::subjects::values::LookupScope::Only(ids) =
                pii(ctx)?.check_lookup(&scope).await?
        {
            filter.only = Some(ids);
        }
        let with_total = ctx.look_ahead().field("totalCount").exists();
        let node = ctx.look_ahead().field("edges").field("node");
        let wants_records =
            node.field("personalData").exists() || node.field("categories").exists();
        // Records fetched with the page, so a page costs the same number of queries whatever its size: an unfiltered
        // page and its records in one statement, a filtered one in two.
        let (found, mut records) = if wants_records && filter.is_empty() {
            let both = subjects::page_with_records(&scope, page, with_total).await?;
            (both.page, Some(both.records))
        } else {
            let found = subjects::list(&scope, page, &filter, with_total).await?;
            let records = if wants_records {
                let ids: Vec<Uuid> = found.rows.iter().map(|s| s.id).collect();
                Some(subjects::records_of(&scope, &ids).await?)
            } else {
                None
            };
            (found, records)
        };
        if !looked_up.is_empty() {
            let ids: Vec<Uuid> = found.rows.iter().map(|s| s.id).collect();
            pii(ctx)?.record_lookup(&scope, &looked_up, &ids).await?;
        }
        // The page's subject keys (they live in the subject-key database), when values are asked: in one statement
        // for those this instance has not read lately (see `tenancy::SubjectKeys`).
        let fields = node.field("personalData");
        let wants_values = fields.field("value").exists()
            || fields.field("source").exists()
            || node.field("externalId").exists()
            || node.field("birthDate").exists();
        if wants_values && !found.rows.is_empty() {
            let ids: Vec<Uuid> = found.rows.iter().map(|s| s.id).collect();
            pii(ctx)?.prefetch_keys(&scope, &ids).await?;
        }
        let rows = found
            .rows
            .into_iter()
            .map(|model| {
                let own = records
                    .as_mut()
                    .map(|r| r.remove(&model.id).unwrap_or_default());
                DataSubject::new(scope.clone(), model, own)
            })
            .collect();
        let page = PageOf {
            rows,
            has_next: found.has_next,
            has_previous: found.has_previous,
            total: found.total,
        };
        Ok(connection(page, |s| s.model.id.to_string(), |s| s))
    }

    /// One data subject; another tenant's id is `NOT_FOUND`.
    async fn data_subject(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<DataSubject> {
        let id = SubjectId::parse("id", &id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::SubjectRead).await?;
        let model = subjects::get(&scope, id).await?;
        Ok(DataSubject::new(scope, model, None))
    }
}

#[derive(InputObject)]
pub struct PersonalDataInput {
    /// A taxonomy category key, e.g. `user.contact.email`.
    pub category: String,
    /// At most 4096 characters; checked by the category's format.
    pub value: String,
    /// A taxonomy purpose key, e.g. `essential.service`.
    pub purpose: String,
    /// Where the data came from, e.g. `signup form`.
    pub source: String,
    /// When it was collected; defaults to now.
    pub collected_at: Option<DateTime<Utc>>,
}

impl From<PersonalDataInput> for NewPersonalData {
    fn from(i: PersonalDataInput) -> Self {
        NewPersonalData {
            category: i.category,
            value: i.value,
            purpose: i.purpose,
            source: i.source,
            collected_at: i.collected_at,
        }
    }
}

#[derive(InputObject)]
pub struct CreateDataSubjectInput {
    /// Clients may omit it (their own tenant).
    pub tenant_id: Option<ID>,
    /// The tenant's own reference for the person, unique within the tenant.
    pub external_id: String,
    pub birth_date: Option<NaiveDate>,
    #[graphql(default)]
    pub personal_data: Vec<PersonalDataInput>,
    /// Required with personal data for a person aged 13 to 17.
    pub guardian_consent: Option<GuardianConsentInput>,
}

/// A parent's or guardian's consent to processing a minor's (13-17) personal data.
#[derive(InputObject)]
pub struct GuardianConsentInput {
    /// Who consented (personal; stored sealed).
    pub guardian: String,
    /// `written`, `electronic_signature`, `verified_email`, `in_person` or `other`.
    pub method: String,
    pub given_at: DateTime<Utc>,
}

impl From<GuardianConsentInput> for subjects::GuardianConsent {
    fn from(i: GuardianConsentInput) -> Self {
        subjects::GuardianConsent {
            guardian: i.guardian,
            method: i.method,
            given_at: i.given_at,
        }
    }
}

#[derive(InputObject)]
pub struct RecordGuardianConsentInput {
    pub tenant_id: Option<ID>,
    pub subject_id: ID,
    pub consent: GuardianConsentInput,
}

/// A recorded guardian consent (who consented is not shown here: it is personal data, in the subject's export).
#[derive(SimpleObject)]
pub struct GuardianConsentRecord {
    pub id: ID,
    pub subject_id: ID,
    pub method: String,
    pub given_at: DateTime<Utc>,
    pub recorded_by: String,
}

#[derive(InputObject)]
pub struct UpdateDataSubjectInput {
    pub tenant_id: Option<ID>,
    pub id: ID,
    pub external_id: Option<String>,
    /// A date sets it, `null` clears it, leaving it out keeps it. A date under 13 years ago raises an erasure.
    pub birth_date: MaybeUndefined<NaiveDate>,
    /// `true`: the client knows the person is under 13. Steward raises an erasure at once and refuses new data.
    pub known_under_13: Option<bool>,
}

#[derive(InputObject)]
pub struct AddPersonalDataInput {
    pub tenant_id: Option<ID>,
    pub subject_id: ID,
    pub category: String,
    pub value: String,
    pub purpose: String,
    pub source: String,
    pub collected_at: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
pub struct UpdatePersonalDataInput {
    pub tenant_id: Option<ID>,
    pub id: ID,
    pub value: Option<String>,
    pub purpose: Option<String>,
    pub source: Option<String>,
}

#[derive(Default)]
pub struct PersonalMutation;

#[Object]
impl PersonalMutation {
    /// Sets how the tenant's subjects who are children are treated (its `client_admin`: the controller's
    /// instruction; audited, shown in its record of processing). `SEED`, the default: nothing about a child under 13
    /// (one learned of is erased), a guardian's consent for 13 to 17. `GUARDIAN_FOR_ALL_MINORS`: a guardian's consent
    /// for every subject under 18, none refused or erased for age.
    async fn set_children_rule(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        rule: crate::subjects::ChildrenRule,
    ) -> async_graphql::Result<crate::subjects::ChildrenRule> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::TenantSettings).await?;
        // The controller's own instruction: its admins set it, never staff on its behalf.
        if scope.principal().kind != steward_policy::ActorKind::Client {
            return Err(crate::error::AppError::Forbidden(
                "the controller's own setting: the tenant's client_admin sets it".into(),
            )
            .into());
        }
        Ok(
            crate::subjects::children::set_rule(crate::graphql::tenancy(ctx)?, &scope, rule)
                .await?,
        )
    }

    /// Creates a data subject, with a fresh data key, and its first records (the tenant's `client_admin`).
    async fn create_data_subject(
        &self,
        ctx: &Context<'_>,
        input: CreateDataSubjectInput,
    ) -> async_graphql::Result<DataSubject> {
        let scope = open_scope(ctx, input.tenant_id.as_ref(), Permission::SubjectWrite).await?;
        let records = input.personal_data.into_iter().map(Into::into).collect();
        let (model, records) = subjects::create(
            &scope,
            &input.external_id,
            input.birth_date,
            records,
            input.guardian_consent.map(Into::into),
        )
        .await?;
        Ok(DataSubject::new(scope, model, Some(records)))
    }

    /// Changes a subject's `externalId` or birth date.
    async fn update_data_subject(
        &self,
        ctx: &Context<'_>,
        input: UpdateDataSubjectInput,
    ) -> async_graphql::Result<DataSubject> {
        let id = SubjectId::parse("id", &input.id)?;
        let scope = open_scope(ctx, input.tenant_id.as_ref(), Permission::SubjectWrite).await?;
        let birth_date = match input.birth_date {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(d) => Some(Some(d)),
        };
        let model = subjects::update(
            &scope,
            id,
            input.external_id.as_deref(),
            birth_date,
            input.known_under_13,
            ctx.data::<std::sync::Arc<dyn subjects::ChildErasure>>()
                .map_err(|_| AppError::internal(anyhow::anyhow!("schema without child erasures")))?
                .as_ref(),
        )
        .await?;
        Ok(DataSubject::new(scope, model, None))
    }

    /// Records a parent's or guardian's consent for a subject aged 13 to 17, so personal data can be added.
    async fn record_guardian_consent(
        &self,
        ctx: &Context<'_>,
        input: RecordGuardianConsentInput,
    ) -> async_graphql::Result<GuardianConsentRecord> {
        let subject_id = SubjectId::parse("subjectId", &input.subject_id)?;
        let scope = open_scope(ctx, input.tenant_id.as_ref(), Permission::SubjectWrite).await?;
        let model =
            subjects::record_guardian_consent(&scope, subject_id, input.consent.into()).await?;
        Ok(GuardianConsentRecord {
            id: ID(model.id.to_string()),
            subject_id: ID(model.subject_id.to_string()),
            method: model.method,
            given_at: model.given_at,
            recorded_by: model.recorded_by,
        })
    }

    /// Records one more value about a subject.
    async fn add_personal_data(
        &self,
        ctx: &Context<'_>,
        input: AddPersonalDataInput,
    ) -> async_graphql::Result<PersonalData> {
        let subject_id = SubjectId::parse("subjectId", &input.subject_id)?;
        let scope = open_scope(ctx, input.tenant_id.as_ref(), Permission::SubjectWrite).await?;
        let record = NewPersonalData {
            category: input.category,
            value: input.value,
            purpose: input.purpose,
            source: input.source,
            collected_at: input.collected_at,
        };
        let record = subjects::add_personal_data(&scope, subject_id, record).await?;
        let subject = subjects::get(&scope, subject_id).await?;
        Ok(PersonalData::one(scope, subject, record))
    }

    /// Rectifies a record: its value, purpose or source.
    async fn update_personal_data(
        &self,
        ctx: &Context<'_>,
        input: UpdatePersonalDataInput,
    ) -> async_graphql::Result<PersonalData> {
        let id = RecordId::parse("id", &input.id)?;
        let scope = open_scope(ctx, input.tenant_id.as_ref(), Permission::SubjectWrite).await?;
        let change = PersonalDataChange {
            value: input.value,
            purpose: input.purpose,
            source: input.source,
        };
        let record = subjects::update_personal_data(&scope, id, change).await?;
        let subject = subjects::get(&scope, SubjectId(record.subject_id)).await?;
        Ok(PersonalData::one(scope, subject, record))
    }
}
