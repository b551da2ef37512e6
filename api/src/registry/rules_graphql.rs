//! The transfer rules in GraphQL: mechanisms and adequacy decisions with their dates and sources, and legal's
//! record of changes to them (each told to the tenants it affects).

use async_graphql::{Context, ID, MaybeUndefined, Object, SimpleObject};
use chrono::NaiveDate;
use steward_entities::subprocessor;
use steward_policy::Permission;
use uuid::Uuid;

use crate::graphql::{principal, tenancy};
use crate::registry::graphql::SubProcessor;
use crate::registry::mechanisms::{self, AdequacyChange};
use crate::registry::transfers;

#[derive(SimpleObject)]
pub struct TransferMechanism {
    pub key: String,
    pub name: String,
    pub valid_from: Option<NaiveDate>,
    /// From this date on, the mechanism no longer covers transfers.
    pub invalid_from: Option<NaiveDate>,
    /// Destination countries it applies to; null for any.
    pub countries: Option<Vec<String>>,
    /// The laws whose exporters may rely on it (`EEA`: the GDPR, `CH`: the Swiss FADP, `GB`: the UK GDPR); null for
    /// any. A tenant exports under its country's law (Switzerland's, the UK's, or else the GDPR).
    pub exporters: Option<Vec<String>>,
    pub requires_certification: bool,
    /// Where `validFrom` comes from.
    pub valid_from_source: Option<String>,
    /// Where `invalidFrom` comes from (the judgment, the authority's statement, or legal's recorded change).
    pub invalid_from_source: Option<String>,
}

/// An adequacy decision (GDPR Art. 45): transfers to the country need no mechanism while it is in force.
#[derive(SimpleObject)]
pub struct AdequacyDecision {
    pub country: String,
    pub decided_on: NaiveDate,
    /// From this date on (included) the decision no longer applies.
    pub withdrawn_on: Option<NaiveDate>,
    /// Where the dates come from.
    pub source: String,
}

/// Who a change to the transfer rules reaches: the public sub-processors concerned and the tenants told of it.
#[derive(SimpleObject)]
pub struct MechanismImpact {
    /// The mechanism's key, or the country whose adequacy decision changed.
    pub mechanism: String,
    pub sub_processors: Vec<SubProcessor>,
    pub tenant_ids: Vec<ID>,
}

fn impact(what: String, (sps, tenants): (Vec<subprocessor::Model>, Vec<Uuid>)) -> MechanismImpact {
    MechanismImpact {
        mechanism: what,
        sub_processors: sps.into_iter().map(SubProcessor).collect(),
        tenant_ids: tenants.into_iter().map(|t| ID(t.to_string())).collect(),
    }
}

#[derive(Default)]
pub struct TransferRulesQuery;

#[Object]
impl TransferRulesQuery {
    /// Transfer mechanisms with their validity and its sources, including invalidations recorded by legal.
    async fn transfer_mechanisms(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<TransferMechanism>> {
        principal(ctx)?;
        Ok(transfers::mechanisms_in_force(tenancy(ctx)?)
            .await?
            .mechanisms
            .into_iter()
            .map(|mut m| TransferMechanism {
                valid_from_source: m.sources.remove("valid_from"),
                invalid_from_source: m.sources.remove("invalid_from"),
                key: m.key,
                name: m.name,
                valid_from: m.valid_from,
                invalid_from: m.invalid_from,
                countries: m.countries,
                exporters: m.exporters,
                requires_certification: m.requires_certification,
            })
            .collect())
    }

    /// The European Commission's adequacy decisions with their sources, including changes recorded by legal.
    async fn adequacy_decisions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AdequacyDecision>> {
        principal(ctx)?;
        Ok(transfers::mechanisms_in_force(tenancy(ctx)?)
            .await?
            .adequacy
            .into_iter()
            .map(|a| AdequacyDecision {
                country: a.country,
                decided_on: a.decided_on,
                withdrawn_on: a.withdrawn_on,
                source: a.source,
            })
            .collect())
    }

    /// The public sub-processors relying on a mechanism for a third country, and the tenants whose data goes there.
    async fn affected_by_mechanism_change(
        &self,
        ctx: &Context<'_>,
        mechanism: String,
    ) -> async_graphql::Result<MechanismImpact> {
        let tenancy = tenancy(ctx)?;
        tenancy
            .require_platform(principal(ctx)?, Permission::TransferManage)
            .await?;
        let key = mechanisms::known(mechanism.trim())?.key.clone();
        let hit = transfers::affected_by_mechanism(tenancy, &key).await?;
        Ok(impact(key, hit))
    }
}

#[derive(Default)]
pub struct TransferRulesMutation;

#[Object]
impl TransferRulesMutation {
    /// Records that a transfer mechanism is invalid from a date (e.g. struck down by a court), tells every affected
    /// tenant (notice `transfer.rules_changed`), and returns who that is (legal).
    async fn record_mechanism_invalidation(
        &self,
        ctx: &Context<'_>,
        mechanism: String,
        invalid_from: NaiveDate,
        reason: String,
    ) -> async_graphql::Result<MechanismImpact> {
        let hit = transfers::invalidate_mechanism(
            tenancy(ctx)?,
            principal(ctx)?,
            &mechanism,
            invalid_from,
            &reason,
        )
        .await?;
        Ok(impact(mechanism.trim().to_owned(), hit))
    }

    /// Records a change to an adequacy decision: a new or re-dated decision (`decidedOn`) and/or its withdrawal
    /// (`withdrawnOn`; `null` puts a withdrawn decision back in force; left out, a recorded withdrawal stays). Tells
    /// every tenant whose sub-processors process data in that country (notice `transfer.rules_changed`) and returns
    /// who that is (legal).
    async fn record_adequacy_change(
        &self,
        ctx: &Context<'_>,
        country: String,
        decided_on: Option<NaiveDate>,
        withdrawn_on: MaybeUndefined<NaiveDate>,
        reason: String,
    ) -> async_graphql::Result<MechanismImpact> {
        let withdrawal_given = !withdrawn_on.is_undefined();
        let change = AdequacyChange {
            country: country.clone(),
            decided_on,
            withdrawn_on: withdrawn_on.take(),
            reason,
        };
        let hit = transfers::record_adequacy_change(
            tenancy(ctx)?,
            principal(ctx)?,
            change,
            withdrawal_given,
        )
        .await?;
        Ok(impact(country.trim().to_ascii_uppercase(), hit))
    }
}
