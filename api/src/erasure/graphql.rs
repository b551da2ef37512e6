//! The GraphQL side of erasure propagation: a propagation as clients and privacy officers read it, the tenant-wide list
//! of them (what is still outstanding, including after an offboarding), and the manual confirmation.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use steward_entities::erasure_propagation;
use steward_policy::Permission;

use crate::graphql::open_scope;
use crate::ids::PropagationId;

/// An erasure passed on to one sub-processor.
pub struct ErasurePropagation(pub erasure_propagation::Model);

#[Object]
impl ErasurePropagation {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn sub_processor_id(&self) -> ID {
        ID(self.0.sub_processor_id.to_string())
    }
    async fn sub_processor(&self) -> &str {
        &self.0.sub_processor_name
    }
    /// The categories it received.
    async fn categories(&self) -> &[String] {
        &self.0.categories.0
    }
    async fn method(&self) -> steward_entities::erasure_propagation::PropagationMethod {
        self.0.method
    }
    async fn state(&self) -> steward_entities::erasure_propagation::PropagationState {
        self.0.state
    }
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn acknowledged_at(&self) -> Option<DateTime<Utc>> {
        self.0.acknowledged_at
    }
    /// The sub-processor's own reference, when its webhook answer gave one.
    async fn reference(&self) -> Option<&str> {
        self.0.ack_reference.as_deref()
    }
    /// Who confirmed a manual erasure, as they named themselves.
    async fn confirmed_by(&self) -> Option<&str> {
        self.0.confirmed_name.as_deref()
    }
    /// The Steward user who recorded the confirmation.
    async fn recorded_by(&self) -> Option<&str> {
        self.0.confirmed_by.as_deref()
    }
    async fn confirmation_note(&self) -> Option<&str> {
        self.0.confirmation_note.as_deref()
    }
}

#[derive(Default)]
pub struct ErasureQuery;

#[Object]
impl ErasureQuery {
    /// A tenant's erasure propagations of every cause (requests, retention, its offboarding), newest first, at most
    /// 500 (privacy officers); `outstandingOnly` for those neither acknowledged nor confirmed. Readable after the
    /// tenant was terminated: its final certificate waits for these.
    async fn erasure_propagations(
        &self,
        ctx: &Context<'_>,
        tenant_id: ID,
        #[graphql(default)] outstanding_only: bool,
    ) -> async_graphql::Result<Vec<ErasurePropagation>> {
        let scope = open_scope(ctx, Some(&tenant_id), Permission::RequestHandle).await?;
        Ok(super::propagation::of_tenant(&scope, outstanding_only)
            .await?
            .into_iter()
            .map(ErasurePropagation)
            .collect())
    }
}

#[derive(Default)]
pub struct ErasureMutation;

#[Object]
impl ErasureMutation {
    /// Records that a named person confirmed a sub-processor erased the data (privacy officer).
    async fn confirm_erasure_propagation(
        &self,
        ctx: &Context<'_>,
        tenant_id: Option<ID>,
        id: ID,
        confirmed_by: String,
        note: Option<String>,
    ) -> async_graphql::Result<ErasurePropagation> {
        let id = PropagationId::parse("id", &id)?;
        let scope = open_scope(ctx, tenant_id.as_ref(), Permission::RequestHandle).await?;
        Ok(ErasurePropagation(
            super::propagation::confirm_propagation(&scope, id, &confirmed_by, note.as_deref())
                .await?,
        ))
    }
}
