//! Legal disclosures and breaches: `legalDisclosures`, `nondisclosureOrdersDueForReview`, `recordLegalDisclosure`,
//! `decideLegalDisclosure`, `reviewNondisclosureOrder`, `breaches`, `breachNotices`, `recordBreach`,
//! `acknowledgeBreachNotice`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use steward_entities::{breach, breach_notification, legal_disclosure};
use steward_policy::Permission;

use crate::accountability::{
    self, BREACH_HOURS, DecisionMade, DemandKind, DisclosureDecision, DisclosureDemand, Incident,
};
use crate::error::AppError;
use crate::graphql::open_scope;
use crate::graphql::types::parse_tenant_id;
use crate::graphql::{principal, tenancy};
use crate::ids::{BreachId, DisclosureId, SubProcessorId, SubjectId};

#[derive(SimpleObject)]
pub struct LegalDisclosure {
    pub id: ID,
    pub tenant_id: ID,
    pub kind: DemandKind,
    pub authority: String,
    pub reference: String,
    pub received_on: NaiveDate,
    pub scope: String,
    pub nondisclosure_order: bool,
    pub nondisclosure_until: Option<NaiveDate>,
    pub nondisclosure_reviewed_on: Option<NaiveDate>,
    /// Null while under review.
    pub decision: Option<DisclosureDecision>,
    pub decision_note: Option<String>,
    pub reviewer: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
    pub disclosed_categories: Option<Vec<String>>,
    pub disclosed_subject_ids: Option<Vec<ID>>,
    pub disclosed_on: Option<NaiveDate>,
    /// When the tenant was told; null while a non-disclosure order holds it back.
    pub notice_sent_at: Option<DateTime<Utc>>,
    pub recorded_by: String,
}

impl LegalDisclosure {
    fn from_model(m: legal_disclosure::Model) -> Result<Self, AppError> {
        Ok(LegalDisclosure {
            id: ID(m.id.to_string()),
            tenant_id: ID(m.tenant_id.to_string()),
            kind: m.kind,
            authority: m.authority,
            reference: m.reference,
            received_on: m.received_on,
            scope: m.scope,
            nondisclosure_order: m.nondisclosure_order,
            nondisclosure_until: m.nondisclosure_until,
            nondisclosure_reviewed_on: m.nondisclosure_reviewed_on,
            decision: m.decision,
            decision_note: m.decision_note,
            reviewer: m.reviewer,
            decided_at: m.decided_at,
            disclosed_categories: m.disclosed_categories.map(|c| c.0),
            disclosed_subject_ids: m
                .disclosed_subject_ids
                .map(|ids| ids.0.iter().map(|i| ID(i.to_string())).collect()),
            disclosed_on: m.disclosed_on,
            notice_sent_at: m.notice_sent_at,
            recorded_by: m.recorded_by,
        })
    }
}

/// One tenant's notification of a breach, measured against the 72-hour mark from detection.
#[derive(SimpleObject)]
pub struct BreachNotification {
    pub tenant_id: ID,
    pub notified_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    /// Hours from detection to notification.
    pub hours_to_notify: f64,
    /// Notified within 72 hours of detection.
    #[graphql(name = "notifiedWithin72h")]
    pub notified_within_72h: bool,
    /// About how many of the tenant's data subjects and records were concerned when it was told (Art. 33(3)(a));
    /// null for breaches recorded before this was counted.
    pub subjects_concerned: Option<i64>,
    pub records_concerned: Option<i64>,
    /// When privacy officers were reminded that the tenant had not acknowledged within 24 hours.
    pub reminded_at: Option<DateTime<Utc>>,
}

impl BreachNotification {
    fn new(b: &breach::Model, n: breach_notification::Model) -> Self {
        let hours = (n.notified_at - b.detected_at).num_seconds() as f64 / 3600.0;
        BreachNotification {
            tenant_id: ID(n.tenant_id.to_string()),
            notified_at: n.notified_at,
            acknowledged_at: n.acknowledged_at,
            acknowledged_by: n.acknowledged_by,
            hours_to_notify: (hours * 100.0).round() / 100.0,
            notified_within_72h: hours <= BREACH_HOURS as f64,
            subjects_concerned: n.subjects_concerned,
            records_concerned: n.records_concerned,
            reminded_at: n.reminded_at,
        }
    }
}

#[derive(SimpleObject)]
pub struct Breach {
    pub id: ID,
    pub detected_at: DateTime<Utc>,
    pub description: String,
    pub systems: Vec<String>,
    pub categories: Vec<String>,
    pub region: Option<String>,
    pub sub_processor_ids: Vec<String>,
    pub recorded_by: String,
    /// Detection plus 72 hours.
    pub seventy_two_hour_mark: DateTime<Utc>,
    /// Hours elapsed since detection, now.
    pub hours_since_detection: f64,
    pub notifications: Vec<BreachNotification>,
    /// Art. 33(3)(c), (d) and (b); null while not yet known (said so in the notices).
    pub likely_consequences: Option<String>,
    pub measures_taken: Option<String>,
    pub contact_point: Option<String>,
    /// The follow-ups sent to the same tenants, oldest first.
    pub updates: Vec<BreachFollowUp>,
}

/// A follow-up to a breach, as every tenant told of it received it.
#[derive(SimpleObject)]
pub struct BreachFollowUp {
    pub update: String,
    pub recorded_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<steward_entities::breach_update::Model> for BreachFollowUp {
    fn from(u: steward_entities::breach_update::Model) -> Self {
        BreachFollowUp {
            update: u.update,
            recorded_by: u.recorded_by,
            created_at: u.created_at,
        }
    }
}

impl Breach {
    fn new(
        b: breach::Model,
        notes: Vec<breach_notification::Model>,
        updates: Vec<steward_entities::breach_update::Model>,
    ) -> Self {
        let hours = (Utc::now() - b.detected_at).num_seconds() as f64 / 3600.0;
        Breach {
            id: ID(b.id.to_string()),
            detected_at: b.detected_at,
            systems: b.systems.0.clone(),
            categories: b.categories.0.clone(),
            sub_processor_ids: b
                .sub_processor_ids
                .0
                .iter()
                .map(uuid::Uuid::to_string)
                .collect(),
            seventy_two_hour_mark: b.detected_at + Duration::hours(BREACH_HOURS),
            hours_since_detection: (hours * 100.0).round() / 100.0,
            notifications: notes
                .into_iter()
                .map(|n| BreachNotification::new(&b, n))
                .collect(),
            description: b.description,
            region: b.region,
            recorded_by: b.recorded_by,
            likely_consequences: b.likely_consequences,
            measures_taken: b.measures_taken,
            contact_point: b.contact_point,
            updates: updates.into_iter().map(Into::into).collect(),
        }
    }
}

/// A breach as its tenant sees it.
#[derive(SimpleObject)]
pub struct BreachNotice {
    pub breach_id: ID,
    pub detected_at: DateTime<Utc>,
    pub description: String,
    pub categories: Vec<String>,
    pub notified_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub seventy_two_hour_mark: DateTime<Utc>,
    /// About how many of your data subjects and records are concerned (Art. 33(3)(a)).
    pub subjects_concerned: Option<i64>,
    pub records_concerned: Option<i64>,
    /// Art. 33(3)(c), (d) and (b); null while not yet known.
    pub likely_consequences: Option<String>,
    pub measures_taken: Option<String>,
    pub contact_point: Option<String>,
    /// The follow-ups, oldest first.
    pub updates: Vec<BreachFollowUp>,
}

#[derive(Default)]
pub struct AccountabilityQuery;

#[Object]
impl AccountabilityQuery {
    /// The processor's record of processing for one tenant (GDPR Art. 30(2)), generated from live data.
    async fn record_of_processing(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<crate::accountability::records::RecordOfProcessing> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::TransferRead).await?;
        let processor = ctx
            .data::<crate::accountability::records::Processor>()
            .map_err(|_| {
                AppError::internal(anyhow::anyhow!("schema without processor identity"))
            })?;
        Ok(crate::accountability::records::record(tenancy(ctx)?, &scope, processor).await?)
    }

    /// The record of processing over every controller (Art. 30(2)): the processor, the security measures in force and
    /// each live tenant's record, as JSON and CSV too (`legal`, `auditor`).
    async fn platform_record_of_processing(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<crate::accountability::records::PlatformRecord> {
        let processor = ctx
            .data::<crate::accountability::records::Processor>()
            .map_err(|_| {
                AppError::internal(anyhow::anyhow!("schema without processor identity"))
            })?;
        Ok(crate::accountability::records::platform_record(
            tenancy(ctx)?,
            principal(ctx)?,
            processor,
        )
        .await?)
    }

    /// Every published version of the general description of the security measures, newest first (anyone
    /// authenticated: clients read what their records cite).
    async fn security_measures(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<crate::accountability::records::SecurityMeasures>> {
        principal(ctx)?;
        Ok(
            crate::accountability::records::security_measures_history(tenancy(ctx)?)
                .await?
                .into_iter()
                .map(Into::into)
                .collect(),
        )
    }

    /// Demands from authorities, newest first (`legal`, `privacy_officer`).
    async fn legal_disclosures(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Vec<LegalDisclosure>> {
        let tenant = tenant_id
            .as_ref()
            .map(|id| parse_tenant_id("tenantId", id))
            .transpose()?;
        let found = accountability::disclosures(tenancy(ctx)?, principal(ctx)?, tenant).await?;
        Ok(found
            .into_iter()
            .map(LegalDisclosure::from_model)
            .collect::<Result<_, _>>()?)
    }

    /// Non-disclosure orders without an end date whose last review is at least 90 days old.
    async fn nondisclosure_orders_due_for_review(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<LegalDisclosure>> {
        let found =
            accountability::due_for_review(tenancy(ctx)?, principal(ctx)?, Utc::now().date_naive())
                .await?;
        Ok(found
            .into_iter()
            .map(LegalDisclosure::from_model)
            .collect::<Result<_, _>>()?)
    }

    /// Breaches with each tenant's notification and acknowledgement (`privacy_officer`).
    async fn breaches(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Breach>> {
        let tenancy = tenancy(ctx)?;
        let found = accountability::breaches(tenancy, principal(ctx)?).await?;
        let mut out = Vec::with_capacity(found.len());
        for (b, n) in found {
            let updates = accountability::updates_of(tenancy.system().control(), b.id).await?;
            out.push(Breach::new(b, n, updates));
        }
        Ok(out)
    }

    /// The breaches a tenant was told of, newest first.
    async fn breach_notices(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<Vec<BreachNotice>> {
        let tenant = tenant_id
            .as_ref()
            .map(|id| parse_tenant_id("tenantId", id))
            .transpose()?;
        let tenancy = tenancy(ctx)?;
        let scope = tenancy
            .scope(principal(ctx)?, tenant, Permission::TenantRead)
            .await?;
        let found = accountability::breach_notices_of(&scope).await?;
        let mut out = Vec::with_capacity(found.len());
        for (b, n) in found {
            let updates = accountability::updates_of(scope.control(), b.id).await?;
            out.push(BreachNotice {
                breach_id: ID(b.id.to_string()),
                detected_at: b.detected_at,
                categories: b.categories.0.clone(),
                description: b.description,
                notified_at: n.notified_at,
                acknowledged_at: n.acknowledged_at,
                seventy_two_hour_mark: b.detected_at + Duration::hours(BREACH_HOURS),
                subjects_concerned: n.subjects_concerned,
                records_concerned: n.records_concerned,
                likely_consequences: b.likely_consequences,
                measures_taken: b.measures_taken,
                contact_point: b.contact_point,
                updates: updates.into_iter().map(Into::into).collect(),
            });
        }
        Ok(out)
    }
}

#[derive(InputObject)]
pub struct LegalDemandInput {
    pub tenant_id: ID,
    pub kind: DemandKind,
    pub authority: String,
    pub reference: String,
    pub received_on: NaiveDate,
    pub scope: String,
    #[graphql(default)]
    pub nondisclosure_order: bool,
    /// The order's end; leave out for an open-ended order (then reviewed every 90 days).
    pub nondisclosure_until: Option<NaiveDate>,
}

#[derive(InputObject)]
pub struct DisclosureDecisionInput {
    pub decision: DisclosureDecision,
    pub note: String,
    #[graphql(default)]
    pub disclosed_categories: Vec<String>,
    #[graphql(default)]
    pub disclosed_subject_ids: Vec<ID>,
    pub disclosed_on: Option<NaiveDate>,
}

#[derive(InputObject)]
pub struct BreachInput {
    pub detected_at: DateTime<Utc>,
    pub description: String,
    #[graphql(default)]
    pub systems: Vec<String>,
    #[graphql(default)]
    pub categories: Vec<String>,
    /// Only this region's data; all regions when left out.
    pub region: Option<String>,
    #[graphql(default)]
    pub sub_processor_ids: Vec<ID>,
    /// The likely consequences (Art. 33(3)(c)); leave out while not yet known: the notice says so, and an
    /// `updateBreach` completes it (Art. 33(4)).
    pub likely_consequences: Option<String>,
    /// The measures taken or proposed, including to mitigate the effects (Art. 33(3)(d)); as above.
    pub measures_taken: Option<String>,
    /// Where tenants obtain more information (Art. 33(3)(b)); the processor's contact (`STEWARD_PROCESSOR_CONTACT`)
    /// when left out.
    pub contact_point: Option<String>,
}

/// A follow-up to a breach: what is new, and any corrected consequences, measures or contact point.
#[derive(InputObject)]
pub struct BreachUpdateInput {
    /// What is new (required): it is what the tenants read.
    pub update: String,
    pub likely_consequences: Option<String>,
    pub measures_taken: Option<String>,
    pub contact_point: Option<String>,
}

#[derive(SimpleObject)]
pub struct BreachUpdated {
    pub breach: Breach,
    /// How many tenants the follow-up was sent to: every tenant told of the breach.
    pub tenants_notified: i32,
}

#[derive(SimpleObject)]
pub struct BreachRecorded {
    pub breach: Breach,
    pub tenants_notified: Vec<ID>,
}

#[derive(Default)]
pub struct AccountabilityMutation;

#[Object]
impl AccountabilityMutation {
    /// Records a demand from an authority for a tenant's data (`legal`).
    async fn record_legal_disclosure(
        &self,
        ctx: &Context<'_>,
        input: LegalDemandInput,
    ) -> async_graphql::Result<LegalDisclosure> {
        let demand = DisclosureDemand {
            tenant_id: parse_tenant_id("tenantId", &input.tenant_id)?,
            kind: input.kind,
            authority: input.authority,
            reference: input.reference,
            received_on: input.received_on,
            scope: input.scope,
            nondisclosure_order: input.nondisclosure_order,
            nondisclosure_until: input.nondisclosure_until,
        };
        Ok(LegalDisclosure::from_model(
            accountability::record_disclosure(tenancy(ctx)?, principal(ctx)?, demand).await?,
        )?)
    }

    /// Records the review of a demand and what was disclosed; tells the tenant unless a non-disclosure order holds
    /// (`legal`).
    async fn decide_legal_disclosure(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: DisclosureDecisionInput,
    ) -> async_graphql::Result<LegalDisclosure> {
        let id = DisclosureId::parse("id", &id)?;
        let decision = DecisionMade {
            decision: input.decision,
            note: input.note,
            disclosed_categories: input.disclosed_categories,
            disclosed_subject_ids: input
                .disclosed_subject_ids
                .iter()
                .map(|s| SubjectId::parse("disclosedSubjectIds", s))
                .collect::<Result<_, _>>()?,
            disclosed_on: input.disclosed_on,
        };
        Ok(LegalDisclosure::from_model(
            accountability::decide_disclosure(tenancy(ctx)?, principal(ctx)?, id, decision).await?,
        )?)
    }

    /// Records the periodic review of a non-disclosure order, optionally with its end date (`legal`).
    async fn review_nondisclosure_order(
        &self,
        ctx: &Context<'_>,
        id: ID,
        until: Option<NaiveDate>,
    ) -> async_graphql::Result<LegalDisclosure> {
        let id = DisclosureId::parse("id", &id)?;
        Ok(LegalDisclosure::from_model(
            accountability::review_nondisclosure(tenancy(ctx)?, principal(ctx)?, id, until).await?,
        )?)
    }

    /// Records a breach and notifies every affected tenant (`privacy_officer`).
    async fn record_breach(
        &self,
        ctx: &Context<'_>,
        input: BreachInput,
    ) -> async_graphql::Result<BreachRecorded> {
        let incident = Incident {
            detected_at: input.detected_at,
            description: input.description,
            systems: input.systems,
            categories: input.categories,
            region: input.region,
            sub_processor_ids: input
                .sub_processor_ids
                .iter()
                .map(|s| SubProcessorId::parse("subProcessorIds", s))
                .collect::<Result<_, _>>()?,
            likely_consequences: input.likely_consequences,
            measures_taken: input.measures_taken,
            contact_point: input.contact_point,
        };
        let tenancy = tenancy(ctx)?;
        let principal = principal(ctx)?;
        let processor = ctx
            .data::<crate::accountability::records::Processor>()
            .map_err(|_| {
                AppError::internal(anyhow::anyhow!("schema without processor identity"))
            })?;
        let (b, tenants) =
            accountability::record_breach(tenancy, principal, &processor.contact, incident).await?;
        let notes = accountability::breaches(tenancy, principal)
            .await?
            .into_iter()
            .find(|(x, _)| x.id == b.id)
            .map(|(_, n)| n)
            .unwrap_or_default();
        Ok(BreachRecorded {
            breach: Breach::new(b, notes, Vec::new()),
            tenants_notified: tenants.into_iter().map(|t| ID(t.to_string())).collect(),
        })
    }

    /// Sends a follow-up on a breach to every tenant told of it, recording it and any corrected consequences,
    /// measures or contact point (`privacy_officer`; Art. 33(4): information in phases).
    async fn update_breach(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: BreachUpdateInput,
    ) -> async_graphql::Result<BreachUpdated> {
        let id = BreachId::parse("id", &id)?;
        let tenancy = tenancy(ctx)?;
        let principal = principal(ctx)?;
        let change = accountability::BreachUpdate {
            update: input.update,
            likely_consequences: input.likely_consequences,
            measures_taken: input.measures_taken,
            contact_point: input.contact_point,
        };
        let (b, told) = accountability::update_breach(tenancy, principal, id, change).await?;
        let notes = steward_entities::breach_notification::Entity::find()
            .filter(steward_entities::breach_notification::Column::BreachId.eq(b.id))
            .order_by_asc(steward_entities::breach_notification::Column::TenantId)
            .all(tenancy.system().control())
            .await
            .map_err(AppError::from)?;
        let updates = accountability::updates_of(tenancy.system().control(), b.id).await?;
        Ok(BreachUpdated {
            breach: Breach::new(b, notes, updates),
            tenants_notified: i32::try_from(told).unwrap_or(i32::MAX),
        })
    }

    /// Publishes a new version of the general description of the security measures (`legal`); records generated from
    /// then on carry it. Earlier versions are kept.
    async fn publish_security_measures(
        &self,
        ctx: &Context<'_>,
        text: String,
    ) -> async_graphql::Result<crate::accountability::records::SecurityMeasures> {
        Ok(crate::accountability::records::publish_security_measures(
            tenancy(ctx)?,
            principal(ctx)?,
            &text,
        )
        .await?
        .into())
    }

    /// Sets the tenant's contact, data protection officer and representative for its record of processing (its
    /// `client_admin`); an empty or missing value clears one.
    async fn set_controller_details(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        contact: Option<String>,
        dpo: Option<String>,
        representative: Option<String>,
    ) -> async_graphql::Result<crate::accountability::records::ControllerIdentity> {
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::TenantSettings).await?;
        // The controller's own instruction: its admins set it, never staff on its behalf.
        if scope.principal().kind != steward_policy::ActorKind::Client {
            return Err(crate::error::AppError::Forbidden(
                "the controller's own setting: the tenant's client_admin sets it".into(),
            )
            .into());
        }
        Ok(crate::accountability::records::set_controller_details(
            tenancy(ctx)?,
            &scope,
            crate::accountability::records::ControllerDetails {
                contact,
                dpo,
                representative,
            },
        )
        .await?)
    }

    /// Acknowledges a breach notice for the caller's tenant (its `client_admin`).
    async fn acknowledge_breach_notice(
        &self,
        ctx: &Context<'_>,
        breach_id: ID,
        tenant_id: Option<ID>,
    ) -> async_graphql::Result<BreachNotification> {
        let breach_id = BreachId::parse("breachId", &breach_id)?;
        let tenant = tenant_id
            .as_ref()
            .map(|id| parse_tenant_id("tenantId", id))
            .transpose()?;
        let tenancy = tenancy(ctx)?;
        let scope = tenancy
            .scope(principal(ctx)?, tenant, Permission::BreachAcknowledge)
            .await?;
        let note = accountability::acknowledge_breach(tenancy, &scope, breach_id).await?;
        let b = steward_entities::breach::Entity::find_by_id(breach_id)
            .one(scope.control())
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::NotFound(format!("no breach {breach_id}")))?;
        Ok(BreachNotification::new(&b, note))
    }
}
