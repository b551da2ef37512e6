//! The notices outbox: email over SMTP (to a local sink), the tenant's signed webhook, marketing opt-out honoured and
//! administrative notices delivered regardless, the unsubscribe link without login, and retries after a failure.

use chrono::{Duration, Utc};
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
    // The delivery verifies with the Standard Webhooks reference library and the secret the admin was shown.
    let delivery = hook
        .received()
        .into_iter()
        .find(|d| d.body.contains("retention reports"))
        .unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let verified = steward_tests::standard_webhooks_verify(&secret, &delivery).expect("verifies");
    assert_eq!(verified["title"], "New: retention reports");
    assert!(
        delivery.headers["webhook-id"]
            .to_str()
            .unwrap()
            .starts_with("msg_")
    );
    // Another secret, or a body altered by a byte, is refused by the library.
    let foreign = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert!(steward_tests::standard_webhooks_verify(foreign, &delivery).is_err());
    let mut altered = delivery.clone();
    altered.body = altered.body.replacen("retention", "Retention", 1);
    assert!(steward_tests::standard_webhooks_verify(&secret, &altered).is_err());

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

const SET_HOOK: &str = "mutation($u: String) { setNoticeWebhook(url: $u) { url signingSecret } }";
const ROTATE_HOOK: &str = "mutation($t: ID, $h: Int! = 24) { rotateNoticeWebhookSecret(tenantId: $t, overlapHours: $h) { url signingSecret previousSecretValidUntil } }";

/// Sends a marketing notice to `tenant` and returns the webhook delivery it made.
async fn deliver(
    app: &TestApp,
    hook: &WebhookSink,
    tenant: &str,
    title: &str,
) -> steward_tests::Delivery {
    app.gql(
        &app.root(),
        SEND,
        json!({ "i": { "tenantIds": [tenant], "class": "MARKETING", "title": title, "body": "b" } }),
    )
    .await
    .ok();
    app.run_jobs().await;
    hook.received()
        .into_iter()
        .find(|d| d.body.contains(title))
        .unwrap_or_else(|| panic!("no delivery of {title}"))
}

/// Standard Webhooks secrets: random per endpoint, stored only wrapped, shown once, rotated with an overlap in which
/// deliveries carry both signatures (verified with the reference library), and refused rotations change nothing.
async fn webhook_secrets_rotate_with_an_overlap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Hooked Co", "eu").await;
    let u = app.create_tenant("Other Hooks", "eu").await;
    let admin = app.invite(&t, "hook-admin", "CLIENT_ADMIN").await;
    let other = app.invite(&u, "other-hook-admin", "CLIENT_ADMIN").await;
    let viewer = app.invite(&t, "hook-viewer", "CLIENT_VIEWER").await;
    let hook = WebhookSink::start(vec![]).await;

    // No webhook yet: nothing to rotate.
    app.gql(&admin, ROTATE_HOOK, json!({}))
        .await
        .expect_code("BAD_USER_INPUT");
    let secret_of = |reply: &steward_tests::Reply, field: &str| {
        reply.ok()[field]["signingSecret"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let first = secret_of(
        &app.gql(&admin, SET_HOOK, json!({ "u": hook.url })).await,
        "setNoticeWebhook",
    );
    let elsewhere = secret_of(
        &app.gql(&other, SET_HOOK, json!({ "u": hook.url })).await,
        "setNoticeWebhook",
    );
    assert_ne!(first, elsewhere, "one random secret per endpoint");
    // Stored only wrapped: its bytes are nowhere in the region database.
    let raw = steward::crypto::WebhookSecret::from_whsec(&first).unwrap();
    assert!(!app.database_contains_bytes("eu", raw.bytes()).await);
    assert!(!app.database_contains("eu", &first).await);
    let delivery = deliver(&app, &hook, &t, "before rotation").await;
    steward_tests::standard_webhooks_verify(&first, &delivery).expect("the first secret verifies");

    // Refused, changing nothing: a viewer, another tenant's admin, an overlap over a week.
    app.gql(&viewer, ROTATE_HOOK, json!({}))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&other, ROTATE_HOOK, json!({ "t": t }))
        .await
        .expect_code("NOT_FOUND");
    app.gql(&admin, ROTATE_HOOK, json!({ "h": 169 }))
        .await
        .expect_code("BAD_USER_INPUT");
    let delivery = deliver(&app, &hook, &t, "after refusals").await;
    steward_tests::standard_webhooks_verify(&first, &delivery).expect("still the first secret");

    // Rotated with a day's overlap: both secrets verify every delivery of that day.
    let rotated = app.gql(&admin, ROTATE_HOOK, json!({})).await;
    let second = secret_of(&rotated, "rotateNoticeWebhookSecret");
    assert_ne!(second, first);
    let until = rotated.ok()["rotateNoticeWebhookSecret"]["previousSecretValidUntil"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<Utc>>()
        .unwrap();
    assert!(
        (until - Utc::now() - Duration::hours(24))
            .num_minutes()
            .abs()
            <= 1
    );
    let delivery = deliver(&app, &hook, &t, "during the overlap").await;
    assert_eq!(
        delivery.headers["webhook-signature"]
            .to_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );
    steward_tests::standard_webhooks_verify(&first, &delivery)
        .expect("the old secret, during the overlap");
    steward_tests::standard_webhooks_verify(&second, &delivery).expect("the new secret");
    // The other tenant's deliveries are untouched.
    let theirs = deliver(&app, &hook, &u, "elsewhere").await;
    steward_tests::standard_webhooks_verify(&elsewhere, &theirs).expect("their own secret");
    assert!(steward_tests::standard_webhooks_verify(&second, &theirs).is_err());

    // A document whose other field fails still hands over the secret it set (the field is nullable): the secret the
    // next delivery is signed with is never one nobody has.
    let mixed = app
        .gql(
            &admin,
            "mutation($u: String) { good: setNoticeWebhook(url: $u) { signingSecret } bad: rotateNoticeWebhookSecret(overlapHours: 999) { signingSecret } }",
            json!({ "u": hook.url }),
        )
        .await;
    assert_eq!(mixed.code(), Some("BAD_USER_INPUT"));
    assert!(mixed.body["data"]["bad"].is_null());
    let handed_over = mixed.body["data"]["good"]["signingSecret"]
        .as_str()
        .expect("the secret survives the other field's error")
        .to_owned();
    let delivery = deliver(&app, &hook, &t, "after a mixed document").await;
    steward_tests::standard_webhooks_verify(&handed_over, &delivery)
        .expect("the secret handed over");

    // Rotated again with no overlap: only the newest verifies.
    let third = secret_of(
        &app.gql(&admin, ROTATE_HOOK, json!({ "h": 0 })).await,
        "rotateNoticeWebhookSecret",
    );
    let delivery = deliver(&app, &hook, &t, "after the overlap").await;
    steward_tests::standard_webhooks_verify(&third, &delivery).expect("the newest secret");
    for old in [&first, &second, &handed_over] {
        assert!(steward_tests::standard_webhooks_verify(old, &delivery).is_err());
    }
    // Each rotation is on the tenant's audit chain, without the secret.
    let tid = steward_tests::stored_uuid(&app, &t);
    assert_eq!(
        app.count(
            "eu",
            "audit_events",
            &format!("tenant_id = {tid} AND action = 'notice.webhook_secret_rotated'")
        )
        .await,
        2
    );
}

both_backends!(webhook_secrets_rotate_with_an_overlap);

/// An endpoint set before secrets were stored (its row holds none) signs with the secret it was shown then and, until
/// rotated, also sends the headers its receiver was built for (`Steward-Signature`, `Idempotency-Key`): an upgrade
/// breaks no receiver. A rotation ends them.
async fn an_endpoint_from_before_the_upgrade_keeps_its_headers_until_rotated(backend: Backend) {
    use hmac::{Hmac, Mac};
    let app = TestApp::spawn(backend).await;
    let t = app.create_tenant("Early Hooks", "eu").await;
    let admin = app.invite(&t, "early-hook-admin", "CLIENT_ADMIN").await;
    let hook = WebhookSink::start(vec![]).await;
    app.gql(&admin, SET_HOOK, json!({ "u": hook.url }))
        .await
        .ok();
    // The row as the version before wrote it: no stored secret.
    let db = app.raw_db("eu").await;
    sea_orm::ConnectionTrait::execute_unprepared(
        &db,
        &format!(
            "UPDATE tenant_webhooks SET secret_sealed = NULL WHERE tenant_id = {}",
            steward_tests::stored_uuid(&app, &t)
        ),
    )
    .await
    .unwrap();
    // The secret that version showed: derived from the master key and the tenant's id, 64 hex characters.
    let shown = steward::crypto::Keyring::new(
        steward::crypto::MasterKey::from_hex(steward_tests::MASTER_KEY).unwrap(),
    )
    .legacy_webhook_secret(uuid::Uuid::parse_str(&t).unwrap());
    let shown_hex = String::from_utf8(shown.bytes().to_vec()).unwrap();
    assert_eq!(shown_hex.len(), 64);

    let delivery = deliver(&app, &hook, &t, "to an early receiver").await;
    let header = |name: &str| {
        delivery
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    // The earlier scheme, checked as its receivers check it.
    let signed = header("steward-signature").expect("the earlier signature header");
    let (t_part, v1) = signed.split_once(',').unwrap();
    let timestamp = t_part.strip_prefix("t=").unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(shown_hex.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", delivery.body).as_bytes());
    assert_eq!(
        v1.strip_prefix("v1=").unwrap(),
        hex::encode(mac.finalize().into_bytes())
    );
    let notice_id = serde_json::from_str::<serde_json::Value>(&delivery.body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        header("idempotency-key").as_deref(),
        Some(notice_id.as_str())
    );
    // And the standard headers, with the same secret as `whsec_`.
    steward_tests::standard_webhooks_verify(&shown.to_whsec(), &delivery)
        .expect("the shown secret verifies the standard headers");

    // Rotated: standard headers only; the shown secret still signs during the overlap.
    let rotated = app.gql(&admin, ROTATE_HOOK, json!({})).await;
    let new = rotated.ok()["rotateNoticeWebhookSecret"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_owned();
    let delivery = deliver(&app, &hook, &t, "after the rotation").await;
    assert!(delivery.headers.get("steward-signature").is_none());
    assert!(delivery.headers.get("idempotency-key").is_none());
    steward_tests::standard_webhooks_verify(&new, &delivery).expect("the new secret");
    steward_tests::standard_webhooks_verify(&shown.to_whsec(), &delivery)
        .expect("the shown secret, during the overlap");
}

both_backends!(an_endpoint_from_before_the_upgrade_keeps_its_headers_until_rotated);
