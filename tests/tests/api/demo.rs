//! `serve --demo` on data a newcomer already used: it runs again and prints fresh tokens, whatever became of the demo
//! tenants meanwhile (here one is offboarding: nothing new is collected there, and the demo does not try).

use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends};

async fn the_demo_runs_again_after_an_offboarding(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = steward::demo::prepare(&app.state, &app.config)
        .await
        .expect("the demo sets up");
    assert!(!first.is_empty());
    let globex = app
        .gql(
            &app.root(),
            "{ tenants { edges { node { id name } } } }",
            json!({}),
        )
        .await;
    let globex = globex.ok()["tenants"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["name"] == "Globex Retail")
        .map(|e| e["node"]["id"].clone())
        .expect("the demo's Globex Retail");
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
