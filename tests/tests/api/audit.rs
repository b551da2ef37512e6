//! Audit chains through the API: reading, verifying, and catching every kind of tampering.

use serde_json::json;
use steward_tests::{Backend, TestApp, both_backends, stored_uuid};

use crate::personal::subject;

const VERIFY: &str = "query($s: Int, $h: String) { verifyAuditChain(keptSeq: $s, keptHash: $h) { valid events headSeq headHash brokenAt reason } }";

async fn chains_are_readable_and_verifiable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Chain Co", "eu").await;
    let admin = app.invite(&t, "chain-admin", "CLIENT_ADMIN").await;
    let viewer = app.invite(&t, "chain-viewer", "CLIENT_VIEWER").await;
    for i in 0..3 {
        subject(
            &app,
            &admin,
            &format!("c{i}"),
            &format!("c{i}@chain.example"),
            &format!("Chain {i}"),
        )
        .await;
    }
    let auditor = app.staff_with("aud", "AUDITOR").await;
    let support = app.staff_with("sup", "SUPPORT").await;

    // Who may read: the tenant's admin, auditors; not its viewer, not support.
    let events = "query($t: ID, $a: String, $after: String) { auditEvents(tenantId: $t, action: $a, first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { seq action actorSubject objectType detail } } } }";
    let page = app.gql(&admin, events, json!({})).await;
    let first = page.ok()["auditEvents"].clone();
    assert_eq!(
        first["totalCount"], 6,
        "tenant created, two invitations, three subjects: {first:#}"
    );
    assert_eq!(first["edges"][0]["node"]["action"], "tenant.created");
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let next = app
        .gql(
            &admin,
            events,
            json!({ "after": first["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(next.ok()["auditEvents"]["edges"][0]["node"]["seq"], 3);
    let filtered = app
        .gql(&auditor, events, json!({ "t": t, "a": "subject.created" }))
        .await;
    assert_eq!(filtered.ok()["auditEvents"]["totalCount"], 3);
    app.gql(&viewer, events, json!({}))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&support, events, json!({ "t": t }))
        .await
        .expect_code("FORBIDDEN");
    assert!(
        !page.body.to_string().contains("Chain 0"),
        "no personal values in the log"
    );

    let ok = app.gql(&admin, VERIFY, json!({})).await;
    let v = ok.ok()["verifyAuditChain"].clone();
    assert_eq!(v["valid"], true);
    assert_eq!(v["events"], 6);
    assert_eq!(v["headSeq"], 6);
    let head = app
        .gql(&admin, "{ auditChainHead { seq hash } }", json!({}))
        .await;
    assert_eq!(head.ok()["auditChainHead"]["hash"], v["headHash"]);

    // The platform chain, for auditors only.
    let platform = app.gql(&auditor, "{ verifyPlatformAuditChain { valid events } platformAuditEvents(first: 1) { totalCount edges { node { action } } } }", json!({})).await;
    assert_eq!(platform.ok()["verifyPlatformAuditChain"]["valid"], true);
    assert_eq!(
        platform.ok()["platformAuditEvents"]["edges"][0]["node"]["action"],
        "role.bootstrapped"
    );
    app.gql(&admin, "{ verifyPlatformAuditChain { valid } }", json!({}))
        .await
        .expect_code("FORBIDDEN");
    app.gql(
        &admin,
        "{ auditEvents(after: \"x\") { totalCount } }",
        json!({}),
    )
    .await
    .expect_code("BAD_USER_INPUT");
}

async fn tampering_is_caught_at_the_first_broken_link(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Tamper Co", "us").await;
    let admin = app.invite(&t, "tamper-admin", "CLIENT_ADMIN").await;
    for i in 0..4 {
        subject(
            &app,
            &admin,
            &format!("t{i}"),
            &format!("t{i}@tamper.example"),
            &format!("Tamper {i}"),
        )
        .await;
    }
    let kept = app
        .gql(&admin, "{ auditChainHead { seq hash } }", json!({}))
        .await
        .ok()["auditChainHead"]
        .clone();
    assert_eq!(kept["seq"], 6);
    let tid = stored_uuid(&app, &t);
    let db = app.raw_db("us").await;
    let sql = |s: String| {
        let db = db.clone();
        async move {
            sea_orm::ConnectionTrait::execute_unprepared(&db, &s)
                .await
                .unwrap()
        }
    };
    let verify = |kept: Option<(i64, String)>| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let vars = match kept {
                Some((s, h)) => json!({ "s": s, "h": h }),
                None => json!({}),
            };
            app.gql(&admin, VERIFY, vars).await.ok()["verifyAuditChain"].clone()
        }
    };
    let keep = Some((6i64, kept["hash"].as_str().unwrap().to_owned()));

    // An edited event.
    let original: String = {
        let row = sea_orm::ConnectionTrait::query_one_raw(
            &db,
            sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT detail FROM audit_events WHERE tenant_id = {tid} AND seq = 4"),
            ),
        )
        .await
        .unwrap()
        .unwrap();
        row.try_get("", "detail").unwrap()
    };
    sql(format!("UPDATE audit_events SET detail = '{{\"categories\":[]}}' WHERE tenant_id = {tid} AND seq = 4")).await;
    let v = verify(None).await;
    assert_eq!(
        (v["valid"].clone(), v["brokenAt"].clone()),
        (json!(false), json!(4))
    );
    assert!(v["reason"].as_str().unwrap().contains("altered"), "{v}");
    sql(format!(
        "UPDATE audit_events SET detail = '{}' WHERE tenant_id = {tid} AND seq = 4",
        original.replace('\'', "''")
    ))
    .await;
    assert_eq!(verify(None).await["valid"], true, "restored");

    // A swapped pair: events 3 and 4 exchange places.
    sql(format!(
        "UPDATE audit_events SET seq = -3 WHERE tenant_id = {tid} AND seq = 3"
    ))
    .await;
    sql(format!(
        "UPDATE audit_events SET seq = 3 WHERE tenant_id = {tid} AND seq = 4"
    ))
    .await;
    sql(format!(
        "UPDATE audit_events SET seq = 4 WHERE tenant_id = {tid} AND seq = -3"
    ))
    .await;
    let v = verify(None).await;
    assert_eq!(
        (v["valid"].clone(), v["brokenAt"].clone()),
        (json!(false), json!(3)),
        "{v}"
    );
    sql(format!(
        "UPDATE audit_events SET seq = -3 WHERE tenant_id = {tid} AND seq = 4"
    ))
    .await;
    sql(format!(
        "UPDATE audit_events SET seq = 4 WHERE tenant_id = {tid} AND seq = 3"
    ))
    .await;
    sql(format!(
        "UPDATE audit_events SET seq = 3 WHERE tenant_id = {tid} AND seq = -3"
    ))
    .await;
    assert_eq!(verify(keep.clone()).await["valid"], true, "restored");

    // A deleted event in the middle.
    sql(format!(
        "DELETE FROM audit_events WHERE tenant_id = {tid} AND seq = 2"
    ))
    .await;
    let v = verify(None).await;
    assert_eq!(
        (v["valid"].clone(), v["brokenAt"].clone()),
        (json!(false), json!(3)),
        "{v}"
    );
    assert!(v["reason"].as_str().unwrap().contains("missing"), "{v}");

    // A truncated tail: on its own the shorter chain is consistent; against the kept head it is not.
    let t2 = app.create_tenant("Tail Co", "us").await;
    let admin2 = app.invite(&t2, "tail-admin", "CLIENT_ADMIN").await;
    for i in 0..3 {
        subject(
            &app,
            &admin2,
            &format!("u{i}"),
            &format!("u{i}@tail.example"),
            &format!("Tail {i}"),
        )
        .await;
    }
    let head2 = app
        .gql(&admin2, "{ auditChainHead { seq hash } }", json!({}))
        .await
        .ok()["auditChainHead"]
        .clone();
    let tid2 = stored_uuid(&app, &t2);
    sql(format!(
        "DELETE FROM audit_events WHERE tenant_id = {tid2} AND seq >= 4"
    ))
    .await;
    let alone = app.gql(&admin2, VERIFY, json!({})).await.ok()["verifyAuditChain"].clone();
    assert_eq!(
        alone["valid"], true,
        "a clean cut is only visible against a kept head"
    );
    let kept = app
        .gql(
            &admin2,
            VERIFY,
            json!({ "s": head2["seq"], "h": head2["hash"] }),
        )
        .await
        .ok()["verifyAuditChain"]
        .clone();
    assert_eq!(kept["valid"], false);
    assert!(
        kept["reason"].as_str().unwrap().contains("truncated"),
        "{kept}"
    );
    app.gql(&admin2, VERIFY, json!({ "s": 1 }))
        .await
        .expect_code("BAD_USER_INPUT");
}

async fn concurrent_appends_never_fork_a_chain(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Busy Co", "eu").await;
    let admin = app.invite(&t, "busy-admin", "CLIENT_ADMIN").await;
    let writes = (0..24).map(|i| {
        let (app, admin) = (&app, admin.clone());
        async move {
            app.gql(&admin, crate::personal::CREATE, json!({ "i": { "externalId": format!("p{i}"), "personalData": [crate::personal::record("user.name", &format!("Parallel {i}"))] } }))
                .await
        }
    });
    let replies = futures_util::future::join_all(writes).await;
    for reply in &replies {
        reply.ok();
    }
    let v = app.gql(&admin, VERIFY, json!({})).await.ok()["verifyAuditChain"].clone();
    assert_eq!(v["valid"], true, "{v}");
    assert_eq!(v["events"], 2 + 24);
}

/// Owed audit events (a control-database change whose event belongs to a tenant's chain), with the notice owed beside
/// them, are applied by the sweep, each exactly once: a row left behind after its event was appended (a process that
/// died between the region commit and the row's delete) is only deleted, its notice not filed twice.
async fn owed_events_are_appended_once_by_the_sweep(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Owed Co", "eu").await;
    let admin = app.invite(&t, "owed-admin", "CLIENT_ADMIN").await;
    let tenant = steward::ids::TenantId::parse("tenantId", &t).unwrap();
    let control = app.state.databases().control().clone();
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let entry = steward::audit::AuditEntry::system("test.owed", "tenant", &t);
    let txn = control.begin().await.unwrap();
    let notice = steward::owed::Owed::notice("test.owed", "Owed notice", "Filed with its event.");
    let id = steward::owed::defer(&txn, tenant, &entry, vec![notice.clone()])
        .await
        .unwrap();
    txn.commit().await.unwrap();
    let owed = "action = 'test.owed'";
    let owed_notice = "kind = 'test.owed'";
    assert_eq!(app.count("eu", "audit_events", owed).await, 0);
    assert_eq!(app.count("eu", "notices", owed_notice).await, 0);

    // The sweep, as the server's worker schedules it each interval.
    steward::jobs::schedule_sweeps(
        app.state.tenancy(),
        chrono::Utc::now(),
        std::time::Duration::from_secs(300),
    )
    .await
    .unwrap();
    app.run_jobs().await;
    assert_eq!(app.count("eu", "audit_events", owed).await, 1);
    assert_eq!(app.count("eu", "notices", owed_notice).await, 1);
    assert_eq!(app.count("control", "audit_outbox", "1 = 1").await, 0);

    // The row back, as if its delete had been lost: applied again, nothing is appended twice.
    control
        .execute_unprepared(&format!(
            "INSERT INTO audit_outbox (id, tenant_id, entry, effect, created_at) VALUES ({}, {}, '{}', '{}', '2026-12-03T00:00:00Z')",
            stored_uuid(&app, &id.to_string()),
            stored_uuid(&app, &t),
            serde_json::to_string(&entry).unwrap().replace('\'', "''"),
            serde_json::to_string(&[&notice]).unwrap().replace('\'', "''"),
        ))
        .await
        .unwrap();
    let appended = steward::owed::apply_all(app.state.tenancy()).await.unwrap();
    assert_eq!(appended, 0);
    assert_eq!(app.count("eu", "audit_events", owed).await, 1);
    assert_eq!(app.count("eu", "notices", owed_notice).await, 1);
    assert_eq!(app.count("control", "audit_outbox", "1 = 1").await, 0);
    let verify = app
        .gql(&admin, "{ verifyAuditChain { valid } }", json!({}))
        .await;
    assert_eq!(verify.ok()["verifyAuditChain"]["valid"], true);
}

/// A change to a tenant's data commits only with its event: `Work` refuses to commit without one (and rolls the change
/// back), and a row it inserts carries the scope's tenant whatever the caller set.
async fn work_commits_a_change_only_with_its_event(backend: Backend) {
    use sea_orm::{ActiveValue::Set, EntityTrait};
    use steward_entities::notice;
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Work Co", "eu").await;
    let other = app.create_tenant("Other Co", "eu").await;
    let admin = app.invite(&t, "work-admin", "CLIENT_ADMIN").await;
    let tenant = steward::ids::TenantId::parse("tenantId", &t).unwrap();
    let principal = steward::auth::Principal {
        subject: "work-admin".into(),
        kind: steward_policy::ActorKind::Client,
        tenant_id: Some(tenant),
    };
    let scope = app
        .state
        .tenancy()
        .scope(
            &principal,
            Some(tenant),
            steward_policy::Permission::SubjectWrite,
        )
        .await
        .unwrap();
    let row = |title: &str| notice::ActiveModel {
        // Another tenant's id: the work puts its own in.
        tenant_id: Set(uuid::Uuid::parse_str(&other).unwrap()),
        id: Set(uuid::Uuid::now_v7()),
        kind: Set("test.work".into()),
        title: Set(title.into()),
        body: Set("body".into()),
        created_at: Set(chrono::Utc::now()),
        acknowledged_by: Set(None),
        acknowledged_at: Set(None),
        channel_class: Set(notice::NoticeClass::Administrative),
        audience: Set("client_admin".into()),
    };
    let events = "action = 'test.work'";
    let rows = "kind = 'test.work'";

    let work = scope.begin().await.unwrap();
    let inserted = work.insert(row("unrecorded")).await.unwrap();
    assert_eq!(inserted.tenant_id.to_string(), t);
    let refused = work.commit_recorded().await;
    assert!(
        refused.is_err(),
        "a change without its event must not commit"
    );
    assert_eq!(app.count("eu", "notices", rows).await, 0);

    let work = scope.begin().await.unwrap();
    work.insert(row("recorded")).await.unwrap();
    work.commit(steward::audit::AuditEntry::system(
        "test.work",
        "notice",
        &t,
    ))
    .await
    .unwrap();
    assert_eq!(app.count("eu", "notices", rows).await, 1);
    assert_eq!(app.count("eu", "audit_events", events).await, 1);
    let stored = notice::Entity::find()
        .all(scope.db())
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == "test.work")
        .map(|n| n.tenant_id.to_string())
        .collect::<Vec<_>>();
    assert_eq!(stored, vec![t.clone()]);

    // Dropped without a commit: rolled back, nothing recorded.
    let work = scope.begin().await.unwrap();
    work.insert(row("dropped")).await.unwrap();
    drop(work);
    assert_eq!(app.count("eu", "notices", rows).await, 1);
    let verify = app
        .gql(&admin, "{ verifyAuditChain { valid } }", json!({}))
        .await;
    assert_eq!(verify.ok()["verifyAuditChain"]["valid"], true);
}

/// A row of owed work that cannot be applied (its tenant is not in the directory, as if its region were gone) is left
/// for the next sweep, with the sweep failing where privacy officers see it, and does not hold back the rows behind
/// it: a later tenant's owed event and notice arrive all the same.
async fn one_stuck_owed_row_does_not_hold_back_the_rest(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Unblocked Co", "eu").await;
    app.invite(&t, "unblocked-admin", "CLIENT_ADMIN").await;
    let tenant = steward::ids::TenantId::parse("tenantId", &t).unwrap();
    let nowhere = steward::ids::TenantId::new();
    let control = app.state.databases().control().clone();
    use sea_orm::TransactionTrait;
    let txn = control.begin().await.unwrap();
    let stuck = steward::audit::AuditEntry::system("test.stuck", "tenant", nowhere);
    steward::owed::defer(&txn, nowhere, &stuck, Vec::new())
        .await
        .unwrap();
    let entry = steward::audit::AuditEntry::system("test.behind", "tenant", &t);
    let notice = steward::owed::Owed::notice("test.behind", "Behind", "Queued after a stuck row.");
    steward::owed::defer(&txn, tenant, &entry, vec![notice])
        .await
        .unwrap();
    txn.commit().await.unwrap();

    let swept = steward::owed::apply_all(app.state.tenancy()).await;
    assert!(swept.is_err(), "the stuck row is reported");
    assert_eq!(
        app.count("eu", "audit_events", "action = 'test.behind'")
            .await,
        1
    );
    assert_eq!(app.count("eu", "notices", "kind = 'test.behind'").await, 1);
    assert_eq!(
        app.count("control", "audit_outbox", "1 = 1").await,
        1,
        "only the stuck row waits"
    );
}

both_backends!(
    chains_are_readable_and_verifiable,
    tampering_is_caught_at_the_first_broken_link,
    concurrent_appends_never_fork_a_chain,
    owed_events_are_appended_once_by_the_sweep,
    work_commits_a_change_only_with_its_event,
    one_stuck_owed_row_does_not_hold_back_the_rest
);
