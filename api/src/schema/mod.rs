//! The GraphQL schema: every domain's resolvers merged into the root types, with the server's limits.

pub mod nulls;
mod viewer;

use async_graphql::{EmptySubscription, MergedObject, Schema, SchemaBuilder};

use crate::config::Limits;
use crate::tenancy::Tenancy;

#[derive(MergedObject, Default)]
pub struct Query(
    viewer::ViewerQuery,
    crate::tenants::graphql::TenantQuery,
    crate::users::graphql::UserQuery,
    crate::subjects::graphql::PersonalQuery,
    crate::grants::graphql::AccessQuery,
    crate::registry::graphql::RegistryQuery,
    crate::registry::rules_graphql::TransferRulesQuery,
    crate::graphql::audit::AuditQuery,
    crate::accountability::graphql::AccountabilityQuery,
    crate::requests::graphql::RequestQuery,
    crate::erasure::graphql::ErasureQuery,
    crate::retention::graphql::RetentionQuery,
    crate::privacy_policy::graphql::PolicyQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    crate::tenants::graphql::TenantMutation,
    crate::users::graphql::UserMutation,
    crate::subjects::graphql::PersonalMutation,
    crate::grants::graphql::AccessMutation,
    crate::registry::graphql::RegistryMutation,
    crate::registry::rules_graphql::TransferRulesMutation,
    crate::accountability::graphql::AccountabilityMutation,
    crate::requests::graphql::RequestMutation,
    crate::erasure::graphql::ErasureMutation,
    crate::retention::graphql::RetentionMutation,
    crate::privacy_policy::graphql::PolicyMutation,
);

pub type StewardSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema without any data attached: enough to print the SDL, no database needed.
pub fn build_schema_bare() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
}

/// The schema the server runs, with its limits and the tenancy router.
/// `validation`: [`async_graphql::ValidationMode::Strict`] for every request but those whose document is known to pass
/// (`edge::Prepared`), which run on a second schema in `Fast` mode (depth and complexity still checked).
pub fn build_schema(
    tenancy: Tenancy,
    limits: &Limits,
    processor: crate::accountability::records::Processor,
    validation: async_graphql::ValidationMode,
) -> StewardSchema {
    let mut builder = build_schema_bare()
        .validation_mode(validation)
        .limit_depth(limits.max_query_depth)
        .limit_complexity(limits.max_query_complexity)
        .limit_recursive_depth(32)
        .limit_directives(16)
        .disable_suggestions()
        .data(tenancy)
        .data(processor)
        .data::<std::sync::Arc<dyn crate::subjects::ChildErasure>>(std::sync::Arc::new(
            crate::requests::ChildErasures,
        ))
        .data(crate::privacy_policy::graphql::PolicyNoticeDays(
            limits.policy_notice_days,
        ));
    if crate::graphql::spans::ResolverSpans::wanted() {
        builder = builder.extension(crate::graphql::spans::ResolverSpans);
    }
    builder.finish()
}

/// The SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    build_schema_bare().finish().sdl()
}
