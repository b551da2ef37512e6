//! Requests on the controller's clock (issue 19, items 7 and 8): the controller's own due date beside ours, with a
//! warning when ours falls after it; a request overdue again after its due date moved is told again, a request
//! paused after its due date stays on the overdue list, and the client is told of every pause and extension.

use chrono::{Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::subject;
use crate::requests::{GET, complete, extend, pause, reject, resume, start, step, submit};

const NOTICES: &str = "query { notices(first: 50) { edges { node { kind title body } } } }";
const QUEUE: &str = "query($f: RequestFilterInput) { dataSubjectRequests(filter: $f, first: 50) { totalCount edges { node { id } } } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn at(d: NaiveDate) -> chrono::DateTime<Utc> {
    d.and_hms_opt(9, 0, 0).unwrap().and_utc()
}

async fn notices_of(app: &TestApp, token: &str, kind: &str) -> Vec<Value> {
    app.gql(token, NOTICES, json!({})).await.ok()["notices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .filter(|n| n["kind"] == kind)
        .collect()
}

async fn ids_in(app: &TestApp, token: &str, overdue: bool) -> Vec<String> {
    app.gql(token, QUEUE, json!({ "f": { "overdue": overdue } }))
        .await
        .ok()["dataSubjectRequests"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn overdue_again_is_told_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Clock Co", "us").await;
    let admin = app.invite(&t, "clock-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let s = subject(&app, &admin, "c-1", "c1@clock.example", "Cleo").await;
    let (id, _) = submit(&app, &admin, &s, "ACCESS").await;
    let started = step(&app, &po, &start(), json!({ "t": t, "id": id, "v": 1 })).await;
    let due: NaiveDate = started["dueOn"].as_str().unwrap().parse().unwrap();

    // The worker ran late and found it overdue: told once.
    app.run_jobs_at(at(due + Duration::days(1))).await;
    app.run_jobs_at(at(due + Duration::days(2))).await;
    assert_eq!(notices_of(&app, &admin, "request.overdue").await.len(), 1);

    // Extended (the deadline has not passed by the wall clock), the client is told of the new date and where the
    // reason is; overdue against the new date, it is told again.
    let extended = step(
        &app,
        &po,
        &extend(),
        json!({ "t": t, "id": id, "v": 2, "d": 5, "r": "a large archive to search" }),
    )
    .await;
    let new_due: NaiveDate = extended["dueOn"].as_str().unwrap().parse().unwrap();
    assert!(new_due > due);
    let told = notices_of(&app, &admin, "request.extended").await;
    assert_eq!(told.len(), 1);
    assert!(
        told[0]["title"]
            .as_str()
            .unwrap()
            .contains(&new_due.to_string()),
        "{told:?}"
    );
    assert!(
        told[0]["body"]
            .as_str()
            .unwrap()
            .contains("extensionReason"),
        "{told:?}"
    );
    // The reason may be personal: it stays sealed on the request, never in a notice.
    assert!(!told[0]["body"].as_str().unwrap().contains("archive"));
    app.run_jobs_at(at(new_due)).await;
    assert_eq!(notices_of(&app, &admin, "request.overdue").await.len(), 1);
    app.run_jobs_at(at(new_due + Duration::days(1))).await;
    app.run_jobs_at(at(new_due + Duration::days(2))).await;
    let overdue = notices_of(&app, &admin, "request.overdue").await;
    assert_eq!(overdue.len(), 2, "{overdue:?}");
    assert!(
        overdue
            .iter()
            .any(|n| n["title"].as_str().unwrap().contains(&new_due.to_string())),
        "{overdue:?}"
    );
}

async fn paused_late_stays_overdue_and_every_pause_is_told(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Pause Co", "eu").await;
    let admin = app.invite(&t, "pause-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let s = subject(&app, &admin, "p-1", "p1@pause.example", "Pia").await;
    let (late, _) = submit(&app, &admin, &s, "ACCESS").await;
    let (in_time, _) = submit(&app, &admin, &s, "PORTABILITY").await;
    for id in [&late, &in_time] {
        step(&app, &po, &start(), json!({ "t": t, "id": id, "v": 1 })).await;
    }
    // `late` passed its due date (set in the database, as time would).
    let past = today() - Duration::days(3);
    let db = app.raw_db("eu").await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        &format!(
            "UPDATE dsr_requests SET due_on = '{past}' WHERE id = {}",
            steward_tests::stored_uuid(&app, &late)
        ),
    )
    .await
    .unwrap();
    for id in [&late, &in_time] {
        step(
            &app,
            &po,
            &pause(),
            json!({ "t": t, "id": id, "v": 2, "r": "waiting for the controller's answer" }),
        )
        .await;
    }

    // Paused after its due date it stays overdue, on the list and on the request; paused in time it is not.
    let get = |id: &String| json!({ "id": id });
    let l = app.gql(&admin, GET, get(&late)).await;
    assert_eq!(l.ok()["dataSubjectRequest"]["state"], "PAUSED");
    assert_eq!(l.ok()["dataSubjectRequest"]["overdue"], true);
    let i = app.gql(&admin, GET, get(&in_time)).await;
    assert_eq!(i.ok()["dataSubjectRequest"]["overdue"], false);
    assert_eq!(ids_in(&app, &po, true).await, vec![late.clone()]);
    assert_eq!(ids_in(&app, &po, false).await, vec![in_time.clone()]);

    // Each pause was told to the client, the late one as such; the reason stays on the request.
    let paused = notices_of(&app, &admin, "request.paused").await;
    assert_eq!(paused.len(), 2, "{paused:?}");
    assert!(
        paused
            .iter()
            .any(|n| n["body"].as_str().unwrap().contains("stays overdue")),
        "{paused:?}"
    );
    assert!(
        paused
            .iter()
            .all(|n| !n["body"].as_str().unwrap().contains("controller's answer")),
        "{paused:?}"
    );

    // Resumed, the late one is overdue as a running request (its date still passed).
    step(&app, &po, &resume(), json!({ "t": t, "id": late, "v": 3 })).await;
    let l = app.gql(&admin, GET, get(&late)).await;
    assert_eq!(l.ok()["dataSubjectRequest"]["overdue"], true);
    assert_eq!(ids_in(&app, &po, true).await, vec![late.clone()]);
    // Two pause events on the chain, and exactly one notice per pause.
    assert_eq!(
        app.count("eu", "audit_events", "action = 'request.paused'")
            .await,
        2
    );
}

const SUBMIT: &str = "mutation($i: SubmitDataSubjectRequestInput!) { submitDataSubjectRequest(input: $i) { id version dueOn controllerReceivedOn controllerDueOn controllerLatestDueOn deadlineWarning } }";

async fn the_controllers_deadline_is_shown_beside_ours(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Controller Co", "eu").await;
    let admin = app.invite(&t, "ctl-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let s = subject(&app, &admin, "ctl-1", "ctl@ctl.example", "Cora").await;
    let month = |d: NaiveDate, n: u32| d.checked_add_months(chrono::Months::new(n)).unwrap();
    let send = |kind: &str, on: Option<NaiveDate>| json!({ "i": { "subjectId": s, "kind": kind, "controllerReceivedOn": on.map(|d| d.to_string()) } });

    // The controller got the erasure request 20 days ago: its month ends long before our 30 business days.
    let received = today() - Duration::days(20);
    let erasure = app
        .gql(&admin, SUBMIT, send("ERASURE", Some(received)))
        .await;
    let e = &erasure.ok()["submitDataSubjectRequest"];
    assert_eq!(e["controllerReceivedOn"], received.to_string());
    assert_eq!(e["controllerDueOn"], month(received, 1).to_string());
    assert_eq!(e["controllerLatestDueOn"], month(received, 3).to_string());
    let warning = e["deadlineWarning"].as_str().expect("warned");
    assert!(
        warning.contains(&month(received, 1).to_string()),
        "{warning}"
    );
    assert!(e["dueOn"].as_str().unwrap() > e["controllerDueOn"].as_str().unwrap());

    // Extended, the controller extends too: three months, and ours fits.
    let extended = step(
        &app,
        &po,
        &extend(),
        json!({ "t": t, "id": e["id"], "v": 1, "d": 5, "r": "many systems" }),
    )
    .await;
    assert_eq!(extended["id"], e["id"]);
    let read = app
        .gql(
            &admin,
            "query($id: ID!) { dataSubjectRequest(id: $id) { controllerDueOn deadlineWarning } }",
            json!({ "id": e["id"] }),
        )
        .await;
    let r = &read.ok()["dataSubjectRequest"];
    assert_eq!(r["controllerDueOn"], month(received, 3).to_string());
    assert!(r["deadlineWarning"].is_null());

    // Received today by default: warned exactly when our date falls after the controller's month.
    let access = app.gql(&admin, SUBMIT, send("ACCESS", None)).await;
    let a = &access.ok()["submitDataSubjectRequest"];
    assert_eq!(a["controllerReceivedOn"], today().to_string());
    assert_eq!(
        a["deadlineWarning"].is_string(),
        a["dueOn"].as_str().unwrap() > a["controllerDueOn"].as_str().unwrap()
    );

    // The controller got it 40 days ago: its month is over (too late for it to extend), and our extension may not
    // take our date past its three months; one that fits leaves its month standing, with the warning.
    let received = today() - Duration::days(40);
    let old = app
        .gql(&admin, SUBMIT, send("ACCESS", Some(received)))
        .await;
    let o = &old.ok()["submitDataSubjectRequest"];
    let too_long = app
        .gql(
            &po,
            &extend(),
            json!({ "t": t, "id": o["id"], "v": 1, "d": 60, "r": "complex" }),
        )
        .await;
    assert_eq!(
        too_long.body["errors"][0]["extensions"]["reason"], "EXTENSION_TOO_LONG",
        "an extension past the controller's three months: {:?}",
        too_long.body
    );
    let message = too_long.body["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&month(received, 3).to_string()),
        "{message}"
    );
    let fits = step(
        &app,
        &po,
        &extend(),
        json!({ "t": t, "id": o["id"], "v": 1, "d": 5, "r": "many systems" }),
    )
    .await;
    assert!(fits["dueOn"].as_str().unwrap() <= month(received, 3).to_string().as_str());
    let read = app
        .gql(
            &admin,
            "query($id: ID!) { dataSubjectRequest(id: $id) { controllerDueOn deadlineWarning } }",
            json!({ "id": o["id"] }),
        )
        .await;
    let r = &read.ok()["dataSubjectRequest"];
    assert_eq!(r["controllerDueOn"], month(received, 1).to_string());
    assert!(r["deadlineWarning"].is_string(), "{r}");

    // A day in the future, or more than a year back, is refused and creates nothing.
    let before = app.count("eu", "dsr_requests", "1=1").await;
    for on in [today() + Duration::days(1), today() - Duration::days(400)] {
        app.gql(&admin, SUBMIT, send("ACCESS", Some(on)))
            .await
            .expect_code("BAD_USER_INPUT");
    }
    assert_eq!(app.count("eu", "dsr_requests", "1=1").await, before);
}

/// The controller is told when a request is rejected (it owes the person the refusal and its reasons, Art. 12(4)) and
/// when one is completed (an access export is deleted a week later), whoever did it; the reason stays sealed on the
/// request, never in the notice.
async fn rejections_and_completions_are_told(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Told Co", "eu").await;
    let admin = app.invite(&t, "told-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let s = subject(&app, &admin, "told-1", "told@told.example", "Tol D").await;

    let (erasure, v) = submit(&app, &admin, &s, "ERASURE").await;
    step(
        &app,
        &po,
        &reject(),
        json!({ "t": t, "id": erasure, "v": v, "r": "identity not verified" }),
    )
    .await;
    let rejected = notices_of(&app, &admin, "request.rejected").await;
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    let body = rejected[0]["body"].as_str().unwrap();
    assert!(body.contains(&erasure), "{body}");
    assert!(body.contains("rejectionReason"), "{body}");
    assert!(
        !body.contains("identity not verified"),
        "the sealed reason in a notice: {body}"
    );
    assert!(rejected[0]["title"].as_str().unwrap().contains("erasure"));

    let (access, v) = submit(&app, &admin, &s, "ACCESS").await;
    step(&app, &po, &start(), json!({ "t": t, "id": access, "v": v })).await;
    step(
        &app,
        &po,
        &complete(),
        json!({ "t": t, "id": access, "v": v + 1 }),
    )
    .await;
    let completed = notices_of(&app, &admin, "request.completed").await;
    assert_eq!(completed.len(), 1, "{completed:?}");
    let body = completed[0]["body"].as_str().unwrap();
    assert!(body.contains(&access), "{body}");
    // The day in the tenant's time zone: UTC's, or the next one late in the UTC day.
    let expires = [7, 8].map(|d| (today() + Duration::days(d)).to_string());
    assert!(
        expires.iter().any(|day| body.contains(day)),
        "the export's last day ({expires:?}): {body}"
    );
    // One notice each, none for the start.
    assert_eq!(app.count("eu", "notices", "kind LIKE 'request.%'").await, 2);
}

/// A pause has no end of its own: while it lasts, the privacy officers are reminded of it every 14 days, once per
/// period, however often the deadline job looks; a resumed request is not reminded of again.
async fn a_long_pause_is_reminded_of(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Long Pause Co", "eu").await;
    let admin = app.invite(&t, "long-admin", "CLIENT_ADMIN").await;
    let po = app.staff_with("po", "PRIVACY_OFFICER").await;
    let s = subject(&app, &admin, "lp-1", "lp@pause.example", "Lee Pause").await;
    let (id, v) = submit(&app, &admin, &s, "ACCESS").await;
    step(&app, &po, &start(), json!({ "t": t, "id": id, "v": v })).await;
    // The deadline job has run once and sleeps until its reminder date, weeks away.
    app.run_jobs().await;
    step(
        &app,
        &po,
        &pause(),
        json!({ "t": t, "id": id, "v": v + 1, "r": "waiting for the controller's answer" }),
    )
    .await;
    let reminders = || app.count("control", "staff_notices", "kind = 'request.paused_long'");
    app.run_jobs_at(Utc::now() + Duration::days(13)).await;
    assert_eq!(reminders().await, 0, "reminded before 14 days");
    for day in [15, 16, 20] {
        app.run_jobs_at(Utc::now() + Duration::days(day)).await;
        assert_eq!(reminders().await, 1, "day {day}");
    }
    app.run_jobs_at(Utc::now() + Duration::days(29)).await;
    assert_eq!(reminders().await, 2);
    let staff = app
        .gql(&po, "{ staffNotices { kind objectId title } }", json!({}))
        .await;
    let notice = staff.ok()["staffNotices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "request.paused_long")
        .unwrap()
        .clone();
    assert_eq!(notice["objectId"], id.as_str());
    assert!(
        notice["title"].as_str().unwrap().contains("Paused for"),
        "{notice}"
    );
}

both_backends!(
    a_long_pause_is_reminded_of,
    rejections_and_completions_are_told,
    the_controllers_deadline_is_shown_beside_ours,
    overdue_again_is_told_again,
    paused_late_stays_overdue_and_every_pause_is_told,
);
