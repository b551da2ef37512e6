//! The HTTP application: shared state, the router and its layers, and [`Application`], which binds its own listener so
//! tests and `main` start it the same way.
//!
//! Layers, outermost first: the caller's own request id (kept only as `x-client-request-id`), request id (always
//! generated, echoed as `x-request-id`), tracing span per request, panic guard
//! (a panic becomes a generic `INTERNAL` answer), timeout (408), body limit (413).

pub mod edge;
pub mod public;

use std::any::Any;
use std::sync::Arc;

use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::ServiceBuilderExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::MakeRequestUuid;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{JwtVerifier, ensure_crypto_backend};
use crate::config::{Config, Introspection, Limits};
use crate::crypto::Keyring;
use crate::db::{Databases, Readiness};
use crate::graphql::{finish_response, internal_message};
use crate::http::edge::RateLimiter;
use crate::schema::{StewardSchema, build_schema};
use crate::subjects::values::PiiContext;
use crate::tenancy::Tenancy;
use crate::users;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    schema: StewardSchema,
    /// The same schema without the spec's validation rules, for documents known to pass them (`edge::Prepared`).
    schema_prevalidated: StewardSchema,
    /// For documents that only introspect the schema ([`crate::http::edge::Prepared::introspection_only`]).
    schema_introspection: StewardSchema,
    verifier: JwtVerifier,
    tenancy: Tenancy,
    mailer: Option<crate::notices::Mailer>,
    rate_limiter: Option<RateLimiter>,
    /// Per client address, on the public pages.
    public_limiter: Option<RateLimiter>,
    introspection: Introspection,
    metrics_token: Option<String>,
    max_aliases: usize,
    documents: crate::http::edge::DocumentCache,
}

impl AppState {
    /// Connects to and migrates every database, loads role assignments, bootstraps the configured admin.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        ensure_crypto_backend()?;
        let verifier = JwtVerifier::new(&config.jwt, config.limits.max_token_bytes)?;
        let master_key = config
            .master_key
            .clone()
            .ok_or_else(|| anyhow::anyhow!("{}", crate::config::ConfigError::NoMasterKey))?;
        let keyring = Keyring::new(master_key);
        let dbs = Databases::connect(config).await?;
        dbs.migrate(Some(&keyring)).await?;
        let assignments = crate::tenancy::assignments::load_assignments(dbs.control())
            .await
            .map_err(|e| anyhow::anyhow!("loading role assignments: {e:?}"))?;
        let authz = steward_policy::Authorizer::new(assignments).await?;
        let missing = crate::deadlines::regions_without_calendar(config.region_names());
        if !missing.is_empty() {
            anyhow::bail!(
                "no public-holiday calendar for region(s) {}: request deadlines are counted in business days, so \
                 every region needs api/data/holidays/<region>.json",
                missing.join(", ")
            );
        }
        let outbound = crate::outbound::Outbound::new(config.allow_loopback_webhooks)?;
        if config.allow_loopback_webhooks {
            tracing::warn!(
                "STEWARD_ALLOW_LOOPBACK_WEBHOOKS is on: webhooks may target this machine's loopback addresses \
                 (development only)"
            );
        }
        let tenancy = Tenancy::new(
            dbs,
            authz,
            keyring,
            outbound,
            Arc::new(crate::metrics::Metrics::new()),
        );
        if let Some(admin) = &config.bootstrap_admin {
            let added = users::bootstrap_platform_admin(&tenancy, admin)
                .await
                .map_err(|e| anyhow::anyhow!("bootstrapping {admin} as platform_admin: {e:?}"))?;
            if added {
                tracing::info!(subject = %admin, "bootstrapped platform_admin");
            }
        }
        let processor = crate::accountability::records::Processor {
            name: config.processor_name.clone(),
            contact: config.processor_contact.clone(),
        };
        let schema = build_schema(
            tenancy.clone(),
            &config.limits,
            processor.clone(),
            async_graphql::ValidationMode::Strict,
        );
        let schema_prevalidated = build_schema(
            tenancy.clone(),
            &config.limits,
            processor.clone(),
            async_graphql::ValidationMode::Fast,
        );
        // Introspection-only documents (GraphiQL's Docs explorer, codegen tools) nest deeper than any data query
        // needs (`ofType` chains): they get their own depth and complexity limits, and run no resolver of ours.
        let introspection_limits = Limits {
            max_query_depth: config.limits.max_query_depth.max(INTROSPECTION_DEPTH),
            max_query_complexity: config
                .limits
                .max_query_complexity
                .max(INTROSPECTION_COMPLEXITY),
            ..config.limits.clone()
        };
        let schema_introspection = build_schema(
            tenancy.clone(),
            &introspection_limits,
            processor,
            async_graphql::ValidationMode::Strict,
        );
        let mailer = config
            .smtp_url
            .as_ref()
            .map(|url| {
                crate::notices::Mailer::new(url.expose(), &config.smtp_from, &config.public_url)
            })
            .transpose()?;
        let tenancy_metrics = tenancy.metrics().clone();
        Ok(AppState {
            inner: Arc::new(Inner {
                schema,
                schema_prevalidated,
                schema_introspection,
                verifier,
                tenancy,
                mailer,
                rate_limiter: RateLimiter::new(
                    config.limits.rate_limit_per_sec,
                    config.limits.rate_limit_burst,
                ),
                public_limiter: RateLimiter::new(
                    config.limits.public_rate_limit_per_sec,
                    config.limits.public_rate_limit_burst,
                ),
                introspection: config.limits.introspection,
                metrics_token: config.metrics_token.as_ref().map(|t| t.expose().to_owned()),
                max_aliases: config.limits.max_query_aliases,
                documents: crate::http::edge::DocumentCache::new(
                    DOCUMENT_CACHE_BYTES,
                    tenancy_metrics,
                ),
            }),
        })
    }

    pub fn tenancy(&self) -> &Tenancy {
        &self.inner.tenancy
    }

    /// What runs the job queue, with this server's mailer.
    pub fn job_runner(&self) -> crate::worker::Dispatcher {
        crate::worker::Dispatcher::new(self.inner.tenancy.clone(), self.inner.mailer.clone())
    }
}

/// The depth and complexity an introspection-only document may reach: GraphiQL's own query nests `ofType` nine deep
/// under `__schema { types { fields { type … } } }`.
const INTROSPECTION_DEPTH: usize = 20;
const INTROSPECTION_COMPLEXITY: usize = 5_000;

/// The router with every route and layer.
pub fn router(state: AppState, config: &Config) -> Router {
    // The public pages read the database without a token: each client address gets its own allowance.
    let public = Router::new()
        .route("/subprocessors", get(crate::http::public::html_list))
        .route("/subprocessors.json", get(crate::http::public::json_list))
        .route("/subprocessors.atom", get(crate::http::public::atom_feed))
        .route("/transparency.json", get(crate::http::public::transparency))
        .route("/policies", get(policies_view))
        .route("/unsubscribe", get(unsubscribe).post(unsubscribe_post))
        .route("/.well-known/steward-signing-key.json", get(signing_key))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_public,
        ));
    let routes = Router::new()
        .route("/graphql", get(console).post(graphql))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/console/{name}", get(console_asset))
        .route("/readyz", get(readyz))
        .route(
            crate::offboarding::export::DOWNLOAD_PATH,
            get(tenant_export_download),
        )
        .merge(public)
        .with_state(state.clone());
    with_edge_layers(routes, &config.limits, state.tenancy().metrics().clone())
}

/// The layers every route sits behind, outermost first: response counter, request id, trace span, panic guard,
/// timeout, body limit.
pub fn with_edge_layers(
    routes: Router,
    limits: &Limits,
    metrics: Arc<crate::metrics::Metrics>,
) -> Router {
    let layers = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(client_request_id))
        .set_x_request_id(MakeRequestUuid)
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<Body>| {
                let header = |name: &str| {
                    req.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-")
                        .to_owned()
                };
                tracing::info_span!(
                    "request",
                    method = %req.method(),
                    path = %req.uri().path(),
                    request_id = %header("x-request-id"),
                    client_request_id = %header(CLIENT_REQUEST_ID),
                )
            }),
        )
        .propagate_x_request_id()
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes));
    routes
        .layer(layers)
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::map_response_with_state(
            metrics,
            count_response,
        ))
}

/// Where a caller's own request id travels (and is echoed back): `x-request-id` is always Steward's own.
pub const CLIENT_REQUEST_ID: &str = "x-client-request-id";
/// The longest caller request id kept.
pub const MAX_CLIENT_REQUEST_ID: usize = 64;

/// Steward never trusts a caller's `x-request-id`: it is taken off the request (a fresh id is set next) and kept, cut
/// to [`MAX_CLIENT_REQUEST_ID`] visible ASCII characters, only as `x-client-request-id` — in the logs, in audit
/// details, and echoed on the response.
async fn client_request_id(
    mut req: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let headers = req.headers_mut();
    let theirs = headers
        .remove("x-request-id")
        .or_else(|| headers.remove(CLIENT_REQUEST_ID))
        .map(|v| {
            v.as_bytes()
                .iter()
                .filter(|b| b.is_ascii_graphic())
                .take(MAX_CLIENT_REQUEST_ID)
                .map(|b| char::from(*b))
                .collect::<String>()
        })
        .filter(|id| !id.is_empty())
        .and_then(|id| HeaderValue::from_str(&id).ok());
    headers.remove(CLIENT_REQUEST_ID);
    if let Some(id) = &theirs {
        headers.insert(CLIENT_REQUEST_ID, id.clone());
    }
    let mut response = next.run(req).await;
    if let Some(id) = theirs {
        response.headers_mut().insert(CLIENT_REQUEST_ID, id);
    }
    response
}

async fn count_response(
    State(metrics): State<Arc<crate::metrics::Metrics>>,
    response: axum::response::Response,
) -> axum::response::Response {
    metrics.http_response(response.status().as_u16());
    response
}

/// The policy of every HTML page that sets none of its own: nothing loads, nothing frames it, forms post only here.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `nosniff` on every response; on HTML pages a content security policy and no referrer (a page's URL may carry a
/// token, such as an unsubscribe link's).
async fn security_headers(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        headers
            .entry(header::CONTENT_SECURITY_POLICY)
            .or_insert(HeaderValue::from_static(PAGE_CSP));
        headers
            .entry(header::REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("no-referrer"));
    }
    response
}

/// The peer's address, when the request came through [`crate::http::edge::serve`] (in-process callers have none).
fn peer_of<B>(request: &Request<B>) -> Option<std::net::SocketAddr> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0)
}

/// The public pages' per-address rate limit: over it, 429 with `Retry-After`.
async fn limit_public(
    State(state): State<AppState>,
    request: Request<Body>,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let (Some(limiter), Some(peer)) = (&state.inner.public_limiter, peer_of(&request))
        && let Err(wait) = limiter.check(&peer.ip().to_string())
    {
        state.tenancy().metrics().rate_limited();
        let mut response = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many requests from this address; retry after the number of seconds in `Retry-After`",
        );
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return response;
    }
    next.run(request).await
}

/// The GraphiQL console. Its "Headers" tab takes `{"Authorization": "Bearer <token>"}`. Operations are never run over
/// GET: a GET can be sent cross-site by any page (and must not change anything), so one carrying a `query` is refused.
async fn console(uri: axum::http::Uri) -> axum::response::Response {
    let carries_operation = uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("query"))
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
/// Query text held by the parsed-document cache (`edge::DocumentCache`): a few thousand typical documents.
const DOCUMENT_CACHE_BYTES: u64 = 4 * 1024 * 1024;

const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                           img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
                           base-uri 'none'; form-action 'none'";

const CONSOLE_HTML: &str = r#"<!doctype html>
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
async fn console_asset(
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

/// Prometheus metrics: behind `STEWARD_METRICS_TOKEN` when set, else for loopback callers only.
async fn metrics(
    State(state): State<AppState>,
    request: Request<Body>,
) -> axum::response::Response {
    let headers = request.headers();
    // Without a token, only this machine may read them.
    if state.inner.metrics_token.is_none()
        && peer_of(&request).is_some_and(|peer| !peer.ip().is_loopback())
    {
        return error_response(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "/metrics answers only loopback callers unless STEWARD_METRICS_TOKEN is set",
        );
    }
    if let Some(expected) = &state.inner.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let matches = given.is_some_and(|g| {
            use sha2::Digest;
            // Compare digests, so the time taken says nothing about how much of the token was right.
            sha2::Sha256::digest(g.as_bytes()) == sha2::Sha256::digest(expected.as_bytes())
        });
        if !matches {
            return error_response(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "/metrics needs `Authorization: Bearer <STEWARD_METRICS_TOKEN>`",
            );
        }
    }
    let tenancy = state.tenancy();
    let databases =
        std::iter::once(("control", tenancy.databases().control())).chain(tenancy.all_regions());
    let text = tenancy
        .metrics()
        .render(tenancy.listening_for_changes(), databases)
        .await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn graphql(State(state): State<AppState>, raw: Request<Body>) -> axum::response::Response {
    let (parts, body) = raw.into_parts();
    let headers = &parts.headers;
    // Only JSON bodies: a form or text/plain POST is what a cross-site page can send without a preflight, and a
    // multipart upload is work no operation here needs. Decided from the headers, before the body is read.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "send the GraphQL request as JSON with `Content-Type: application/json`",
        );
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let principal = match state.inner.verifier.authenticate(authorization) {
        Ok(p) => p,
        Err(e) => return error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", &e.0),
    };
    if let Some(limited) = over_rate(&state, &principal) {
        return limited;
    }
    // What the access log needs of the headers, before they go back with the body to the extractor.
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (request_id, client_request_id) = (text("x-request-id"), text(CLIENT_REQUEST_ID));
    let raw = Request::from_parts(parts, body);
    // Only now, for an authenticated caller within its rate, is the body read and parsed.
    let request =
        <GraphQLRequest<BadRequest> as axum::extract::FromRequest<AppState>>::from_request(
            raw, &state,
        )
        .await;
    let mut request = match request {
        Ok(r) => r.into_inner(),
        Err(rejection) => return rejection.into_response(),
    };
    if state.inner.introspection == Introspection::Off {
        request = request.disable_introspection();
    }
    if request.query.trim().is_empty() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "the body has no `query`: send JSON {\"query\": \"...\", \"variables\": {...}}",
        );
    }
    // Another instance may have changed role assignments: catch up before deciding anything.
    if let Err(e) = state.inner.tenancy.sync_authorizer().await {
        tracing::error!(error = ?e, "role assignments could not be refreshed");
        return unavailable("the authorization store cannot be read right now; retry shortly");
    }
    let started = std::time::Instant::now();
    // Parsed and checked once per distinct document (cached by its text), and reused by execution.
    let checked = state
        .inner
        .documents
        .prepare(&mut request, state.inner.max_aliases);
    let prepared = match checked {
        Ok(prepared) => prepared,
        Err(error) => {
            let response = finish_response(async_graphql::Response::from_errors(vec![error]));
            state
                .tenancy()
                .metrics()
                .graphql_request("invalid".into(), started.elapsed());
            state.tenancy().metrics().graphql_error("BAD_USER_INPUT");
            return GraphQLResponse::from(response).into_response();
        }
    };
    let pii = Arc::new(PiiContext::new(state.inner.tenancy.clone()));
    let schema = if prepared.introspection_only() {
        &state.inner.schema_introspection
    } else if prepared.known_valid() {
        state.tenancy().metrics().validation_skipped();
        &state.inner.schema_prevalidated
    } else {
        &state.inner.schema
    };
    let response = schema
        .execute(
            request
                .data(principal)
                .data(pii.clone())
                .data(crate::graphql::audit::VerificationSlot::default()),
        )
        .await;
    if response.errors.is_empty() {
        prepared.passed_validation();
    }
    let operation = prepared.label;
    // Staff reads of personal values are logged for the client before the response leaves; if the log cannot be
    // written, the values are not served.
    if let Err(e) = pii
        .flush(request_id.as_deref(), client_request_id.as_deref())
        .await
    {
        tracing::error!(error = ?e, "access-transparency log write failed; response withheld");
        if matches!(e, crate::AppError::Unavailable(_)) {
            return unavailable(crate::error::UNAVAILABLE_MESSAGE);
        }
        return error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            &internal_message(),
        );
    }
    let response = finish_response(response);
    // A document that failed validation names no real operation: keep the label set bounded.
    let validated = response.data != async_graphql::Value::Null
        || response.errors.iter().all(|e| e.source.is_some());
    let operation = if validated {
        operation
    } else {
        "invalid".into()
    };
    state
        .tenancy()
        .metrics()
        .graphql_request(operation, started.elapsed());
    let mut unreachable = false;
    for error in &response.errors {
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(|v| match v {
                async_graphql::Value::String(s) => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or("INTERNAL");
        unreachable |= code == "UNAVAILABLE";
        state.tenancy().metrics().graphql_error(code);
    }
    let mut http = GraphQLResponse::from(response).into_response();
    if unreachable {
        // Nothing was committed (each mutation is one transaction); the client should come back shortly.
        *http.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        http.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    http
}

/// 429 with `Retry-After` when the caller's tenant (or the staff member) is over its request rate.
fn over_rate(
    state: &AppState,
    principal: &crate::auth::Principal,
) -> Option<axum::response::Response> {
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

/// The departing tenant's export, streamed chunk by chunk ([`crate::offboarding::export`]); the tenant's `client_admin`
/// with its bearer token. Errors are GraphQL-shaped, like every other answer.
async fn tenant_export_download(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let principal = match state.inner.verifier.authenticate(authorization) {
        Ok(p) => p,
        Err(e) => return error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", &e.0),
    };
    if let Some(limited) = over_rate(&state, &principal) {
        return limited;
    }
    if let Err(e) = state.inner.tenancy.sync_authorizer().await {
        tracing::error!(error = ?e, "role assignments could not be refreshed");
        return unavailable("the authorization store cannot be read right now; retry shortly");
    }
    if principal.kind == steward_policy::ActorKind::Staff {
        return error_response(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "a tenant's export is downloaded by the tenant's own client_admin",
        );
    }
    let started = async {
        let scope = state
            .inner
            .tenancy
            .scope(&principal, None, steward_policy::Permission::RequestSubmit)
            .await?;
        let tenant = scope.tenant_id();
        Ok::<_, crate::AppError>((tenant, crate::offboarding::export::download(scope).await?))
    };
    match started.await {
        Ok((tenant, lines)) => (
            [
                (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"steward-export-{}.ndjson\"",
                        tenant.0
                    ),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            Body::from_stream(lines),
        )
            .into_response(),
        Err(e) => app_error_response(e),
    }
}

/// An [`AppError`](crate::AppError) outside GraphQL: its code (and `reason`), its client message, and the matching
/// HTTP status.
fn app_error_response(error: crate::AppError) -> axum::response::Response {
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
        extensions["reason"] = json!(reason);
    }
    let body = json!({ "data": null, "errors": [{ "message": error.to_string(), "extensions": extensions }] });
    (status, Json(body)).into_response()
}

/// 503 with `Retry-After`: a database is unreachable or has no free connection.
fn unavailable(message: &str) -> axum::response::Response {
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

fn too_large() -> axum::response::Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "BAD_USER_INPUT",
        "the request body is larger than 1 MiB",
    )
}

/// A GraphQL-shaped error answer, so clients parse every failure the same way.
fn error_response(status: StatusCode, code: &str, message: &str) -> axum::response::Response {
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

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response<Body> {
    tracing::error!("a request handler panicked");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        &internal_message(),
    )
}

#[derive(serde::Deserialize)]
struct UnsubscribeQuery {
    token: Option<String>,
}

fn unsubscribe_page(status: StatusCode, body: &str) -> axum::response::Response {
    (
        status,
        Html(format!(
            "<!doctype html><meta charset=utf-8><title>Steward</title>{body}"
        )),
    )
        .into_response()
}

/// Checks the link's token, or answers the page that says why it cannot be used.
fn unsubscribe_token_of(
    state: &AppState,
    token: Option<&str>,
) -> Result<(crate::ids::TenantId, uuid::Uuid), Box<axum::response::Response>> {
    use crate::notices::BadUnsubscribe;
    match token.map(|t| {
        crate::notices::verify_unsubscribe_token(state.tenancy().keyring(), t, chrono::Utc::now())
    }) {
        Some(Ok(found)) => Ok(found),
        Some(Err(BadUnsubscribe::Expired)) => Err(Box::new(unsubscribe_page(
            StatusCode::GONE,
            "<p>This unsubscribe link has expired. Use the link in a more recent email, or change your \
             communication preferences in the Steward console.</p>",
        ))),
        _ => Err(Box::new(unsubscribe_page(
            StatusCode::BAD_REQUEST,
            "<p>This unsubscribe link is not valid. Use the link from the email as it was sent.</p>",
        ))),
    }
}

/// The link in marketing email, opened in a browser (or fetched by a mail scanner): a page that asks to confirm.
/// Nothing changes on a GET.
async fn unsubscribe(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<UnsubscribeQuery>,
) -> axum::response::Response {
    if let Err(page) = unsubscribe_token_of(&state, query.token.as_deref()) {
        return *page;
    }
    let token = query.token.unwrap_or_default();
    // The token is URL-safe base64 and hex joined by a dot: nothing to escape, but escape anyway.
    let token = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>();
    unsubscribe_page(
        StatusCode::OK,
        &format!(
            "<p>Unsubscribe from Steward's marketing messages? Administrative notices (such as changes to our \
             privacy policy) will still reach you.</p>\
             <form method=post action=\"/unsubscribe?token={token}\">\
             <input type=hidden name=List-Unsubscribe value=One-Click>\
             <button type=submit>Unsubscribe</button></form>"
        ),
    )
}

/// The one-click unsubscribe (RFC 8058: a mail client POSTs `List-Unsubscribe=One-Click` to the link), and the
/// confirmation page's button. Opts the user out without logging in; unsubscribing again changes nothing.
async fn unsubscribe_post(
    State(state): State<AppState>,
    axum::extract::Query(query): axum::extract::Query<UnsubscribeQuery>,
) -> axum::response::Response {
    let (tenant, user) = match unsubscribe_token_of(&state, query.token.as_deref()) {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let tenancy = state.tenancy();
    let entry = crate::audit::AuditEntry::system("communication.unsubscribed", "tenant_user", user);
    match crate::notices::set_opt_out(tenancy, tenant, user, true, "unsubscribe_link", entry).await
    {
        Ok(_) => unsubscribe_page(
            StatusCode::OK,
            "<p>You are unsubscribed from marketing messages. Administrative notices (such as changes to our \
             privacy policy) will still reach you.</p>",
        ),
        Err(crate::AppError::NotFound(_)) => unsubscribe_page(
            StatusCode::NOT_FOUND,
            "<p>This link's account no longer exists.</p>",
        ),
        Err(e) => {
            tracing::error!(error = ?e, "unsubscribe failed");
            unsubscribe_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<p>Something went wrong; please try the link again later.</p>",
            )
        }
    }
}

/// The current and upcoming privacy-policy and terms versions, with what changes.
async fn policies_view(State(state): State<AppState>) -> axum::response::Response {
    match crate::privacy_policy::public_view(state.tenancy()).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "GET /policies failed");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                &internal_message(),
            )
        }
    }
}

/// The public key that verifies erasure certificates.
async fn signing_key(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "algorithm": "Ed25519",
        "public_key": crate::requests::certificate_public_key(state.tenancy()),
        "encoding": "base64",
        "use": "erasure certificates: verify the signature over the UTF-8 bytes of the certificate document",
    }))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    let checks = state.inner.tenancy.databases().readiness().await;
    let ready = checks.iter().all(|(_, r)| *r == Readiness::Ready);
    let databases: serde_json::Map<String, serde_json::Value> = checks
        .into_iter()
        .map(|(name, r)| (name, r.as_str().into()))
        .collect();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    // How this instance learns of role changes made elsewhere (see `Tenancy::sync_authorizer`).
    let tenancy = &state.inner.tenancy;
    let role_changes =
        if tenancy.databases().control().get_database_backend() == sea_orm::DbBackend::Sqlite {
            "single instance"
        } else if tenancy.listening_for_changes() {
            "notified"
        } else {
            "read per request"
        };
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "databases": databases,
        "roleChanges": role_changes,
    });
    (status, Json(body)).into_response()
}

/// The server, bound to its address and ready to run.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    job_interval: std::time::Duration,
    job_poll: std::time::Duration,
    job_lease: std::time::Duration,
    header_timeout: std::time::Duration,
    write_timeout: std::time::Duration,
    max_connections: usize,
    role_changes: crate::config::RoleChanges,
}

impl Application {
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let state = AppState::build(config).await?;
        let router = router(state.clone(), config);
        let listener = TcpListener::bind(config.listen).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}: {e} (set STEWARD_LISTEN)",
                config.listen
            )
        })?;
        Ok(Application {
            listener,
            router,
            state,
            job_interval: config.job_interval,
            job_poll: config.job_poll,
            job_lease: config.job_lease,
            header_timeout: config.limits.header_timeout,
            write_timeout: config.limits.write_timeout,
            max_connections: config.limits.max_connections,
            role_changes: config.role_changes,
        })
    }

    /// The bound port (useful when configured with port 0).
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// The router, to drive requests in-process.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let runner = self.state.job_runner();
        let worker = crate::jobs::Worker::new(self.job_lease);
        tracing::info!(worker = %worker.id, "job worker started");
        let jobs = tokio::spawn(run_jobs(runner, worker, self.job_interval, self.job_poll));
        let tenancy = self.state.inner.tenancy.clone();
        let notified = self.role_changes == crate::config::RoleChanges::Notify;
        let listener = tokio::spawn(async move {
            if notified {
                tenancy.listen_for_changes().await;
            }
        });
        let limiter_state = self.state.clone();
        let sweeper = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                ticks.tick().await;
                for limiter in [
                    &limiter_state.inner.rate_limiter,
                    &limiter_state.inner.public_limiter,
                ]
                .into_iter()
                .flatten()
                {
                    limiter.forget_idle();
                }
            }
        });
        let served = crate::http::edge::serve(
            self.listener,
            self.router,
            self.header_timeout,
            self.write_timeout,
            self.max_connections,
            shutdown_signal(),
            self.state.tenancy().metrics().clone(),
        )
        .await;
        jobs.abort();
        sweeper.abort();
        listener.abort();
        served?;
        Ok(())
    }
}

/// The job worker: every `poll`, enqueues the recurring sweeps of the current `interval` (each runs once per
/// interval across every instance) and runs every due job of every queue.
async fn run_jobs(
    runner: crate::worker::Dispatcher,
    worker: crate::jobs::Worker,
    interval: std::time::Duration,
    poll: std::time::Duration,
) {
    let mut ticks = tokio::time::interval(poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now = chrono::Utc::now();
        if let Err(e) =
            crate::jobs::schedule_sweeps(crate::jobs::Handler::tenancy(&runner), now, interval)
                .await
        {
            tracing::error!(error = ?e, "scheduling the recurring jobs failed");
        }
        match crate::jobs::run_due(&runner, &worker, now).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(ran = n, "jobs ran"),
            Err(e) => tracing::error!(error = ?e, "the job queue could not be read"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
