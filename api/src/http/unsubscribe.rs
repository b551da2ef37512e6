//! The one-click unsubscribe page of marketing notices (RFC 8058).

use super::*;

#[derive(serde::Deserialize)]
pub(super) struct UnsubscribeQuery {
    token: Option<String>,
}

pub(super) fn unsubscribe_page(status: StatusCode, body: &str) -> axum::response::Response {
    (
        status,
        Html(format!(
            "<!doctype html><meta charset=utf-8><title>Steward</title>{body}"
        )),
    )
        .into_response()
}

/// Checks the link's token, or answers the page that says why it cannot be used.
pub(super) fn unsubscribe_token_of(
    state: &AppState,
    token: Option<&str>,
) -> Result<(crate::ids::TenantId, crate::ids::UserId), Box<axum::response::Response>> {
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
pub(super) async fn unsubscribe(
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
pub(super) async fn unsubscribe_post(
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
