//! `serve --demo` on data a newcomer already used: it runs again and prints fresh tokens, whatever became of the demo
//! tenants meanwhile (here one is offboarding: nothing new is collected there, and the demo does not try). Its
//! sub-processors reach its tenants as change notices.

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
    // The demo's sub-processors are announced to its tenants, as change notices they can object to.
    app.run_jobs().await;
    let acme = named("Acme Health");
    let acme_admin = app.client_token("acme-admin", acme.as_str().unwrap());
    let notices = app
        .gql(&acme_admin, "{ changeNotices { status } }", json!({}))
        .await;
    assert!(
        !notices.ok()["changeNotices"].as_array().unwrap().is_empty(),
        "{:?}",
        notices.body
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
