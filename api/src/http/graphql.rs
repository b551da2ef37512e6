//! `POST /graphql`: the token, the tenant's rate, the parsed-document cache, the schema that runs the document, and
//! the error contract on the way out.

use super::*;

pub(super) async fn graphql(
    State(state): State<AppState>,
    raw: Request<Body>,
) -> axum::response::Response {
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
pub(super) fn over_rate(
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
