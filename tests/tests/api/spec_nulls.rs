//! Field errors as the GraphQL spec answers them: every selected key is present, an errored nullable field is `null`
//! with its error at its path, and an object whose selected fields all errored is still an object. Walked over every
//! type with personal fields, as support without a grant (each personal field `FORBIDDEN`).

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::subject;
use crate::requests::{extend, pause, reject, resume, start, step, submit};

/// Asserts that every field `set` selects is a key of `value` (each object of it, through lists), recursively.
fn assert_selected_keys(
    document: &ExecutableDocument,
    set: &SelectionSet,
    value: &Value,
    at: &str,
) {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                assert_selected_keys(document, set, item, &format!("{at}.{i}"));
            }
        }
        Value::Object(map) => {
            for item in &set.items {
                match &item.node {
                    Selection::Field(field) => {
                        let key = field.node.response_key().node.as_str();
                        let Some(inner) = map.get(key) else {
                            panic!("`{at}` lacks the selected key `{key}`: {value}");
                        };
                        if !field.node.selection_set.node.items.is_empty() {
                            assert!(
                                !inner.is_null() || key == "birthDate",
                                "`{at}.{key}` is an object whose fields errored: it must stay an object"
                            );
                            assert_selected_keys(
                                document,
                                &field.node.selection_set.node,
                                inner,
                                &format!("{at}.{key}"),
                            );
                        }
                    }
                    Selection::FragmentSpread(spread) => {
                        let fragment = &document.fragments[&spread.node.fragment_name.node];
                        assert_selected_keys(
                            document,
                            &fragment.node.selection_set.node,
                            value,
                            at,
                        );
                    }
                    Selection::InlineFragment(inline) => {
                        assert_selected_keys(document, &inline.node.selection_set.node, value, at)
                    }
                }
            }
        }
        Value::Null => panic!("`{at}` is null where objects were selected"),
        other => panic!("`{at}` is {other} where objects were selected"),
    }
}

/// The value at an error's path.
fn at_path<'a>(data: &'a Value, path: &[Value]) -> Option<&'a Value> {
    path.iter().try_fold(data, |v, step| match step {
        Value::String(key) => v.as_object()?.get(key),
        Value::Number(i) => v.as_array()?.get(i.as_u64()? as usize),
        _ => None,
    })
}

async fn errored_fields_are_null_and_objects_stay_objects(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Spec Co", "eu").await;
    let admin = app.invite(&t, "spec-admin", "CLIENT_ADMIN").await;
    let a = subject(&app, &admin, "spec-a", "ada@spec.example", "Ada Spec").await;
    subject(&app, &admin, "spec-b", "bob@spec.example", "Bob Spec").await;
    app.gql(
        &admin,
        "mutation($i: UpdateDataSubjectInput!) { updateDataSubject(input: $i) { id } }",
        json!({ "i": { "id": a, "birthDate": "1990-04-01" } }),
    )
    .await
    .ok();
    // Requests carrying every sealed text: a note, a pause, an extension, a rejection.
    let submitted = app
        .gql(
            &admin,
            "mutation($i: SubmitDataSubjectRequestInput!) { submitDataSubjectRequest(input: $i) { id version } }",
            json!({ "i": { "subjectId": a, "kind": "ACCESS", "note": "asked by phone" } }),
        )
        .await;
    let r = &submitted.ok()["submitDataSubjectRequest"];
    let (first, v) = (
        r["id"].as_str().unwrap().to_owned(),
        r["version"].as_i64().unwrap(),
    );
    let officer = app.staff_with("spec-officer", "PRIVACY_OFFICER").await;
    let v = step(
        &app,
        &officer,
        &start(),
        json!({ "t": t, "id": first, "v": v }),
    )
    .await["version"]
        .as_i64()
        .unwrap();
    let v = step(
        &app,
        &officer,
        &pause(),
        json!({ "t": t, "id": first, "v": v, "r": "waiting for ID" }),
    )
    .await["version"]
        .as_i64()
        .unwrap();
    let v = step(
        &app,
        &officer,
        &resume(),
        json!({ "t": t, "id": first, "v": v }),
    )
    .await["version"]
        .as_i64()
        .unwrap();
    step(
        &app,
        &officer,
        &extend(),
        json!({ "t": t, "id": first, "v": v, "d": 30, "r": "many archives" }),
    )
    .await;
    let (second, v) = submit(&app, &admin, &a, "ERASURE").await;
    step(
        &app,
        &officer,
        &reject(),
        json!({ "t": t, "id": second, "v": v, "r": "legal hold" }),
    )
    .await;

    let support = app.staff_with("spec-support", "SUPPORT").await;
    let documents = [
        // Personal fields beside others, and alone: the objects stay objects.
        "query($t: ID) { dataSubjects(tenantId: $t) { edges { node { id externalId birthDate personalData { category value source } } } } }",
        "query($t: ID) { dataSubjects(tenantId: $t) { edges { node { externalId personalData { value } } } } }",
        "query($t: ID, $a: ID!) { dataSubject(tenantId: $t, id: $a) { externalId birthDate personalData { value source } } }",
        // Aliases and fragments.
        "query($t: ID, $a: ID!) { who: dataSubject(tenantId: $t, id: $a) { ...Id mail: personalData(categories: [\"user.contact.email\"]) { v: value ... on PersonalData { s: source } } } } fragment Id on DataSubject { ext: externalId }",
        // Requests: each sealed text.
        "query($t: ID) { dataSubjectRequests(tenantId: $t, first: 5) { nodes { id kind note pauseReason extensionReason rejectionReason rectification } } }",
        "query($t: ID) { dataSubjectRequests(tenantId: $t, first: 5) { nodes { note rejectionReason } } }",
    ];
    let mut forbidden = 0;
    for text in documents {
        let reply = app.gql(&support, text, json!({ "t": t, "a": a })).await;
        let document = async_graphql::parser::parse_query(text).unwrap();
        let operation = document.operations.iter().next().unwrap().1;
        let data = &reply.body["data"];
        assert!(!data.is_null(), "{text}: {}", reply.body);
        assert_selected_keys(&document, &operation.node.selection_set.node, data, "data");
        let errors = reply.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{text}: no errors"));
        for error in errors {
            assert_eq!(error["extensions"]["code"], "FORBIDDEN", "{error}");
            let path = error["path"].as_array().unwrap();
            assert_eq!(
                at_path(data, path),
                Some(&Value::Null),
                "{text}: the errored field at {path:?} is present and null"
            );
            forbidden += 1;
        }
        assert!(!reply.body.to_string().contains("Ada"), "{text}");
        assert!(!reply.body.to_string().contains("asked by phone"), "{text}");
    }
    // 2 subjects x (externalId, birthDate, 2 x (value, source)); 2 x (externalId, 2 values); one subject's
    // 1 + 1 + 2 x 2; 1 + 1 + 1; the requests' texts (note, pause, extension; rejection); note and rejection.
    assert_eq!(
        forbidden,
        12 + 6 + 6 + 3 + 4 + 2,
        "one error per personal field"
    );

    // The same documents with a value readable show it: the checks above are about errors, not about a shape.
    let reply = app.gql(&admin, documents[1], json!({ "t": t })).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert!(reply.body.to_string().contains("ada@spec.example"));
}

both_backends!(errored_fields_are_null_and_objects_stay_objects);
