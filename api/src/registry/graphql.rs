//! The sub-processor registry, change notices, objections, transfer mechanisms, onward transfers and the record of
//! processing.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use steward_entities::change_notice::{ChangeKind, ChangeNoticeStatus};
use steward_entities::{
    change_notice, objection, onward_transfer, subprocessor, subprocessor_revision,
};
use steward_policy::{ActorKind, Permission};

use crate::error::AppError;
use crate::graphql::{open_scope, principal, tenancy};
use crate::ids::{ChangeNoticeId, ObjectionId, SubProcessorId, SubjectId};
use crate::registry::{
    self, Resolution, SubProcessorInput, SubProcessorStatus, transfers::TransferInput,
};

/// A company that helps us provide the service and may receive clients' personal data.
pub struct SubProcessor(pub subprocessor::Model);

#[Object]
impl SubProcessor {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn legal_entity(&self) -> &str {
        &self.0.legal_entity
    }
    async fn website(&self) -> &str {
        &self.0.website
    }
    /// The service it provides.
    async fn purpose(&self) -> &str {
        &self.0.purpose
    }
    /// Where it processes data (ISO 3166-1 alpha-2).
    async fn countries(&self) -> &[String] {
        &self.0.countries.0
    }
    /// The data categories it may receive.
    async fn categories(&self) -> &[String] {
        &self.0.categories.0
    }
    /// The transfer mechanisms it has signed.
    async fn mechanisms(&self) -> &[String] {
        &self.0.mechanisms.0
    }
    /// Certified under the Data Privacy Framework.
    async fn dpf_certified(&self) -> bool {
        self.0.dpf_certified
    }
    async fn dpa_signed_on(&self) -> Option<NaiveDate> {
        self.0.dpa_signed_on
    }
    async fn status(&self) -> SubProcessorStatus {
        self.0.status
    }
    async fn replaces(&self) -> Option<ID> {
        self.0.replaces.map(|r| ID(r.to_string()))
    }
    /// Wider terms announced for this entry and not yet in effect: its current terms apply until `effectiveOn`.
    async fn pending_change(&self) -> Option<PendingChange> {
        let t = self.0.pending_terms.clone()?;
        Some(PendingChange {
            effective_on: self.0.pending_effective_on?,
            name: t.name,
            legal_entity: t.legal_entity,
            website: t.website,
            purpose: t.purpose,
            countries: t.countries,
            categories: t.categories,
            mechanisms: t.mechanisms,
            dpf_certified: t.dpf_certified,
        })
    }
    async fn effective_on(&self) -> Option<NaiveDate> {
        self.0.effective_on
    }
    /// How erasure requests reach it: `webhook` (signed HTTPS call, acknowledged by its answer) or `manual` (sent by
    /// hand, confirmed by a named person).
    async fn erasure_method(&self) -> &str {
        if self.0.erasure_endpoint.is_some() {
            "webhook"
        } else {
            "manual"
        }
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Every change: who, when, why, before and after. Those without the registry's full view (clients, staff
    /// without a role) see the changes from its announcement on, never what was proposed before.
    #[graphql(complexity = "10 + child_complexity")]
    async fn revisions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Revision>> {
        let public_only = !full_view(ctx).await?;
        let found =
            registry::revisions(tenancy(ctx)?, SubProcessorId(self.0.id), public_only).await?;
        Ok(found.into_iter().map(Revision::from).collect())
    }
}

/// Where a sub-processor takes erasure requests.
/// The terms a sub-processor in use will have from `effectiveOn`, announced to its tenants.
#[derive(SimpleObject)]
pub struct PendingChange {
    pub effective_on: NaiveDate,
    pub name: String,
    pub legal_entity: String,
    pub website: String,
    pub purpose: String,
    pub countries: Vec<String>,
    pub categories: Vec<String>,
    pub mechanisms: Vec<String>,
    pub dpf_certified: bool,
}

#[derive(SimpleObject)]
pub struct ErasureEndpoint {
    pub sub_processor: SubProcessor,
    pub endpoint: Option<String>,
    /// The signing secret of its webhooks (`whsec_…`), shown this once; `null` for manual.
    pub signing_secret: Option<String>,
    /// After a rotation: until when requests also carry a signature made with the previous secret.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
}

#[derive(SimpleObject)]
pub struct Revision {
    pub id: ID,
    pub actor: String,
    pub at: DateTime<Utc>,
    /// proposed, updated, announced, activated, retiring, retired
    pub change: String,
    pub reason: String,
    /// JSON of the entry before the change (null for the first revision).
    pub before: Option<String>,
    /// JSON of the entry after the change.
    pub after: String,
}

impl From<subprocessor_revision::Model> for Revision {
    fn from(m: subprocessor_revision::Model) -> Self {
        Revision {
            id: ID(m.id.to_string()),
            actor: m.actor,
            at: m.at,
            change: m.change,
            reason: m.reason,
            before: m.before.map(|b| b.to_string()),
            after: m.after.to_string(),
        }
    }
}

/// A tenant's objection to a sub-processor change, and how legal resolved it.
#[derive(SimpleObject)]
#[graphql(name = "Objection")]
pub struct ObjectionGql {
    pub id: ID,
    pub notice_id: ID,
    pub tenant_id: ID,
    pub sub_processor_id: ID,
    pub reason: String,
    pub raised_by: String,
    pub raised_at: DateTime<Utc>,
    pub resolution: Option<Resolution>,
    pub resolution_note: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<objection::Model> for ObjectionGql {
    fn from(m: objection::Model) -> Self {
        ObjectionGql {
            id: ID(m.id.to_string()),
            notice_id: ID(m.notice_id.to_string()),
            tenant_id: ID(m.tenant_id.to_string()),
            sub_processor_id: ID(m.sub_processor_id.to_string()),
            reason: m.reason,
            raised_by: m.raised_by,
            raised_at: m.raised_at,
            resolution: m.resolution,
            resolution_note: m.resolution_note,
            resolved_by: m.resolved_by,
            resolved_at: m.resolved_at,
        }
    }
}

/// A sub-processor change announced to one tenant.
pub struct ChangeNotice(change_notice::Model);

#[Object]
impl ChangeNotice {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn kind(&self) -> ChangeKind {
        self.0.kind
    }
    async fn effective_on(&self) -> NaiveDate {
        self.0.effective_on
    }
    async fn status(&self) -> ChangeNoticeStatus {
        self.0.status
    }
    #[graphql(complexity = "10 + child_complexity")]
    async fn sub_processor(&self, ctx: &Context<'_>) -> async_graphql::Result<SubProcessor> {
        Ok(SubProcessor(
            registry::get(tenancy(ctx)?, SubProcessorId(self.0.sub_processor_id)).await?,
        ))
    }
    #[graphql(complexity = "10 + child_complexity")]
    async fn objection(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ObjectionGql>> {
        let all = registry::objections(
            tenancy(ctx)?,
            Some(crate::ids::TenantId(self.0.tenant_id)),
            false,
        )
        .await?;
        // The newest: a client that withdrew its objection may have objected again.
        Ok(all
            .into_iter()
            .filter(|o| o.notice_id == self.0.id)
            .max_by_key(|o| o.id)
            .map(Into::into))
    }
}

/// The sub-processor list as one tenant stands on it: what it accepted when it was created, and each public entry with
/// its own standing.
#[derive(SimpleObject)]
pub struct SubProcessorList {
    /// The registry's version now: its number of revisions, which only grows (the list as of version n is the
    /// registry after its first n revisions).
    pub version: i32,
    /// The version the tenant accepted when it was created; null for a tenant created before acceptance was recorded.
    pub accepted_version: Option<i32>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub entries: Vec<SubProcessorEntry>,
}

/// One public entry of the list and where it stands for the tenant.
#[derive(SimpleObject)]
pub struct SubProcessorEntry {
    pub sub_processor: SubProcessor,
    pub standing: registry::Standing,
    /// The change notice that stands for this entry (the newest); null when the tenant was never told of it.
    pub notice: Option<ChangeNotice>,
    /// The tenant's objection to that notice, resolved or not.
    pub objection: Option<ObjectionGql>,
}

#[derive(SimpleObject)]
pub struct OnwardTransfer {
    pub id: ID,
    pub tenant_id: ID,
    pub sub_processor_id: ID,
    pub categories: Vec<String>,
    pub purpose: String,
    pub subject_count: i32,
    pub mechanism: Option<String>,
    pub countries: Vec<String>,
    pub transferred_on: NaiveDate,
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
}

impl OnwardTransfer {
    fn from_model(m: onward_transfer::Model) -> Self {
        OnwardTransfer {
            id: ID(m.id.to_string()),
            tenant_id: ID(m.tenant_id.to_string()),
            sub_processor_id: ID(m.sub_processor_id.to_string()),
            categories: m.categories.0,
            purpose: m.purpose,
            subject_count: m.subject_count,
            mechanism: m.mechanism,
            countries: m.countries.0,
            transferred_on: m.transferred_on,
            recorded_by: m.recorded_by,
            created_at: m.created_at,
        }
    }
}

/// Whether the caller sees proposed entries and their history: staff whose platform role reads the registry.
async fn full_view(ctx: &Context<'_>) -> Result<bool, AppError> {
    let principal = principal(ctx)?;
    Ok(principal.kind == ActorKind::Staff
        && tenancy(ctx)?
            .require_platform(principal, Permission::SubprocessorRead)
            .await
            .is_ok())
}

#[derive(Default)]
pub struct RegistryQuery;

#[Object]
impl RegistryQuery {
    /// The sub-processor list. Staff with a role that reads the registry see everything; everyone else (clients,
    /// staff without a role) sees what is announced, active or retiring.
    async fn sub_processors(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SubProcessor>> {
        let public_only = !full_view(ctx).await?;
        Ok(registry::list(tenancy(ctx)?, public_only)
            .await?
            .into_iter()
            .map(SubProcessor)
            .collect())
    }

    /// One sub-processor with its revisions (a proposed one is `NOT_FOUND` without the registry's full view).
    async fn sub_processor(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<SubProcessor> {
        let id = SubProcessorId::parse("id", &id)?;
        let found = registry::get(tenancy(ctx)?, id).await?;
        if !full_view(ctx).await? && !found.status.is_public() {
            return Err(AppError::NotFound(format!("no sub-processor {id}")).into());
        }
        Ok(SubProcessor(found))
    }

    /// A tenant's sub-processor change notices, newest first.
    async fn change_notices(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Vec<ChangeNotice>> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::SubprocessorRead).await?;
        let found = registry::notices_of(&scope).await?;
        Ok(found.into_iter().map(ChangeNotice).collect())
    }

    /// The sub-processor list as the tenant stands on it, in one query: each public entry with its standing (accepted
    /// at onboarding, notified, objected, active, blocked, excluded), its notice and its objection.
    async fn sub_processor_list(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<SubProcessorList> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::SubprocessorRead).await?;
        let list = registry::standings(tenancy(ctx)?, &scope).await?;
        let narrow = |v: i64| i32::try_from(v).unwrap_or(i32::MAX);
        Ok(SubProcessorList {
            version: narrow(list.version),
            accepted_version: list.accepted_version.map(narrow),
            accepted_at: list.accepted_at,
            entries: list
                .entries
                .into_iter()
                .map(|(sp, standing, notice, objection)| SubProcessorEntry {
                    sub_processor: SubProcessor(sp),
                    standing,
                    notice: notice.map(ChangeNotice),
                    objection: objection.map(Into::into),
                })
                .collect(),
        })
    }

    /// Every objection, newest first (legal); `openOnly` for those awaiting a resolution.
    async fn objections(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] open_only: bool,
    ) -> async_graphql::Result<Vec<ObjectionGql>> {
        let tenancy = tenancy(ctx)?;
        tenancy
            .require_platform(principal(ctx)?, Permission::SubprocessorManage)
            .await?;
        Ok(registry::objections(tenancy, None, open_only)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Where a tenant's data went: its onward transfers, newest first.
    async fn onward_transfers(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Vec<OnwardTransfer>> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::TransferRead).await?;
        let found = registry::transfers::transfers_of(&scope).await?;
        Ok(found.into_iter().map(OnwardTransfer::from_model).collect())
    }

    /// Every transfer to one sub-processor, across tenants (legal).
    async fn transfers_to_sub_processor(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Vec<OnwardTransfer>> {
        let id = SubProcessorId::parse("id", &id)?;
        let found = registry::transfers::transfers_to(tenancy(ctx)?, principal(ctx)?, id).await?;
        Ok(found.into_iter().map(OnwardTransfer::from_model).collect())
    }
}

#[derive(InputObject)]
#[graphql(name = "SubProcessorInput")]
pub struct SubProcessorInputGql {
    pub name: String,
    pub legal_entity: String,
    /// An http(s) URL.
    pub website: String,
    /// The service it provides.
    pub purpose: String,
    /// ISO 3166-1 alpha-2 codes.
    pub countries: Vec<String>,
    /// Taxonomy category keys.
    pub categories: Vec<String>,
    /// Keys from `transferMechanisms`.
    #[graphql(default)]
    pub mechanisms: Vec<String>,
    #[graphql(default)]
    pub dpf_certified: bool,
    pub dpa_signed_on: Option<NaiveDate>,
    /// The sub-processor this one replaces.
    pub replaces: Option<ID>,
}

impl SubProcessorInputGql {
    fn into_input(self) -> Result<SubProcessorInput, AppError> {
        Ok(SubProcessorInput {
            replaces: self
                .replaces
                .as_ref()
                .map(|r| SubProcessorId::parse("replaces", r))
                .transpose()?,
            name: self.name,
            legal_entity: self.legal_entity,
            website: self.website,
            purpose: self.purpose,
            countries: self.countries,
            categories: self.categories,
            mechanisms: self.mechanisms,
            dpf_certified: self.dpf_certified,
            dpa_signed_on: self.dpa_signed_on,
        })
    }
}

#[derive(InputObject)]
pub struct OnwardTransferInput {
    pub tenant_id: ID,
    pub sub_processor_id: ID,
    pub categories: Vec<String>,
    pub purpose: String,
    /// The subjects whose data was sent (kept so erasure can reach the recipient), or else `subjectCount`.
    pub subject_ids: Option<Vec<ID>>,
    pub subject_count: Option<i32>,
    /// Required when a destination country has no adequacy decision.
    pub mechanism: Option<String>,
    /// Defaults to today.
    pub transferred_on: Option<NaiveDate>,
}

#[derive(SimpleObject)]
pub struct Announcement {
    pub sub_processor: SubProcessor,
    /// How many tenants were sent a change notice.
    pub tenants_notified: i32,
}

#[derive(Default)]
pub struct RegistryMutation;

#[Object]
impl RegistryMutation {
    /// Adds a sub-processor as `PROPOSED` (legal). Proposed entries are never shown to clients or the public.
    async fn propose_sub_processor(
        &self,
        ctx: &Context<'_>,
        input: SubProcessorInputGql,
        reason: String,
    ) -> async_graphql::Result<SubProcessor> {
        let input = input.into_input()?;
        Ok(SubProcessor(
            registry::propose(tenancy(ctx)?, principal(ctx)?, input, &reason).await?,
        ))
    }

    /// Changes a sub-processor's details, keeping a revision (legal). On an entry in use, terms that reach further
    /// (more countries or categories, another purpose or legal entity) are announced to its tenants as a change
    /// (`pendingChange`), with their notice period and objections, effective `effectiveOn` (default: the longest
    /// notice period); its current terms stay in force until then. Other changes apply at once. The input replaces
    /// the whole entry: send every field as it should be (read it first); one left out is cleared (`dpaSignedOn`,
    /// `mechanisms`, …), and the revision shows it.
    async fn update_sub_processor(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: SubProcessorInputGql,
        reason: String,
        effective_on: Option<NaiveDate>,
    ) -> async_graphql::Result<SubProcessor> {
        let id = SubProcessorId::parse("id", &id)?;
        let input = input.into_input()?;
        Ok(SubProcessor(
            registry::update(
                tenancy(ctx)?,
                principal(ctx)?,
                id,
                input,
                &reason,
                effective_on,
            )
            .await?,
        ))
    }

    /// Withdraws a change announced for a sub-processor in use and not yet in effect (legal): its terms stay as they
    /// are, and every tenant told of the change is told it is withdrawn.
    async fn withdraw_sub_processor_change(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<SubProcessor> {
        let id = SubProcessorId::parse("id", &id)?;
        Ok(SubProcessor(
            registry::withdraw_change(tenancy(ctx)?, principal(ctx)?, id, &reason).await?,
        ))
    }

    /// Announces a proposed sub-processor to every tenant whose data it would receive (legal).
    async fn announce_sub_processor(
        &self,
        ctx: &Context<'_>,
        id: ID,
        effective_on: Option<NaiveDate>,
        reason: String,
    ) -> async_graphql::Result<Announcement> {
        let id = SubProcessorId::parse("id", &id)?;
        let (sp, count) =
            registry::announce(tenancy(ctx)?, principal(ctx)?, id, effective_on, &reason).await?;
        Ok(Announcement {
            sub_processor: SubProcessor(sp),
            tenants_notified: i32::try_from(count).unwrap_or(i32::MAX),
        })
    }

    /// Sets where the sub-processor takes erasure requests (legal): an `https://` webhook, or `null` for manual
    /// requests confirmed by a named person. A webhook gets a new random signing secret (`whsec_…`), in the answer
    /// only, to hand to the sub-processor; requests follow Standard Webhooks (`webhook-id`, `webhook-timestamp`,
    /// `webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`). Nullable, so an error in another
    /// field of the same document cannot take the answer, and the secret, with it.
    async fn set_sub_processor_erasure_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        endpoint: Option<String>,
    ) -> async_graphql::Result<Option<ErasureEndpoint>> {
        let id = SubProcessorId::parse("id", &id)?;
        let (sp, secret) =
            registry::set_erasure_endpoint(tenancy(ctx)?, principal(ctx)?, id, endpoint.as_deref())
                .await?;
        Ok(Some(ErasureEndpoint {
            endpoint: sp.erasure_endpoint.clone(),
            signing_secret: secret,
            previous_secret_valid_until: None,
            sub_processor: SubProcessor(sp),
        }))
    }

    /// Gives the sub-processor's erasure webhook a new random signing secret (legal), in the answer only. For
    /// `overlapHours` (default 24, at most 168; 0 for none) requests carry signatures with both the new and the
    /// previous secret, so the sub-processor can switch without refusing one. Nullable, like
    /// `setSubProcessorErasureEndpoint`.
    async fn rotate_sub_processor_erasure_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = 24)] overlap_hours: i32,
    ) -> async_graphql::Result<Option<ErasureEndpoint>> {
        let id = SubProcessorId::parse("id", &id)?;
        let (sp, secret, until) =
            registry::rotate_erasure_secret(tenancy(ctx)?, principal(ctx)?, id, overlap_hours)
                .await?;
        Ok(Some(ErasureEndpoint {
            endpoint: sp.erasure_endpoint.clone(),
            signing_secret: Some(secret),
            previous_secret_valid_until: until,
            sub_processor: SubProcessor(sp),
        }))
    }

    /// Moves a sub-processor to `RETIRING`, then to `RETIRED` (legal).
    async fn retire_sub_processor(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<SubProcessor> {
        let id = SubProcessorId::parse("id", &id)?;
        Ok(SubProcessor(
            registry::retire(tenancy(ctx)?, principal(ctx)?, id, &reason).await?,
        ))
    }

    /// Objects to a change before its effective date (the tenant's `client_admin`).
    async fn object_to_change(
        &self,
        ctx: &Context<'_>,
        notice_id: ID,
        reason: String,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<ObjectionGql> {
        let notice_id = ChangeNoticeId::parse("noticeId", &notice_id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::SubprocessorObject).await?;
        Ok(registry::object(tenancy(ctx)?, &scope, notice_id, &reason)
            .await?
            .into())
    }

    /// Withdraws the tenant's own objection (the tenant's `client_admin`): the change then proceeds for the tenant —
    /// at once if its effective date has passed, otherwise on that date. A resolved objection cannot be withdrawn.
    async fn withdraw_objection(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<ObjectionGql> {
        let id = ObjectionId::parse("id", &id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::SubprocessorObject).await?;
        Ok(registry::withdraw(tenancy(ctx)?, &scope, id).await?.into())
    }

    /// Resolves an objection (legal).
    async fn resolve_objection(
        &self,
        ctx: &Context<'_>,
        id: ID,
        resolution: Resolution,
        note: Option<String>,
    ) -> async_graphql::Result<ObjectionGql> {
        let id = ObjectionId::parse("id", &id)?;
        let resolved = registry::resolve(
            tenancy(ctx)?,
            principal(ctx)?,
            id,
            resolution,
            note.as_deref(),
        )
        .await?;
        Ok(resolved.into())
    }

    /// Records an onward transfer of a tenant's personal data, or refuses it with a reason code in
    /// `extensions.reason` (legal).
    async fn record_onward_transfer(
        &self,
        ctx: &Context<'_>,
        input: OnwardTransferInput,
    ) -> async_graphql::Result<OnwardTransfer> {
        let scope = open_scope(ctx, Some(&input.tenant_id), Permission::TransferManage).await?;
        let transfer = TransferInput {
            sub_processor_id: SubProcessorId::parse("subProcessorId", &input.sub_processor_id)?,
            categories: input.categories,
            purpose: input.purpose,
            subject_ids: input
                .subject_ids
                .map(|ids| {
                    ids.iter()
                        .map(|i| SubjectId::parse("subjectIds", i))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?,
            subject_count: input.subject_count,
            mechanism: input.mechanism,
            transferred_on: input.transferred_on,
        };
        Ok(OnwardTransfer::from_model(
            registry::transfers::record_transfer(tenancy(ctx)?, &scope, transfer).await?,
        ))
    }

    /// Sets a tenant's contractual notice period for sub-processor changes, in days (platform admin).
    async fn set_notice_period(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        days: i32,
    ) -> async_graphql::Result<bool> {
        let scope = open_scope(ctx, Some(&tenant_id), Permission::TenantLifecycle).await?;
        registry::set_notice_period(tenancy(ctx)?, &scope, days).await?;
        Ok(true)
    }
}
