//! What operators call: `/metrics`, `/healthz`, `/readyz`.

use super::*;

/// Prometheus metrics: behind `STEWARD_METRICS_TOKEN` when set, else for loopback callers only.
pub(super) async fn metrics(
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
        std::iter::once(("control", tenancy.system().control())).chain(tenancy.system().regions());
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

pub(super) async fn healthz() -> &'static str {
    "ok"
}

pub(super) async fn readyz(State(state): State<AppState>) -> axum::response::Response {
    // Stopping: not ready, whatever the databases say, so no new traffic is sent here.
    if state
        .inner
        .draining
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining" })),
        )
            .into_response();
    }
    let checks = state.inner.tenancy.readiness().await;
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
        if tenancy.system().control().get_database_backend() == sea_orm::DbBackend::Sqlite {
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
