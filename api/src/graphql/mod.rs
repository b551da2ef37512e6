//! The GraphQL API: one module per domain area, merged into the root types.
//!
//! Resolvers never open connections or filter by tenant themselves: they ask [`Tenancy`] for a scope and call the
//! domain services. Errors leave through [`finish_response`], which gives each one a code from the fixed set and
//! replaces anything internal with a generic sentence.

mod access;
mod accountability;
pub(crate) mod audit;
mod personal;
pub mod policies;
mod registry;
mod requests;
mod retention;
mod tenants;
mod types;
mod users;
mod viewer;

use async_graphql::{
    Context, EmptySubscription, MergedObject, Response, Schema, SchemaBuilder, ServerError,
};

use crate::auth::Principal;
use crate::config::Limits;
use crate::error::AppError;
use crate::tenancy::Tenancy;

#[derive(MergedObject, Default)]
pub struct Query(
    viewer::ViewerQuery,
    tenants::TenantQuery,
    users::UserQuery,
    personal::PersonalQuery,
    access::AccessQuery,
    registry::RegistryQuery,
    audit::AuditQuery,
    accountability::AccountabilityQuery,
    requests::RequestQuery,
    retention::RetentionQuery,
    policies::PolicyQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    tenants::TenantMutation,
    users::UserMutation,
    personal::PersonalMutation,
    access::AccessMutation,
    registry::RegistryMutation,
    accountability::AccountabilityMutation,
    requests::RequestMutation,
    retention::RetentionMutation,
    policies::PolicyMutation,
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
    processor: crate::processing::Processor,
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
        .data(policies::PolicyNoticeDays(limits.policy_notice_days));
    if crate::edge::ResolverSpans::wanted() {
        builder = builder.extension(crate::edge::ResolverSpans);
    }
    builder.finish()
}

/// The SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    build_schema_bare().finish().sdl()
}

/// Gives every error a code and hides internals. Errors raised by our code carry an [`AppError`] as their source;
/// errors without a source come from parsing or validating the request (unknown field, depth limit, bad argument
/// type), which is the caller's to fix. Anything else is unexpected: logged, and reported as `INTERNAL`.
pub fn finish_response(mut response: Response) -> Response {
    for error in &mut response.errors {
        let (code, message) = classify(error);
        if let Some(message) = message {
            error.message = message;
        }
        let reason = match error.source::<AppError>() {
            Some(AppError::Refused { reason, .. }) => Some(*reason),
            _ => None,
        };
        let extensions = error.extensions.get_or_insert_with(Default::default);
        extensions.set("code", code);
        if let Some(reason) = reason {
            extensions.set("reason", reason);
        }
    }
    response
}

fn classify(error: &ServerError) -> (&'static str, Option<String>) {
    if let Some(app) = error.source::<AppError>() {
        if let AppError::Internal(cause) = app {
            tracing::error!(error = ?cause, path = ?error.path, "internal error");
            return ("INTERNAL", Some(internal_message()));
        }
        return (app.code(), None);
    }
    if error.source.is_none() {
        return ("BAD_USER_INPUT", None);
    }
    tracing::error!(error = %error.message, path = ?error.path, "unclassified resolver error");
    ("INTERNAL", Some(internal_message()))
}

pub(crate) fn internal_message() -> String {
    "internal error; the x-request-id response header identifies it in the server's logs".into()
}

pub(crate) fn tenancy<'a>(ctx: &Context<'a>) -> Result<&'a Tenancy, AppError> {
    ctx.data::<Tenancy>()
        .map_err(|_| AppError::internal(anyhow::anyhow!("schema built without tenancy")))
}

/// Opens a scope on the tenant named by an optional `tenantId` argument (a client's own when absent).
pub(crate) async fn open_scope(
    ctx: &Context<'_>,
    tenant_id: Option<&async_graphql::ID>,
    permission: steward_policy::Permission,
) -> Result<crate::tenancy::Scope, AppError> {
    let tenant_id = tenant_id
        .map(|id| crate::ids::TenantId::parse("tenantId", id.as_str()))
        .transpose()?;
    tenancy(ctx)?
        .scope(principal(ctx)?, tenant_id, permission)
        .await
}

pub(crate) fn principal<'a>(ctx: &Context<'a>) -> Result<&'a Principal, AppError> {
    ctx.data::<Principal>()
        .map_err(|_| AppError::Unauthenticated("missing bearer token".into()))
}
