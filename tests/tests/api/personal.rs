//! Personal data: subjects and records, encryption at rest, validation, filters and rectification.

use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

pub const CREATE: &str = "mutation($i: CreateDataSubjectInput!) { createDataSubject(input: $i) { id externalId categories personalData { id category value purpose source } } }";

pub fn record(category: &str, value: &str) -> Value {
    json!({ "category": category, "value": value, "purpose": "essential.service", "source": "signup form" })
}

/// Creates a subject with an email and a name as `token`; returns its id.
pub async fn subject(
    app: &TestApp,
    token: &str,
    external_id: &str,
    email: &str,
    name: &str,
) -> String {
    let reply = app
        .gql(
            token,
            CREATE,
            json!({ "i": { "externalId": external_id, "personalData": [record("user.contact.email", email), record("user.name", name)] } }),
        )
        .await;
    reply.ok()["createDataSubject"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn client_admin_manages_subjects(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Personal Co", "eu").await;
    let admin = app.invite(&t, "pc-admin", "CLIENT_ADMIN").await;
    let viewer = app.invite(&t, "pc-viewer", "CLIENT_VIEWER").await;

    let taxonomy = app
        .gql(
            &viewer,
            "{ taxonomy { version categories { key format } purposes { key } } }",
            json!({}),
        )
        .await;
    assert!(
        taxonomy.ok()["taxonomy"]["categories"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "user.contact.email" && c["format"] == "email")
    );

    let created = app
        .gql(
            &admin,
            CREATE,
            json!({ "i": { "externalId": "cust-1", "birthDate": "1990-05-17", "personalData": [
                record("user.contact.email", " Ada@Example.org "),
                record("user.name", "Ada Lovelace"),
                record("user.device.ip_address", "2001:DB8::7"),
            ] } }),
        )
        .await;
    let ada = created.ok()["createDataSubject"].clone();
    assert_eq!(ada["externalId"], "cust-1");
    assert_eq!(
        ada["categories"],
        json!(["user.contact.email", "user.device.ip_address", "user.name"])
    );
    let values: Vec<&str> = ada["personalData"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        values,
        ["Ada@Example.org", "Ada Lovelace", "2001:db8::7"],
        "trimmed and canonical"
    );
    let id = ada["id"].as_str().unwrap().to_owned();
    let other = subject_of_another(&app).await;

    // A viewer reads values too (by role), one subject or a page.
    let one = app
        .gql(&viewer, "query($id: ID!) { dataSubject(id: $id) { externalId birthDate personalData(categories: [\"user.name\"]) { value } } }", json!({ "id": id }))
        .await;
    assert_eq!(
        one.ok()["dataSubject"],
        json!({ "externalId": "cust-1", "birthDate": "1990-05-17", "personalData": [{ "value": "Ada Lovelace" }] })
    );
    // Another tenant's subject id is NOT_FOUND, exactly like a missing one.
    for missing in [other.as_str(), &uuid::Uuid::now_v7().to_string()] {
        app.gql(
            &admin,
            "query($id: ID!) { dataSubject(id: $id) { id } }",
            json!({ "id": missing }),
        )
        .await
        .expect_code("NOT_FOUND");
    }

    // Filters: by external id, by email through the blind index (any case), by category.
    subject(&app, &admin, "cust-2", "grace@example.org", "Grace Hopper").await;
    let list = "query($e: String, $x: String, $c: String) { dataSubjects(email: $e, externalId: $x, category: $c) { totalCount edges { node { externalId } } } }";
    let by_email = app
        .gql(&admin, list, json!({ "e": "  GRACE@example.ORG" }))
        .await;
    assert_eq!(
        by_email.ok()["dataSubjects"]["edges"][0]["node"]["externalId"],
        "cust-2"
    );
    assert_eq!(by_email.ok()["dataSubjects"]["totalCount"], 1);
    let by_x = app.gql(&admin, list, json!({ "x": "cust-1" })).await;
    assert_eq!(by_x.ok()["dataSubjects"]["totalCount"], 1);
    let by_c = app
        .gql(&admin, list, json!({ "c": "user.device.ip_address" }))
        .await;
    assert_eq!(
        by_c.ok()["dataSubjects"]["edges"],
        json!([{ "node": { "externalId": "cust-1" } }])
    );
    let all = app.gql(&admin, list, json!({})).await;
    assert_eq!(all.ok()["dataSubjects"]["totalCount"], 2);
    let none = app
        .gql(&admin, list, json!({ "e": "nobody@example.org" }))
        .await;
    assert_eq!(none.ok()["dataSubjects"]["totalCount"], 0);

    // Rectification: a new value, found by its new email, no longer by the old one.
    let email_id = ada["personalData"][0]["id"].as_str().unwrap();
    let fixed = app
        .gql(
            &admin,
            "mutation($i: UpdatePersonalDataInput!) { updatePersonalData(input: $i) { value purpose } }",
            json!({ "i": { "id": email_id, "value": "ada@lovelace.example", "purpose": "operations.support" } }),
        )
        .await;
    assert_eq!(
        fixed.ok()["updatePersonalData"],
        json!({ "value": "ada@lovelace.example", "purpose": "operations.support" })
    );
    assert_eq!(
        app.gql(&admin, list, json!({ "e": "ada@example.org" }))
            .await
            .ok()["dataSubjects"]["totalCount"],
        0
    );
    assert_eq!(
        app.gql(&admin, list, json!({ "e": "ADA@lovelace.example" }))
            .await
            .ok()["dataSubjects"]["totalCount"],
        1
    );

    let added = app
        .gql(
            &admin,
            "mutation($i: AddPersonalDataInput!) { addPersonalData(input: $i) { category value } }",
            json!({ "i": { "subjectId": id, "category": "user.contact.phone_number", "value": "+44 20 7946 0958", "purpose": "operations.support", "source": "call centre" } }),
        )
        .await;
    assert_eq!(added.ok()["addPersonalData"]["value"], "+44 20 7946 0958");
    let updated = app
        .gql(
            &admin,
            "mutation($i: UpdateDataSubjectInput!) { updateDataSubject(input: $i) { externalId birthDate } }",
            json!({ "i": { "id": id, "externalId": "cust-1b", "birthDate": null } }),
        )
        .await;
    assert_eq!(
        updated.ok()["updateDataSubject"],
        json!({ "externalId": "cust-1b", "birthDate": null })
    );

    // A viewer changes nothing.
    app.gql(&viewer, CREATE, json!({ "i": { "externalId": "v-1" } }))
        .await
        .expect_code("FORBIDDEN");

    // Every change is in the tenant's audit chain, by id, without values.
    let tid = steward_tests::stored_uuid(&app, &t);
    let events = app.count("eu", "audit_events", &format!("tenant_id = {tid} AND action IN ('subject.created', 'subject.updated', 'personal_data.added', 'personal_data.rectified')")).await;
    assert_eq!(events, 5);
    for planted in ["Ada Lovelace", "lovelace.example", "Grace Hopper", "7946"] {
        assert_eq!(
            app.count("eu", "audit_events", &format!("detail LIKE '%{planted}%'"))
                .await,
            0
        );
    }
}

/// A subject in a second tenant, for isolation checks.
async fn subject_of_another(app: &TestApp) -> String {
    let t = app.create_tenant("Elsewhere Ltd", "us").await;
    let admin = app.invite(&t, "elsewhere-admin", "CLIENT_ADMIN").await;
    subject(app, &admin, "other-1", "other@example.org", "Someone Else").await
}

async fn values_are_encrypted_at_rest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let eu = app.create_tenant("Cipher EU", "eu").await;
    let us = app.create_tenant("Cipher US", "us").await;
    let eu_admin = app.invite(&eu, "cipher-eu", "CLIENT_ADMIN").await;
    let us_admin = app.invite(&us, "cipher-us", "CLIENT_ADMIN").await;
    let planted = [
        ("user.contact.email", "planted.q7x@cipher.example"),
        ("user.name", "Plantagenet Quux"),
        ("user.financial.bank_account", "DE89370400440532013000"),
        ("user.device.ip_address", "203.0.113.77"),
    ];
    for (admin, external) in [(&eu_admin, "p-eu"), (&us_admin, "p-us")] {
        let records: Vec<Value> = planted.iter().map(|(c, v)| record(c, v)).collect();
        app.gql(admin, CREATE, json!({ "i": { "externalId": external, "birthDate": "1977-07-07", "personalData": records } }))
            .await
            .ok();
    }
    // Readable through the API...
    let read = app
        .gql(
            &eu_admin,
            "{ dataSubjects { edges { node { personalData { value } } } } }",
            json!({}),
        )
        .await;
    assert!(read.ok().to_string().contains("Plantagenet Quux"));
    // ...and nowhere in the databases, in any form a thief of the disk would see.
    for db in ["eu", "us", "control"] {
        for (_, value) in planted {
            assert!(
                !app.database_contains(db, value).await,
                "{value} in clear in {db}"
            );
        }
        assert!(!app.database_contains(db, "planted.q7x").await);
        assert!(
            !app.database_contains(db, "1977-07-07").await,
            "birth date in clear in {db}"
        );
    }
}

async fn bad_personal_data_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Strict Co", "eu").await;
    let admin = app.invite(&t, "strict-admin", "CLIENT_ADMIN").await;
    let id = subject(&app, &admin, "s-1", "s1@example.org", "First Subject").await;
    let tid = steward_tests::stored_uuid(&app, &t);
    let before = counts(&app, &tid).await;

    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "externalId": "x", "personalData": [record("user.shoe_size", "44")] }),
            "BAD_USER_INPUT",
            "user.contact.email",
        ),
        (
            json!({ "externalId": "x", "personalData": [{ "category": "user.name", "value": "A", "purpose": "profit", "source": "s" }] }),
            "BAD_USER_INPUT",
            "essential.service",
        ),
        (
            json!({ "externalId": "x", "personalData": [record("user.name", &"n".repeat(4097))] }),
            "BAD_USER_INPUT",
            "4096",
        ),
        (
            json!({ "externalId": "x", "personalData": [record("user.contact.email", "not-an-email")] }),
            "BAD_USER_INPUT",
            "email",
        ),
        (
            json!({ "externalId": "x", "personalData": [record("user.contact.phone_number", "call me maybe")] }),
            "BAD_USER_INPUT",
            "phone",
        ),
        (
            json!({ "externalId": "x", "personalData": [record("user.demographic.date_of_birth", "2999-01-01")] }),
            "BAD_USER_INPUT",
            "future",
        ),
        (
            json!({ "externalId": "x", "birthDate": "2999-01-01" }),
            "BAD_USER_INPUT",
            "future",
        ),
        (
            json!({ "externalId": "x", "personalData": [{ "category": "user.name", "value": "A", "purpose": "analytics", "source": "s", "collectedAt": "2999-01-01T00:00:00Z" }] }),
            "BAD_USER_INPUT",
            "future",
        ),
        (
            json!({ "externalId": "   " }),
            "BAD_USER_INPUT",
            "externalId",
        ),
        // Ids that look like another: a zero-width space, a right-to-left override.
        (
            json!({ "externalId": "\u{200B}s-1" }),
            "BAD_USER_INPUT",
            "zero-width",
        ),
        (
            json!({ "externalId": "s-\u{202E}1" }),
            "BAD_USER_INPUT",
            "zero-width",
        ),
        // A good record after a bad one: the whole call fails, nothing half-done.
        (
            json!({ "externalId": "x", "personalData": [record("user.name", "Fine"), record("user.contact.email", "bad")] }),
            "BAD_USER_INPUT",
            "email",
        ),
        (
            json!({ "externalId": "s-1", "personalData": [record("user.name", "Dup")] }),
            "CONFLICT",
            "externalId",
        ),
    ];
    for (input, code, says) in cases {
        let reply = app.gql(&admin, CREATE, json!({ "i": input })).await;
        reply.expect_code(code);
        assert!(
            reply.message().contains(says),
            "`{says}` not in `{}`",
            reply.message()
        );
        assert!(
            !reply.body.to_string().to_lowercase().contains("unique"),
            "{}",
            reply.body
        );
    }
    let add = "mutation($i: AddPersonalDataInput!) { addPersonalData(input: $i) { id } }";
    app.gql(&admin, add, json!({ "i": { "subjectId": id, "category": "user.contact.email", "value": "@@", "purpose": "analytics", "source": "s" } }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&admin, add, json!({ "i": { "subjectId": uuid::Uuid::now_v7().to_string(), "category": "user.name", "value": "X", "purpose": "analytics", "source": "s" } }))
        .await
        .expect_code("NOT_FOUND");
    let malformed = app.gql(&admin, add, json!({ "i": { "subjectId": "nope", "category": "user.name", "value": "X", "purpose": "analytics", "source": "s" } }))
        .await;
    malformed.expect_code("BAD_USER_INPUT");
    // The message names the argument and the kind of id it wants.
    assert_eq!(
        malformed.body["errors"][0]["message"],
        "`subjectId` is not a valid data subject id (expected a UUID)"
    );
    let update = "mutation($i: UpdatePersonalDataInput!) { updatePersonalData(input: $i) { id } }";
    app.gql(
        &admin,
        update,
        json!({ "i": { "id": uuid::Uuid::now_v7().to_string(), "value": "x" } }),
    )
    .await
    .expect_code("NOT_FOUND");
    assert_eq!(counts(&app, &tid).await, before, "nothing changed");
}

async fn counts(app: &TestApp, tid: &str) -> (i64, i64, i64) {
    (
        app.count("eu", "data_subjects", &format!("tenant_id = {tid}"))
            .await,
        app.count("eu", "personal_data", &format!("tenant_id = {tid}"))
            .await,
        app.count("eu", "audit_events", &format!("tenant_id = {tid}"))
            .await,
    )
}

async fn a_page_costs_a_fixed_number_of_statements(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Counted Co", "eu").await;
    let admin = app.invite(&t, "counted-admin", "CLIENT_ADMIN").await;
    for i in 0..25 {
        subject(
            &app,
            &admin,
            &format!("c-{i}"),
            &format!("c{i}@example.org"),
            &format!("Person {i}"),
        )
        .await;
    }
    let query = "query($f: Int) { dataSubjects(first: $f) { totalCount edges { node { id externalId categories personalData { category value } } } } }";
    // The subjects' keys in memory first (the first page that opens a subject's values reads its key once).
    app.gql(&admin, query, json!({ "f": 25 })).await.ok();
    let mut costs = Vec::new();
    for first in [1, 5, 20] {
        let before = app.statements();
        let reply = app.gql(&admin, query, json!({ "f": first })).await;
        assert_eq!(
            reply.ok()["dataSubjects"]["edges"]
                .as_array()
                .unwrap()
                .len(),
            first as usize
        );
        costs.push(app.statements() - before);
    }
    assert_eq!(
        costs[0], costs[2],
        "statements for 1, 5, 20 subjects: {costs:?}"
    );
    assert_eq!(
        costs[1], costs[2],
        "statements for 1, 5, 20 subjects: {costs:?}"
    );
    // The count, and the subjects with their records in one statement on both databases; on PostgreSQL, with no
    // role-change listener in this test app (the server starts one), each request also reads the roles' version.
    let version = usize::from(matches!(app.backend, Backend::Postgres(_)));
    assert_eq!(costs[2] as usize, 2 + version, "{costs:?}");
}

/// Paging through a tenant whose subject ids interleave with another tenant's: every node carries its own records and
/// nobody else's (an unfiltered page reads its records as one id range), and a filtered page does too.
async fn every_page_carries_its_own_records(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.create_tenant("Paged A", "eu").await;
    let b = app.create_tenant("Paged B", "eu").await;
    let admin_a = app.invite(&a, "paged-a", "CLIENT_ADMIN").await;
    let admin_b = app.invite(&b, "paged-b", "CLIENT_ADMIN").await;
    for i in 0..7 {
        subject(
            &app,
            &admin_a,
            &format!("a-{i}"),
            &format!("a{i}@example.org"),
            &format!("A {i}"),
        )
        .await;
        subject(
            &app,
            &admin_b,
            &format!("b-{i}"),
            &format!("b{i}@example.org"),
            &format!("B {i}"),
        )
        .await;
    }
    let query = "query($after: String, $c: String) { dataSubjects(first: 3, after: $after, category: $c) { pageInfo { hasNextPage endCursor } edges { node { externalId personalData { category value } } } } }";
    for category in [None, Some("user.name")] {
        let mut after: Option<String> = None;
        let mut seen = Vec::new();
        loop {
            let reply = app
                .gql(&admin_a, query, json!({ "after": after, "c": category }))
                .await;
            let page = &reply.ok()["dataSubjects"];
            for edge in page["edges"].as_array().unwrap() {
                let node = &edge["node"];
                let n = node["externalId"]
                    .as_str()
                    .unwrap()
                    .strip_prefix("a-")
                    .unwrap()
                    .to_owned();
                let mut records: Vec<(String, String)> = node["personalData"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            r["category"].as_str().unwrap().to_owned(),
                            r["value"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                records.sort();
                assert_eq!(
                    records,
                    vec![
                        ("user.contact.email".to_owned(), format!("a{n}@example.org")),
                        ("user.name".to_owned(), format!("A {n}")),
                    ],
                    "{category:?}"
                );
                seen.push(n);
            }
            if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                break;
            }
            after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
        }
        seen.sort();
        assert_eq!(
            seen,
            (0..7).map(|i| i.to_string()).collect::<Vec<_>>(),
            "{category:?}"
        );
    }
}

/// An unfiltered page with records is read in one statement and decoded by column position; reading each subject
/// alone goes through SeaORM's own decoding. Both must answer the same, field for field, for subjects with and
/// without a birth date, without records, with three, and restricted (values withheld on both paths).
async fn page_reads_match_single_reads(backend: Backend) {
    let app = TestApp::spawn(backend.clone()).await;
    let t = app.create_tenant("Paged Equal", "eu").await;
    let admin = app.invite(&t, "pe-admin", "CLIENT_ADMIN").await;
    let inputs = [
        json!({ "externalId": "pe-0", "birthDate": "1990-05-17", "personalData": [record("user.contact.email", "pe0@example.org"), record("user.name", "Pe Zero")] }),
        json!({ "externalId": "pe-1" }),
        json!({ "externalId": "pe-2", "personalData": [record("user.name", "Pe Two"), record("user.contact.email", "pe2@example.org"), record("user.contact.phone_number", "+44 20 7946 0958")] }),
        json!({ "externalId": "pe-3", "personalData": [record("user.name", "Pe Three")] }),
    ];
    let mut created = Vec::new();
    for input in inputs {
        let reply = app.gql(&admin, CREATE, json!({ "i": input })).await;
        created.push(
            reply.ok()["createDataSubject"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let db = app.raw_db("eu").await;
    let since = match app.backend {
        Backend::Sqlite => "'2026-01-02T03:04:05+00:00'",
        Backend::Postgres(_) => "'2026-01-02T03:04:05Z'::timestamptz",
    };
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        &format!(
            "UPDATE data_subjects SET restricted_at = {since} WHERE id = {}",
            steward_tests::stored_uuid(&app, &created[3])
        ),
    )
    .await
    .unwrap();

    const FIELDS: &str = "id externalId birthDate createdAt updatedAt restrictedSince knownUnder13 categories personalData { id subjectId category purpose source collectedAt createdAt updatedAt value }";
    let page = app
        .gql(
            &admin,
            &format!("{{ dataSubjects(first: 10) {{ pageInfo {{ hasNextPage }} edges {{ node {{ {FIELDS} }} }} }} }}"),
            json!({}),
        )
        .await;
    let page = &page.body["data"]["dataSubjects"];
    assert_eq!(page["pageInfo"]["hasNextPage"], false);
    let nodes: Vec<&Value> = page["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .collect();
    let ids: Vec<&str> = nodes
        .iter()
        .map(|n| n["externalId"].as_str().unwrap_or("withheld"))
        .collect();
    assert_eq!(ids, ["pe-0", "pe-1", "pe-2", "withheld"], "{page}");
    let counts: Vec<usize> = nodes
        .iter()
        .map(|n| n["personalData"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, [2, 0, 3, 1]);
    assert_eq!(nodes[0]["birthDate"], "1990-05-17");
    assert!(
        nodes[3]["restrictedSince"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-02T03:04:05")
    );
    assert!(
        nodes[3]["personalData"][0]["value"].is_null(),
        "restricted: withheld"
    );
    assert_eq!(nodes[2]["personalData"][2]["value"], "+44 20 7946 0958");
    for node in nodes {
        let single = app
            .gql(
                &admin,
                &format!("query($id: ID!) {{ dataSubject(id: $id) {{ {FIELDS} }} }}"),
                json!({ "id": node["id"] }),
            )
            .await;
        assert_eq!(&single.body["data"]["dataSubject"], node);
    }
}

/// A subject holds at most 200 records, so one subject's answer (and a page of them) stays bounded, even when the
/// last places are asked for at once.
async fn a_subject_holds_at_most_200_records(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Capped Co", "eu").await;
    let admin = app.invite(&t, "capped-admin", "CLIENT_ADMIN").await;
    let records: Vec<Value> = (0..50)
        .map(|i| record("user.name", &format!("Name {i}")))
        .collect();
    let created = app
        .gql(
            &admin,
            CREATE,
            json!({ "i": { "externalId": "capped-1", "personalData": records } }),
        )
        .await;
    let id = created.ok()["createDataSubject"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let add = "mutation($i: AddPersonalDataInput!) { addPersonalData(input: $i) { id } }";
    for i in 50..195 {
        app.gql(&admin, add, json!({ "i": { "subjectId": id, "category": "user.name", "value": format!("Name {i}"), "purpose": "essential.service", "source": "s" } }))
            .await
            .ok();
    }
    // The last five places, asked for twenty times at once: the limit is checked in the transaction that adds, on
    // the subject's locked row, so exactly five get in (truly in parallel on PostgreSQL).
    let racing = (0..20).map(|i| {
        let (app, admin, id) = (&app, admin.clone(), id.clone());
        async move {
            app.gql(&admin, add, json!({ "i": { "subjectId": id, "category": "user.name", "value": format!("Racer {i}"), "purpose": "essential.service", "source": "s" } }))
                .await
        }
    });
    let replies = futures_util::future::join_all(racing).await;
    let added = replies
        .iter()
        .filter(|r| r.body["errors"].is_null())
        .count();
    assert_eq!(
        added,
        5,
        "{:?}",
        replies.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    for refused in replies.iter().filter(|r| !r.body["errors"].is_null()) {
        assert_eq!(
            refused.body["errors"][0]["extensions"]["reason"], "TOO_MANY_RECORDS",
            "{:?}",
            refused.body
        );
    }
    let refused = app
        .gql(&admin, add, json!({ "i": { "subjectId": id, "category": "user.name", "value": "One too many", "purpose": "essential.service", "source": "s" } }))
        .await;
    assert_eq!(
        refused.body["errors"][0]["extensions"]["reason"],
        "TOO_MANY_RECORDS"
    );
    assert_eq!(app.count("eu", "personal_data", "1=1").await, 200);
}

both_backends!(
    a_subject_holds_at_most_200_records,
    page_reads_match_single_reads,
    every_page_carries_its_own_records,
    client_admin_manages_subjects,
    values_are_encrypted_at_rest,
    bad_personal_data_changes_nothing,
    a_page_costs_a_fixed_number_of_statements
);
