//! Who is calling an authenticated route, as extractors, so every such route runs the same prologue in the same order
//! before its body is read: [`JsonBody`] (a JSON content type, decided from the headers), then [`Caller`] (a valid
//! token, the caller's rate, role assignments caught up with other instances). Each rejects with the error contract's
//! JSON, the status saying why.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::*;
use crate::auth::Principal;

/// The request's body is declared as JSON. A form or text/plain POST is what a cross-site page can send without a
/// preflight, and a multipart upload is work no operation here needs; both are refused before the body is read.
pub(super) struct JsonBody;

impl FromRequestParts<AppState> for JsonBody {
    type Rejection = axum::response::Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if json {
            Ok(JsonBody)
        } else {
            Err(error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "BAD_USER_INPUT",
                "send the GraphQL request as JSON with `Content-Type: application/json`",
            ))
        }
    }
}

/// An authenticated caller within its rate (`429` with `Retry-After` otherwise), with this instance's role
/// assignments caught up with any other instance's changes (`503` if they cannot be read).
pub(super) struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = axum::response::Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or("\u{0}"));
        let principal = state
            .inner
            .verifier
            .authenticate(authorization)
            .await
            .map_err(|e| error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", &e.0))?;
        if let Some(limited) = over_rate(state, &principal) {
            return Err(limited);
        }
        if let Err(e) = state.inner.tenancy.sync_authorizer().await {
            tracing::error!(error = ?e, "role assignments could not be refreshed");
            return Err(unavailable(
                "the authorization store cannot be read right now; retry shortly",
            ));
        }
        Ok(Caller(principal))
    }
}

/// The request ids the access-transparency log records: Steward's own (`x-request-id`) and the caller's.
pub(super) struct RequestIds {
    pub ours: Option<String>,
    pub theirs: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for RequestIds {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let text = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(RequestIds {
            ours: text("x-request-id"),
            theirs: text(CLIENT_REQUEST_ID),
        })
    }
}

/// 429 with `Retry-After` when the caller's tenant (or the staff member) is over its request rate.
fn over_rate(state: &AppState, principal: &Principal) -> Option<axum::response::Response> {
    let limiter = state.inner.rate_limiter.as_ref()?;
    let key = match (&principal.kind, &principal.tenant_id) {
        (steward_policy::ActorKind::Client, Some(tenant)) => tenant.0.to_string(),
        _ => format!("staff:{}", principal.subject),
    };
    let wait = limiter.check(&key).err()?;
    state.tenancy().metrics().rate_limited();
    let mut response = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
        "too many requests for this tenant; retry after the number of seconds in `Retry-After`",
    );
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    Some(response)
}
