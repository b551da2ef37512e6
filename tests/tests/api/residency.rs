//! Data residency: a tenant's rows are written only to its region's database, never to another region's or the
//! control database (checked by reading the databases directly), and its audit chain holds.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use steward_entities::audit_event;
use steward_tests::{Backend, TestApp, both_backends, stored_uuid};

async fn tenant_rows_live_only_in_their_region(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let eu = app.create_tenant("Residency EU", "eu").await;
    let planted = "planted.resident.7f3a@residency.example";
    let reply = app
        .gql(
            &app.root(),
            "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id email } }",
            json!({ "i": { "tenantId": eu, "email": planted, "subject": "resident", "role": "CLIENT_ADMIN" } }),
        )
        .await;
    assert_eq!(reply.ok()["inviteUser"]["email"], planted);
    let admin = app.client_token("resident", &eu);
    let listed = app
        .gql(
            &admin,
            "{ viewer { tenant { region } } users { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(listed.ok()["viewer"]["tenant"]["region"], "eu");

    let tid = stored_uuid(&app, &eu);
    for table in ["tenant_users", "audit_events"] {
        assert!(
            app.count("eu", table, &format!("tenant_id = {tid}")).await > 0,
            "{table} in eu"
        );
        assert_eq!(
            app.count("us", table, &format!("tenant_id = {tid}")).await,
            0,
            "{table} in us"
        );
    }
    // The control database has no tenant-owned tables at all: only the directory row and role assignments.
    for table in ["tenant_users", "audit_events"] {
        let db = app.raw_db("control").await;
        let exists = sea_orm::ConnectionTrait::query_one_raw(
            &db,
            sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT count(*) AS n FROM {table}"),
            ),
        )
        .await;
        assert!(exists.is_err(), "control must not have {table}");
    }
    // The personal value itself: in eu, nowhere else.
    assert!(app.database_contains("eu", planted).await);
    assert!(!app.database_contains("us", planted).await);
    assert!(!app.database_contains("control", planted).await);

    // The tenant's chain: tenant.created, user.invited, role... in order, every link intact, no email in it.
    let db = app.raw_db("eu").await;
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(uuid::Uuid::parse_str(&eu).unwrap()))
        .order_by_asc(audit_event::Column::Seq)
        .all(&db)
        .await
        .unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["tenant.created", "user.invited"]);
    assert_eq!(steward::audit::first_broken_link(&events), None);
    assert!(
        events
            .iter()
            .all(|e| !e.detail.contains(planted) && !e.object_id.contains(planted))
    );
    // Tampering with an event is detected at that event.
    let mut tampered = events.clone();
    tampered[1].detail = r#"{"role":"client_viewer"}"#.into();
    assert_eq!(
        steward::audit::first_broken_link(&tampered).map(|(seq, _)| seq),
        Some(2)
    );
    tampered.remove(0);
    assert_eq!(
        steward::audit::first_broken_link(&tampered).map(|(seq, _)| seq),
        Some(2)
    );
}

both_backends!(tenant_rows_live_only_in_their_region);
