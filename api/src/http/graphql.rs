//! `POST /graphql`: behind the [`caller`](super::caller) extractors (JSON, token, rate), the parsed-document cache,
//! the schema that runs the document, the access-transparency log, and the error contract on the way out.

use super::*;

pub(super) async fn graphql(
    State(state): State<AppState>,
    _: JsonBody,
    Caller(principal): Caller,
    ids: RequestIds,
    // Read and parsed only now, for an authenticated caller within its rate.
    request: GraphQLRequest<BadRequest>,
) -> axum::response::Response {
    let mut request = request.into_inner();
    if state.inner.introspection == Introspection::Off {
        request = request.disable_introspection();
    }
    let partition = match principal.tenant_id {
        Some(tenant) => tenant.to_string(),
        None => format!("staff:{}", principal.subject),
    };
    match state.inner.persisted.resolve(&mut request, &partition) {
        persisted::Persisted::None | persisted::Persisted::Document => {}
        persisted::Persisted::NotFound => {
            // Apollo's clients look for this message and code, then send the document with its hash.
            return error_response(
                StatusCode::OK,
                "PERSISTED_QUERY_NOT_FOUND",
                "PersistedQueryNotFound",
            );
        }
        persisted::Persisted::Refused(why) => {
            return error_response(StatusCode::BAD_REQUEST, "BAD_USER_INPUT", &why);
        }
    }
    if request.query.trim().is_empty() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "the body has no `query`: send JSON {\"query\": \"...\", \"variables\": {...}}",
        );
    }
    let started = std::time::Instant::now();
    // Parsed and checked once per distinct document (cached by its text), and reused by execution.
    let checked = state
        .inner
        .documents
        .prepare(&partition, &mut request, state.inner.max_aliases);
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
    let operation_name = request.operation_name.clone();
    let pii = Arc::new(PiiContext::new(state.inner.tenancy.clone()));
    let schema = if prepared.introspection_only() {
        &state.inner.schema_introspection
    } else if prepared.known_valid() {
        state.tenancy().metrics().validation_skipped();
        &state.inner.schema_prevalidated
    } else {
        &state.inner.schema
    };
    let mut response = schema
        .execute(
            request
                .data(principal)
                .data(pii.clone())
                .data(crate::graphql::audit::VerificationSlot::default()),
        )
        .await;
    if response.errors.is_empty() {
        prepared.passed_validation();
    } else if let Some(document) = prepared.document() {
        crate::schema::nulls::complete(&mut response, document, operation_name.as_deref());
    }
    let operation = prepared.label;
    // Staff reads of personal values are logged for the client before the response leaves; if the log cannot be
    // written, the values are not served.
    if let Err(e) = pii.flush(ids.ours.as_deref(), ids.theirs.as_deref()).await {
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
