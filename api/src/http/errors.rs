//! Errors that leave before (or instead of) GraphQL: the same `{ errors: [{ message, extensions.code }] }` shape.

use super::*;

/// An [`AppError`](crate::AppError) outside GraphQL: its code (and `reason`), its client message, and the matching
/// HTTP status.
pub(super) fn app_error_response(error: crate::AppError) -> axum::response::Response {
    use crate::AppError as E;
    let status = match &error {
        E::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        E::Forbidden(_) => StatusCode::FORBIDDEN,
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::BadInput(_) => StatusCode::BAD_REQUEST,
        E::Refused { .. } | E::Conflict(_) => StatusCode::CONFLICT,
        E::Unavailable(message) => return unavailable(message),
        E::Internal(cause) => {
            tracing::error!(error = ?cause, "internal error");
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                &internal_message(),
            );
        }
    };
    let mut extensions = json!({ "code": error.code() });
    if let E::Refused { reason, .. } = &error {
        extensions["reason"] = json!(reason.code());
    }
    let body = json!({ "data": null, "errors": [{ "message": error.to_string(), "extensions": extensions }] });
    (status, Json(body)).into_response()
}

/// 503 with `Retry-After`: a database is unreachable or has no free connection.
pub(super) fn unavailable(message: &str) -> axum::response::Response {
    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// A request body that is not a GraphQL request.
pub struct BadRequest(async_graphql::ParseRequestError);

impl From<async_graphql::ParseRequestError> for BadRequest {
    fn from(e: async_graphql::ParseRequestError) -> Self {
        BadRequest(e)
    }
}

impl IntoResponse for BadRequest {
    fn into_response(self) -> axum::response::Response {
        use async_graphql::ParseRequestError as E;
        match &self.0 {
            E::PayloadTooLarge => too_large(),
            // The body stream was cut by the body limit (a chunked body gives no length to check up front).
            E::Io(e) if e.to_string().contains("length limit exceeded") => too_large(),
            E::UnsupportedBatch => error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "batched requests are not accepted: send one operation per request",
            ),
            E::InvalidRequest(e) => error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!("the body is not a GraphQL request: {e}"),
            ),
            _ => error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                "the body is not a GraphQL request: send JSON {\"query\": \"...\", \"variables\": {...}}",
            ),
        }
    }
}

pub(super) fn too_large() -> axum::response::Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "BAD_USER_INPUT",
        "the request body is larger than 1 MiB",
    )
}

/// A GraphQL-shaped error answer, so clients parse every failure the same way.
pub(super) fn error_response(
    status: StatusCode,
    code: &str,
    message: &str,
) -> axum::response::Response {
    let body = Json(
        json!({ "data": null, "errors": [{ "message": message, "extensions": { "code": code } }] }),
    );
    let mut response = (status, body).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

pub(super) fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        &internal_message(),
    )
}
