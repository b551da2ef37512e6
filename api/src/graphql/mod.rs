//! What every resolver shares: the context accessors, the shared output types, and the error contract. Each domain
//! keeps its resolvers in its own folder (`subjects/graphql.rs`, …); [`crate::schema`] merges them into the root types.
//!
//! Resolvers never open connections or filter by tenant themselves: they ask [`Tenancy`] for a scope and call the
//! domain services. Errors leave through [`finish_response`], which gives each one a code from the fixed set and
//! replaces anything internal with a generic sentence.

pub mod audit;
pub mod spans;
pub mod types;

use async_graphql::{Context, Response, ServerError};

use crate::auth::Principal;
use crate::error::AppError;
use crate::tenancy::Tenancy;

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
            extensions.set("reason", reason.code());
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
        // async-graphql's own words for the two limits say neither what the limit is nor what to do.
        let hint = match error.message.as_str() {
            "Query is too complex." => Some(
                "the query is too complex: every list counts as many times as its page size (`first`, 20 when left \
                 out), and the whole query may cost at most STEWARD_MAX_QUERY_COMPLEXITY (1000 by default); ask for \
                 fewer items per page, or fewer fields",
            ),
            "Query is nested too deep." => Some(
                "the query is nested too deep: at most STEWARD_MAX_QUERY_DEPTH levels (10 by default); split it into \
                 several queries",
            ),
            _ => None,
        };
        return ("BAD_USER_INPUT", hint.map(str::to_owned));
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
