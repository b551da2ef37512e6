//! Resolver spans for debug logging.

use std::sync::Arc;

use async_graphql::ServerResult;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use tracing::Instrument as _;

/// A `tracing` span per resolver (`resolve`, with the field's schema coordinate `Type.field`), child of the request's span
/// and so carrying its request id. Registered only when debug logging of `steward::resolver` is on at start, so a
/// production server at `info` pays nothing for it. Unlike async-graphql's own tracing extension it never records
/// the query text, variables or error messages, which can hold personal values.
pub struct ResolverSpans;

impl ResolverSpans {
    pub fn wanted() -> bool {
        tracing::enabled!(target: "steward::resolver", tracing::Level::DEBUG)
    }
}

impl ExtensionFactory for ResolverSpans {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ResolverSpans)
    }
}

#[async_trait::async_trait]
impl Extension for ResolverSpans {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<async_graphql::Value>> {
        if info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        // The field's schema coordinate, never its path in the response: a path carries the client's aliases, which
        // are its own text.
        let span = tracing::debug_span!(
            target: "steward::resolver",
            "resolve",
            field = %format_args!("{}.{}", info.parent_type, info.name),
        );
        let resolved = next.run(ctx, info).instrument(span.clone()).await;
        if let Err(e) = &resolved {
            let code = e
                .source::<crate::AppError>()
                .map_or("BAD_USER_INPUT", crate::AppError::code);
            span.in_scope(|| tracing::debug!(target: "steward::resolver", code, "resolver failed"));
        }
        resolved
    }
}
