//! The HTTP application: shared state, the router and its layers, and [`Application`], which binds its own listener so
//! tests and `main` start it the same way.
//!
//! Layers, outermost first: the caller's own request id (kept only as `x-client-request-id`), request id (always
//! generated, echoed as `x-request-id`), tracing span per request, panic guard
//! (a panic becomes a generic `INTERNAL` answer), timeout (408), body limit (413).

mod caller;
mod console;
mod errors;
mod graphql;
mod ops;
mod persisted;
mod server;
mod unsubscribe;

use caller::*;
use console::*;
pub use errors::*;
use graphql::*;
use ops::*;
pub use server::*;
use unsubscribe::*;

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
    /// Documents clients refer to by hash (automatic persisted queries).
    persisted: persisted::PersistedQueries,
    /// Set when the process begins to stop: `/readyz` answers 503 so load balancers stop sending.
    draining: std::sync::atomic::AtomicBool,
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
        ensure_crypto_backend().await?;
        let verifier = JwtVerifier::build(&config.jwt, config.limits.max_token_bytes).await?;
        let masters = config
            .master_keys
            .clone()
            .ok_or_else(|| anyhow::anyhow!("{}", crate::config::ConfigError::NoMasterKey))?;
        // What control-database changes owe a tenant's region is carried out by the worker's table.
        crate::owed::register(crate::worker::carry_out);
        let dbs = Databases::connect(config).await?;
        let keyring = crate::keys::migrate(&dbs, Some(masters))
            .await?
            .ok_or_else(|| anyhow::anyhow!("master keys were given"))?;
        crate::keys::check_versions(dbs.control(), &keyring).await?;
        let assignments = crate::tenancy::assignments::load_assignments(dbs.control())
            .await
            .map_err(|e| anyhow::anyhow!("loading role assignments: {e:?}"))?;
        let authz = steward_policy::Authorizer::new(assignments).await?;
        if let Some(end) = crate::deadlines::running_out(chrono::Utc::now().date_naive()) {
            tracing::warn!(
                %end,
                "the shipped public-holiday calendars end on {end}: deadlines after it are refused; regenerate them \
                 (api/data/holidays/generate.py) and upgrade"
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
        for (region, held) in crate::erasure::journal::held_again(&tenancy)
            .await
            .map_err(|e| anyhow::anyhow!("reading the erasure journal: {e:?}"))?
        {
            tracing::warn!(
                region = %region,
                subjects = held,
                "region {region} holds {held} subject(s) the erasure journal says were erased: was it restored from a \
                 backup? Stop the servers and run `steward restore --region {region}`"
            );
        }
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
            dpo: config.processor_dpo.clone(),
            eu_representative: config.processor_eu_representative.clone(),
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
                draining: Default::default(),
                persisted: persisted::PersistedQueries::new(DOCUMENT_CACHE_BYTES),
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

    /// The server's own connection pools, for tests that inspect or starve them and for operators' tooling. Request
    /// handling never uses this: it reaches a region only through a tenant's `Scope` or the platform capability.
    pub fn databases(&self) -> &Databases {
        self.inner.tenancy.databases()
    }

    /// Closes the database pools (the last step of a stop).
    pub(crate) async fn close(&self) {
        self.inner.tenancy.databases().close().await;
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
        // Someone who opens the server's address gets the console, not an empty 404.
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/graphql") }),
        )
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
            TraceLayer::new_for_http()
                // Error statuses are Steward's own answers (a 503 while draining, a 401), each logged where it is
                // decided when it matters: not again, at ERROR, for every readiness probe of a rolling deploy.
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::DEBUG))
                .make_span_with(|req: &Request<Body>| {
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
        .layer(axum::middleware::map_response(json_body_limit))
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

/// The body limit's own refusal (a `Content-Length` over it) is plain text: answered like every other error instead,
/// as JSON with `extensions.code`, keeping the response's other headers (its request id).
async fn json_body_limit(response: axum::response::Response) -> axum::response::Response {
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || json {
        return response;
    }
    let mut answer = errors::too_large();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name.clone(), value.clone());
        }
    }
    answer
}

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

/// Query text held by the parsed-document cache (`edge::DocumentCache`): a few thousand typical documents.
const DOCUMENT_CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// The departing tenant's export, streamed chunk by chunk ([`crate::offboarding::export`]); the tenant's `client_admin`
/// with its bearer token. Errors are GraphQL-shaped, like every other answer.
async fn tenant_export_download(
    State(state): State<AppState>,
    Caller(principal): Caller,
) -> axum::response::Response {
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

/// The public key that verifies erasure and offboarding certificates.
async fn signing_key(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "algorithm": "Ed25519",
        "public_key": crate::requests::certificate_public_key(state.tenancy()),
        "encoding": "base64",
        "use": "erasure and offboarding certificates: verify the signature over the UTF-8 bytes of the certificate document",
    }))
}
