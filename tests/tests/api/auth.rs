//! The token matrix: every way a token can be wrong is refused with 401 / UNAUTHENTICATED and a sentence saying what.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use steward_tests::{Backend, Reply, SECRET, TestApp, both_backends};

const VIEWER: &str = "{ viewer { subject kind roles } }";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn claims() -> Value {
    json!({ "sub": "root-admin", "iss": "steward", "aud": "steward", "exp": now() + 300, "iat": now(), "kind": "staff" })
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().remove(key);
    base
}

#[track_caller]
fn refused(reply: &Reply, says: &str) {
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{:#}", reply.body);
    reply.expect_code("UNAUTHENTICATED");
    assert!(
        reply.message().contains(says),
        "expected `{says}` in `{}`",
        reply.message()
    );
    assert!(!reply.message().contains(SECRET));
    assert!(reply.body["data"].is_null());
}

async fn hs256_token_matrix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ask = |token: String| {
        let app = &app;
        async move { app.gql(&token, VIEWER, json!({})).await }
    };

    // The valid token works, so every refusal below is about the one thing changed.
    let ok = ask(hs256(&claims(), SECRET.as_bytes())).await;
    assert_eq!(ok.ok()["viewer"]["roles"], json!(["PLATFORM_ADMIN"]));

    let none = app
        .post_raw(None, json!({ "query": VIEWER }).to_string())
        .await;
    refused(&none, "missing bearer token");
    assert_eq!(none.headers["www-authenticate"], "Bearer");

    let basic = app
        .send(
            axum::http::Request::post("/graphql")
                .header("authorization", "Basic cm9vdDpyb290")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(
                    json!({ "query": VIEWER }).to_string(),
                ))
                .unwrap(),
        )
        .await;
    refused(&basic, "Bearer");

    refused(&ask("not-a-jwt".into()).await, "malformed");
    // Not an access token: another `typ` is refused; `JWT` and `at+jwt` are accepted.
    let typed = |typ: &str| {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(
            &header,
            &claims(),
            &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    refused(&ask(typed("logout+jwt")).await, "typ");
    refused(&ask(typed("id_token")).await, "typ");
    ask(typed("at+jwt")).await.ok();
    // No token lives for ever: a day at most by default, counted from `iat` (or from now without it).
    refused(
        &ask(hs256(
            &with(claims(), "exp", json!(now() + 2 * 86_400)),
            SECRET.as_bytes(),
        ))
        .await,
        "lives longer",
    );
    refused(
        &ask(hs256(
            &without(with(claims(), "exp", json!(now() + 400 * 86_400)), "iat"),
            SECRET.as_bytes(),
        ))
        .await,
        "lives longer",
    );
    // Nor does one "issued" a year ahead that works from now until then.
    refused(
        &ask(hs256(
            &with(
                with(claims(), "iat", json!(now() + 365 * 86_400)),
                "exp",
                json!(now() + 365 * 86_400 + 60),
            ),
            SECRET.as_bytes(),
        ))
        .await,
        "in the future",
    );
    ask(hs256(
        &with(claims(), "exp", json!(now() + 86_000)),
        SECRET.as_bytes(),
    ))
    .await
    .ok();
    refused(
        &ask(hs256(
            &with(claims(), "exp", json!(now() - 120)),
            SECRET.as_bytes(),
        ))
        .await,
        "expired",
    );
    refused(
        &ask(hs256(
            &with(claims(), "nbf", json!(now() + 120)),
            SECRET.as_bytes(),
        ))
        .await,
        "not valid yet",
    );
    refused(
        &ask(hs256(
            &with(claims(), "iss", json!("someone-else")),
            SECRET.as_bytes(),
        ))
        .await,
        "issuer",
    );
    refused(
        &ask(hs256(
            &with(claims(), "aud", json!("another-api")),
            SECRET.as_bytes(),
        ))
        .await,
        "audience",
    );
    refused(
        &ask(hs256(&claims(), b"another-secret-another-secret-0123456")).await,
        "signature",
    );
    for claim in ["sub", "exp", "iss", "aud"] {
        refused(
            &ask(hs256(&without(claims(), claim), SECRET.as_bytes())).await,
            claim,
        );
    }
    refused(
        &ask(hs256(&without(claims(), "kind"), SECRET.as_bytes())).await,
        "kind",
    );
    refused(
        &ask(hs256(
            &with(claims(), "kind", json!("robot")),
            SECRET.as_bytes(),
        ))
        .await,
        "kind",
    );
    refused(
        &ask(hs256(
            &with(claims(), "kind", json!("client")),
            SECRET.as_bytes(),
        ))
        .await,
        "tid",
    );
    refused(
        &ask(hs256(
            &with(
                with(claims(), "kind", json!("client")),
                "tid",
                json!("nope"),
            ),
            SECRET.as_bytes(),
        ))
        .await,
        "tid",
    );
    refused(
        &ask(hs256(
            &with(claims(), "tid", json!(uuid::Uuid::now_v7().to_string())),
            SECRET.as_bytes(),
        ))
        .await,
        "staff tokens must not carry",
    );

    // alg "none": a token with no signature at all.
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT" })),
        b64(&claims())
    );
    refused(&ask(unsigned).await, "token");

    // A token signed with another HMAC size is another algorithm: refused.
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims(),
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    refused(&ask(hs512).await, "algorithm");

    // Oversized tokens are refused before decoding.
    let huge = hs256(
        &with(claims(), "pad", json!("x".repeat(9000))),
        SECRET.as_bytes(),
    );
    refused(&ask(huge).await, "larger than");

    // Clock skew: 20 s past `exp` is inside the 30 s leeway; 90 s is not.
    assert!(
        ask(hs256(
            &with(claims(), "exp", json!(now() - 20)),
            SECRET.as_bytes()
        ))
        .await
        .code()
        .is_none()
    );
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

async fn public_key_servers(backend: Backend) {
    for (public, private, alg) in [
        ("rs256-public.pem", "rs256-private.pem", Algorithm::RS256),
        ("es256-public.pem", "es256-private.pem", Algorithm::ES256),
    ] {
        let app = TestApp::spawn_with(backend.clone(), |args| {
            args.jwt_hs256_secret = None;
            args.jwt_public_key_file = Some(fixture(public));
            args.jwt_issuer = Some("https://idp.example".into());
        })
        .await;
        let claims = with(claims(), "iss", json!("https://idp.example"));
        let pem = std::fs::read(fixture(private)).unwrap();
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
            _ => EncodingKey::from_ec_pem(&pem).unwrap(),
        };
        let good = jsonwebtoken::encode(&Header::new(alg), &claims, &key).unwrap();
        let reply = app.gql(&good, VIEWER, json!({})).await;
        assert_eq!(reply.ok()["viewer"]["subject"], "root-admin", "{alg:?}");

        // The classic confusion attack: HS256 signed with the public key's bytes must not pass.
        let public_pem = std::fs::read(fixture(public)).unwrap();
        refused(
            &app.gql(&hs256(&claims, &public_pem), VIEWER, json!({}))
                .await,
            "algorithm",
        );
        // And an HS256 token with the dev secret is simply the wrong algorithm here.
        refused(
            &app.gql(&hs256(&claims, SECRET.as_bytes()), VIEWER, json!({}))
                .await,
            "algorithm",
        );
    }
}

both_backends!(hs256_token_matrix, public_key_servers);
