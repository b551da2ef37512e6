//! The console: GraphiQL and React served by Steward itself, under a policy that loads nothing from elsewhere.

use super::*;

/// The GraphiQL console. Its "Headers" tab takes `{"Authorization": "Bearer <token>"}`. Operations are never run over
/// GET: a GET can be sent cross-site by any page (and must not change anything), so one carrying a `query` is refused.
pub(super) async fn console(uri: axum::http::Uri) -> axum::response::Response {
    // A document, or a persisted query's hash (Apollo's clients send hashed queries by GET when told to).
    let carries_operation = uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| matches!(pair.split('=').next(), Some("query" | "extensions")))
    });
    if carries_operation {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "GraphQL operations are accepted only as POST with a JSON body, never over GET",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        return response;
    }
    (
        [
            (header::CONTENT_SECURITY_POLICY, CONSOLE_CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        Html(CONSOLE_HTML),
    )
        .into_response()
}

/// Only this server's own files: the console contacts no CDN, and nothing can frame it.
pub(super) const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                           img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                           base-uri 'none'; form-action 'none'";

pub(super) const CONSOLE_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Steward console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/graphiql.min.css">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading the Steward console&hellip;</div>
<script src="/console/react.production.min.js"></script>
<script src="/console/react-dom.production.min.js"></script>
<script src="/console/graphiql.min.js"></script>
<script src="/console/console.js"></script>
</body>
</html>
"#;

/// The console's static files, compiled in (see `api/assets/console/README.md`).
pub(super) async fn console_asset(
    axum::extract::Path(name): axum::extract::Path<String>,
) -> axum::response::Response {
    let (body, content_type): (&'static [u8], &str) = match name.as_str() {
        "graphiql.min.js" => (
            include_bytes!("../../assets/console/graphiql.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "graphiql.min.css" => (
            include_bytes!("../../assets/console/graphiql.min.css"),
            "text/css; charset=utf-8",
        ),
        "react.production.min.js" => (
            include_bytes!("../../assets/console/react.production.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "react-dom.production.min.js" => (
            include_bytes!("../../assets/console/react-dom.production.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "console.js" => (
            include_bytes!("../../assets/console/console.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return (StatusCode::NOT_FOUND, "no such console file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}
