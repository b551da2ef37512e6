//! The public sub-processor list, as vendors publish theirs, without authentication: `GET /subprocessors` (a plain
//! HTML page), `/subprocessors.json` and `/subprocessors.atom` (a feed of announcements and changes, for legal teams to
//! subscribe to). Only announced, active and retiring entries appear: a proposed one never leaks.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;
use steward_entities::subprocessor;

use crate::http::AppState;
use crate::registry;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn unavailable(e: crate::AppError) -> Response {
    tracing::error!(error = ?e, "public sub-processor list");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "the sub-processor list is unavailable; try again shortly",
    )
        .into_response()
}

fn entry(sp: &subprocessor::Model) -> serde_json::Value {
    json!({
        "id": sp.id,
        "name": sp.name,
        "legal_entity": sp.legal_entity,
        "website": sp.website,
        "purpose": sp.purpose,
        "countries": sp.countries.0.clone(),
        "categories": sp.categories.0.clone(),
        "mechanisms": sp.mechanisms.0.clone(),
        "status": sp.status,
        "effective_on": sp.effective_on,
        "updated_at": sp.updated_at,
        // Wider terms announced and not yet in effect.
        "pending_change": sp.pending_terms.as_ref().map(|t| json!({
            "effective_on": sp.pending_effective_on,
            "legal_entity": t.legal_entity,
            "purpose": t.purpose,
            "countries": t.countries,
            "categories": t.categories,
            "mechanisms": t.mechanisms,
        })),
    })
}

/// What a person reads of an announced change: the new terms and when.
fn pending_line(sp: &subprocessor::Model) -> String {
    match (&sp.pending_terms, sp.pending_effective_on) {
        (Some(t), Some(on)) => format!(
            "<br><small>Change announced, effective {on}: {} ({}), in {}, data {}</small>",
            escape(&t.legal_entity),
            escape(&t.purpose),
            escape(&t.countries.join(", ")),
            escape(&t.categories.join(", "))
        ),
        _ => String::new(),
    }
}

pub async fn json_list(State(state): State<AppState>) -> Response {
    match registry::list(state.tenancy(), true).await {
        Ok(list) => Json(json!({ "subprocessors": list.iter().map(entry).collect::<Vec<_>>() }))
            .into_response(),
        Err(e) => unavailable(e),
    }
}

pub async fn html_list(State(state): State<AppState>) -> Response {
    let list = match registry::list(state.tenancy(), true).await {
        Ok(list) => list,
        Err(e) => return unavailable(e),
    };
    let mut rows = String::new();
    for sp in &list {
        rows.push_str(&format!(
            "<tr><td><a href=\"{}\">{}</a><br><small>{}</small></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td></tr>\n",
            escape(&sp.website),
            escape(&sp.name),
            escape(&sp.legal_entity),
            escape(&sp.purpose),
            escape(&sp.countries.0.join(", ")),
            escape(&sp.categories.0.join(", ")),
            // People read this page: mechanisms by name (the JSON keeps the keys, for machines).
            escape(
                &sp.mechanisms
                    .0
                    .iter()
                    .filter_map(|key| crate::registry::mechanisms::known(key).ok())
                    // Only what is valid today: a mechanism struck down stays on the entry for the transfers made under it.
                    .filter(|m| m.invalid_from.is_none_or(|until| until > chrono::Utc::now().date_naive()))
                    .map(|m| m.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            escape(&format!(
                "{}{}",
                sp.status,
                sp.effective_on.map(|d| format!(" (effective {d})")).unwrap_or_default()
            )),
            pending_line(sp),
        ));
    }
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sub-processors</title>\
         <link rel=\"alternate\" type=\"application/atom+xml\" href=\"/subprocessors.atom\">\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;\
         padding:.4em;vertical-align:top;text-align:left}}</style></head><body>\n<h1>Sub-processors</h1>\n\
         <p>Companies that help us provide the service and may process our clients' personal data. Changes are announced \
         to clients in advance; subscribe to <a href=\"/subprocessors.atom\">the feed</a> or fetch \
         <a href=\"/subprocessors.json\">JSON</a>.</p>\n<table><thead><tr><th>Sub-processor</th><th>Service</th>\
         <th>Countries</th><th>Data categories</th><th>Transfer safeguards</th><th>Status</th></tr></thead><tbody>\n{rows}\
         </tbody></table>\n</body></html>\n"
    ))
    .into_response()
}

pub async fn atom_feed(State(state): State<AppState>) -> Response {
    let revisions = match registry::public_revisions(state.tenancy(), 200).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let updated = revisions.first().map(|(r, _)| r.at).unwrap_or_else(|| {
        chrono::DateTime::<chrono::Utc>::from_timestamp(0, 0).unwrap_or_default()
    });
    let mut entries = String::new();
    for (revision, sp) in &revisions {
        entries.push_str(&format!(
            "  <entry>\n    <id>urn:uuid:{}</id>\n    <title>{}: {}</title>\n    <updated>{}</updated>\n    \
             <link href=\"{}\"/>\n    <summary>{}</summary>\n  </entry>\n",
            revision.id,
            escape(&sp.name),
            escape(&revision.change),
            revision.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            escape(&sp.website),
            escape(&format!(
                "{} ({}) — {}. Countries: {}. Status: {}{}. {}",
                sp.name,
                sp.legal_entity,
                sp.purpose,
                sp.countries.0.join(", "),
                sp.status,
                sp.effective_on.map(|d| format!(", effective {d}")).unwrap_or_default(),
                revision.reason
            )),
        ));
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n  \
         <id>urn:steward:subprocessors</id>\n  <title>Sub-processor changes</title>\n  <updated>{}</updated>\n  \
         <author><name>Steward</name></author>\n  <link rel=\"self\" href=\"/subprocessors.atom\"/>\n{entries}</feed>\n",
        updated.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    (
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The yearly transparency report on legal demands: counts by kind and decision, no details.
pub async fn transparency(State(state): State<AppState>) -> Response {
    match crate::accountability::transparency_report(
        state.tenancy(),
        chrono::Utc::now().date_naive(),
    )
    .await
    {
        Ok(report) => Json(report).into_response(),
        Err(e) => unavailable(e),
    }
}
