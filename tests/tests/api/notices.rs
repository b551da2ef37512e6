//! The notices outbox: email over SMTP (to a local sink), the tenant's signed webhook, marketing opt-out honoured and
//! administrative notices delivered regardless, the unsubscribe link without login, and retries after a failure.

use chrono::{Duration, Utc};
use hmac::{Hmac, Mac};
use serde_json::json;
use steward_tests::{Backend, SmtpSink, TestApp, WebhookSink, both_backends};

const SEND: &str = "mutation($i: SendNoticeInput!) { sendNotice(input: $i) }";
const PREFS: &str = "mutation($o: Boolean!) { setCommunicationPreferences(marketingOptOut: $o) { marketingOptOut } }";
const DELIVERIES: &str = "query($n: ID!) { noticeDeliveries(noticeId: $n) { channel recipient state attempts lastError } }";

async fn latest_notice(app: &TestApp, token: &str, kind: &str) -> String {
    let reply = app
        .gql(
            token,
            "{ notices(first: 50) { edges { node { id kind class } } } }",
            json!({}),
        )
        .await;
    reply.ok()["notices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} notice"))["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn recipients(sink: &SmtpSink) -> Vec<String> {
    let mut to: Vec<String> = sink.received().into_iter().flat_map(|m| m.to).collect();
    to.sort();
    to
}

async fn class_opt_out_webhook_and_unsubscribe(backend: Backend) {
    let sink = SmtpSink::start().await;
    let url = sink.url.clone();
    let app = TestApp::spawn_with(backend, move |args| args.smtp_url = Some(url.into())).await;
    let root = app.root();
    let legal = app.staff_with("lex", "LEGAL").await;
    let t = app.create_tenant("Notice Co", "eu").await;
    let other = app.create_tenant("Quiet Co", "us").await;
    let a = app.invite(&t, "n-admin-a", "CLIENT_ADMIN").await;
    let b = app.invite(&t, "n-admin-b", "CLIENT_ADMIN").await;
    let v = app.invite(&t, "n-viewer", "CLIENT_VIEWER").await;

    // A opts out of marketing; staff have no such preference.
    let set = app.gql(&a, PREFS, json!({ "o": true })).await;
    assert_eq!(
        set.ok()["setCommunicationPreferences"]["marketingOptOut"],
        true
    );
    app.gql(&legal, PREFS, json!({ "o": true }))
        .await
        .expect_code("BAD_USER_INPUT");
    let mine = app
        .gql(
            &b,
            "{ communicationPreferences { marketingOptOut } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine.ok()["communicationPreferences"]["marketingOptOut"],
        false
    );

    // The tenant's webhook: https only (loopback excepted), set by its admin.
    let hook = WebhookSink::start(vec![]).await;
    const HOOK: &str = "mutation($u: String) { setNoticeWebhook(url: $u) { url signingSecret } }";
    app.gql(&a, HOOK, json!({ "u": "http://example.com/notices" }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&v, HOOK, json!({ "u": hook.url }))
        .await
        .expect_code("FORBIDDEN");
    let set = app.gql(&a, HOOK, json!({ "u": hook.url })).await;
    let secret = set.ok()["setNoticeWebhook"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_owned();

    // Bad announcements change nothing.
    let before = app.count("eu", "notices", "1=1").await;
    for (token, input, code) in [
        (
            &legal,
            json!({ "class": "MARKETING", "title": "t", "body": "b" }),
            "FORBIDDEN",
        ),
        (
            &root,
            json!({ "class": "MARKETING", "title": " ", "body": "b" }),
            "BAD_USER_INPUT",
        ),
        (
            &root,
            json!({ "class": "MARKETING", "title": "t", "body": "b", "roles": ["LEGAL"] }),
            "BAD_USER_INPUT",
        ),
        (
            &root,
            json!({ "class": "MARKETING", "title": "t", "body": "b", "tenantIds": [uuid::Uuid::now_v7().to_string()] }),
            "NOT_FOUND",
        ),
    ] {
        app.gql(token, SEND, json!({ "i": input }))
            .await
            .expect_code(code);
    }
    assert_eq!(app.count("eu", "notices", "1=1").await, before);

    // Marketing: B is mailed with an unsubscribe link; A (opted out) is not; the viewer is not in the audience.
    let sent = app
        .gql(&root, SEND, json!({ "i": { "tenantIds": [t], "class": "MARKETING", "title": "New: retention reports", "body": "Try the new retention preview." } }))
        .await;
    assert_eq!(sent.ok()["sendNotice"], 1);
    app.run_jobs().await;
    assert_eq!(recipients(&sink), vec!["n-admin-b@example.org".to_owned()]);
    let mail = &sink.received()[0];
    assert!(mail.data.contains("New: retention reports"));
    assert!(
        mail.data
            .contains("List-Unsubscribe: <http://steward.test/unsubscribe?token=")
    );
    let marketing = latest_notice(&app, &a, "marketing").await;
    let deliveries = app.gql(&a, DELIVERIES, json!({ "n": marketing })).await;
    let rows = deliveries.ok()["noticeDeliveries"]
        .as_array()
        .unwrap()
        .clone();
    let state_of = |r: &str| rows.iter().find(|d| d["recipient"] == r).unwrap()["state"].clone();
    assert_eq!(state_of("n-admin-a@example.org"), "SUPPRESSED");
    assert_eq!(state_of("n-admin-b@example.org"), "SENT");
    assert_eq!(state_of(&hook.url), "SENT");
    // The webhook's signature verifies with the tenant's secret.
    let delivery = hook
        .received()
        .into_iter()
        .find(|d| d.body.contains("retention reports"))
        .unwrap();
    let header = delivery.headers["steward-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let (ts, sig) = header
        .strip_prefix("t=")
        .and_then(|h| h.split_once(",v1="))
        .unwrap();
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", delivery.body).as_bytes());
    assert_eq!(hex::encode(mac.finalize().into_bytes()), sig);

    // Administrative notices reach everyone in the audience, opted out or not.
    let on = Utc::now().date_naive().to_string();
    app.gql(&legal, "mutation($d: NaiveDate!) { publishPolicyVersion(input: { document: PRIVACY_POLICY, version: \"9\", effectiveOn: $d, material: false, summary: \"typo fixes\" }) { id } }", json!({ "d": on }))
        .await
        .ok();
    app.run_jobs().await;
    let to = recipients(&sink);
    assert_eq!(
        to.iter().filter(|r| *r == "n-admin-a@example.org").count(),
        1,
        "{to:?}"
    );
    assert_eq!(
        to.iter().filter(|r| *r == "n-admin-b@example.org").count(),
        2,
        "{to:?}"
    );
    let policy_mail = sink
        .received()
        .into_iter()
        .find(|m| m.to[0] == "n-admin-a@example.org")
        .unwrap();
    assert!(
        !policy_mail.data.contains("unsubscribe?token="),
        "administrative mail has no unsubscribe link"
    );

    // B unsubscribes from the link, without logging in; a forged link is refused.
    let link = mail
        .data
        .lines()
        .find_map(|l| {
            l.find("http://steward.test/unsubscribe?token=")
                .map(|i| l[i..].trim_end_matches('>').to_owned())
        })
        .unwrap();
    let path = link.trim_start_matches("http://steward.test").trim_end();
    assert!(
        mail.data
            .contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "RFC 8058 one-click"
    );
    let forged = app.get(&format!("{path}x")).await;
    assert_eq!(forged.status, 400);
    // A GET (a person opening the link, or a mail scanner prefetching it) only shows a page asking to confirm.
    let page = app.get(path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.as_str().unwrap().contains("<form method=post"));
    let unchanged = app
        .gql(
            &b,
            "{ communicationPreferences { marketingOptOut } }",
            json!({}),
        )
        .await;
    assert_eq!(
        unchanged.ok()["communicationPreferences"]["marketingOptOut"],
        false
    );
    // The one-click POST (RFC 8058), as a mail client sends it.
    let one_click = || {
        axum::http::Request::post(path)
            .header(
                axum::http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(axum::body::Body::from("List-Unsubscribe=One-Click"))
            .unwrap()
    };
    let done = app.send(one_click()).await;
    assert_eq!(done.status, 200);
    // Again: nothing changes, so nothing more is audited.
    assert_eq!(app.send(one_click()).await.status, 200);
    // The link expires: 60 days.
    let token = path.split_once("token=").unwrap().1;
    let keyring = app.state.tenancy().keyring();
    let now = chrono::Utc::now();
    let (tenant, user) = steward::notices::verify_unsubscribe_token(
        keyring,
        token,
        now + chrono::Duration::days(59),
    )
    .unwrap();
    assert_eq!(
        steward::notices::verify_unsubscribe_token(
            keyring,
            token,
            now + chrono::Duration::days(61)
        ),
        Err(steward::notices::BadUnsubscribe::Expired)
    );
    let old = steward::notices::unsubscribe_token(
        keyring,
        tenant,
        user,
        now - chrono::Duration::days(61),
    );
    assert_eq!(
        app.get(&format!("/unsubscribe?token={old}")).await.status,
        410
    );
    let mine = app
        .gql(
            &b,
            "{ communicationPreferences { marketingOptOut } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine.ok()["communicationPreferences"]["marketingOptOut"],
        true
    );
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            "action = 'communication.unsubscribed'"
        )
        .await,
        1
    );
    let mailed = sink.received().len();
    app.gql(
        &root,
        SEND,
        json!({ "i": { "class": "MARKETING", "title": "Another offer", "body": "b" } }),
    )
    .await
    .ok();
    app.run_jobs().await;
    assert_eq!(
        sink.received().len(),
        mailed,
        "both admins opted out of marketing"
    );
    // An administrative announcement to viewers reaches the viewer.
    app.gql(&root, SEND, json!({ "i": { "class": "ADMINISTRATIVE", "roles": ["CLIENT_VIEWER"], "title": "Maintenance window", "body": "Sunday 02:00 UTC" } }))
        .await
        .ok();
    app.run_jobs().await;
    assert!(recipients(&sink).contains(&"n-viewer@example.org".to_owned()));
    // The other tenant (no users) got the broadcasts in its inbox.
    let quiet_admin = app.invite(&other, "quiet-admin", "CLIENT_ADMIN").await;
    latest_notice(&app, &quiet_admin, "marketing").await;
}

async fn failed_delivery_is_retried(backend: Backend) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(backend, move |args| {
        args.smtp_url = Some(format!("smtp://127.0.0.1:{port}").into())
    })
    .await;
    let root = app.root();
    let t = app.create_tenant("Retry Mail Co", "us").await;
    let admin = app.invite(&t, "rm-admin", "CLIENT_ADMIN").await;
    app.gql(
        &root,
        SEND,
        json!({ "i": { "class": "ADMINISTRATIVE", "title": "Important", "body": "Read me" } }),
    )
    .await
    .ok();
    app.run_jobs().await;
    let notice = latest_notice(&app, &admin, "announcement").await;
    let rows = app.gql(&admin, DELIVERIES, json!({ "n": notice })).await;
    let row = rows.ok()["noticeDeliveries"][0].clone();
    assert_eq!(row["state"], "FAILED");
    assert_eq!(row["attempts"], 1);
    // The relay comes back; the retry after the backoff delivers it once.
    let sink = SmtpSink::start_on(port).await;
    app.run_jobs_at(Utc::now() + Duration::minutes(5)).await;
    app.run_jobs_at(Utc::now() + Duration::hours(2)).await;
    assert_eq!(recipients(&sink), vec!["rm-admin@example.org".to_owned()]);
    let rows = app.gql(&admin, DELIVERIES, json!({ "n": notice })).await;
    assert_eq!(rows.ok()["noticeDeliveries"][0]["state"], "SENT");
    assert_eq!(rows.ok()["noticeDeliveries"][0]["attempts"], 2);
}

both_backends!(
    class_opt_out_webhook_and_unsubscribe,
    failed_delivery_is_retried
);
