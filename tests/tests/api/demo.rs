//! `serve --demo` on data a newcomer already used: it runs again and prints fresh tokens, whatever became of the demo
//! tenants meanwhile (here one is offboarding: nothing new is collected there, and the demo does not try). Its
//! sub-processors are announced before its tenants exist, and bind them all the same.

use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends};

async fn the_demo_runs_again_after_an_offboarding(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = steward::demo::prepare(&app.state, &app.config)
        .await
        .expect("the demo sets up");
    assert!(!first.is_empty());
    let tenants = app
        .gql(
            &app.root(),
            "{ tenants { edges { node { id name } } } }",
            json!({}),
        )
        .await;
    let named = |name: &str| {
        tenants.ok()["tenants"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["node"]["name"] == name)
            .map(|e| e["node"]["id"].clone())
            .unwrap_or_else(|| panic!("the demo's {name}"))
    };
    let globex = named("Globex Retail");
    app.run_jobs().await;
    let acme = named("Acme Health");
    let acme_admin = app.client_token("acme-admin", acme.as_str().unwrap());
    // Acme was created after the announcements and is bound all the same, with an accepted list version: Hetzner (in
    // effect) accepted at onboarding, Postmark notified.
    let list = app
        .gql(
            &acme_admin,
            "{ subProcessorList { acceptedVersion entries { subProcessor { name } standing notice { status } } } }",
            json!({}),
        )
        .await;
    let list = &list.ok()["subProcessorList"];
    assert!(list["acceptedVersion"].as_i64().unwrap() > 0, "{list:#}");
    let entries = list["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{list:#}");
    let standing = |name: &str| {
        entries
            .iter()
            .find(|e| e["subProcessor"]["name"] == name)
            .map(|e| (e["standing"].clone(), e["notice"]["status"].clone()))
    };
    assert_eq!(
        standing("Hetzner Online"),
        Some((json!("ACCEPTED_AT_ONBOARDING"), json!("ACTIVE"))),
        "{list:#}"
    );
    assert_eq!(
        standing("Postmark"),
        Some((json!("NOTIFIED"), json!("PENDING"))),
        "{list:#}"
    );
    // Its record of processing names its DPO and contact, and its request shows the controller's own deadline.
    let record = app
        .gql(
            &acme_admin,
            "{ recordOfProcessing { controller { contact dpo } } dataSubjectRequests { edges { node { controllerReceivedOn controllerDueOn deadlineWarning } } } }",
            json!({}),
        )
        .await;
    let controller = &record.ok()["recordOfProcessing"]["controller"];
    assert!(
        controller["dpo"].as_str().unwrap().contains("acme-health"),
        "{controller}"
    );
    assert!(controller["contact"].is_string());
    let requests = record.ok()["dataSubjectRequests"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(
        requests[0]["node"]["deadlineWarning"].is_string(),
        "{requests:?}"
    );
    app.gql(
        &app.root(),
        "mutation($t: ID!) { beginOffboarding(tenantId: $t, choice: RETURN_THEN_DELETE) { status } }",
        json!({ "t": globex }),
    )
    .await
    .ok();
    let again = steward::demo::prepare(&app.state, &app.config)
        .await
        .expect("the demo runs again on an offboarding tenant");
    assert_eq!(
        again.len(),
        first.len(),
        "a token for every demo user again"
    );
}

both_backends!(the_demo_runs_again_after_an_offboarding);
