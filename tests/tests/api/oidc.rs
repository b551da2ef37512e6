//! OpenID Connect identity: a local provider on loopback publishes its discovery document and a JWKS, and rotates its
//! keys mid-run. Steward picks keys by `kid` (RS256, ES256, EdDSA), fetches the set again for a new `kid` (at most once
//! per ten seconds, whatever forged `kid`s arrive), refreshes it periodically so a withdrawn key stops working, and
//! reads the caller's kind and tenant from the claims it is told to.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use steward_tests::{Backend, ROOT, TestApp, both_backends};

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// One of the provider's signing keys.
struct Signer {
    kid: String,
    algorithm: Algorithm,
    key: EncodingKey,
    jwk: Value,
}

impl Signer {
    fn new(file: &str, algorithm: Algorithm, kid: &str) -> Signer {
        let pem = std::fs::read(fixture(file)).unwrap();
        let key = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(&pem),
            _ => EncodingKey::from_ed_pem(&pem),
        }
        .unwrap();
        let mut jwk = Jwk::from_encoding_key(&key, algorithm).unwrap();
        jwk.common.key_id = Some(kid.into());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Signer {
            kid: kid.into(),
            algorithm,
            key,
            jwk: serde_json::to_value(jwk).unwrap(),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, &self.kid, "at+jwt")
    }

    fn sign_as(&self, claims: &Value, kid: &str, typ: &str) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(kid.into());
        header.typ = Some(typ.into());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

/// A minimal OpenID Connect provider: discovery and JWKS, with the keys it publishes swappable.
struct Provider {
    issuer: String,
    keys: Arc<Mutex<Vec<Value>>>,
    jwks_fetches: Arc<AtomicUsize>,
}

impl Provider {
    /// `claims_issuer`: what the discovery document says the issuer is (normally the provider's own address).
    async fn start(keys: Vec<Value>, claims_issuer: Option<&str>) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/realms/steward", listener.local_addr().unwrap());
        let keys = Arc::new(Mutex::new(keys));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let document = json!({
            "issuer": claims_issuer.unwrap_or(&issuer),
            "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        });
        let (served, fetches) = (keys.clone(), jwks_fetches.clone());
        let router = axum::Router::new()
            .route(
                "/realms/steward/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(document) }),
            )
            .route(
                "/realms/steward/protocol/openid-connect/certs",
                axum::routing::get(move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = served.lock().unwrap().clone();
                    axum::Json(json!({ "keys": keys }))
                }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Provider {
            issuer,
            keys,
            jwks_fetches,
        }
    }

    fn publish(&self, keys: Vec<Value>) {
        *self.keys.lock().unwrap() = keys;
    }

    fn fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}

fn claims(issuer: &str, sub: &str, extra: Value) -> Value {
    let now = jsonwebtoken::get_current_timestamp();
    let mut claims =
        json!({ "sub": sub, "iss": issuer, "aud": "steward", "iat": now, "exp": now + 600 });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    claims
}

const VIEWER: &str = "{ viewer { subject kind tenant { id } } }";

async fn viewer(app: &TestApp, token: &str) -> Result<Value, String> {
    let reply = app.gql(token, VIEWER, json!({})).await;
    match reply.code() {
        None => Ok(reply.ok()["viewer"].clone()),
        Some(code) => Err(format!("{code}: {}", reply.message())),
    }
}

fn with_provider(issuer: &str, refresh_secs: u64) -> impl FnOnce(&mut steward::config::ConfigArgs) {
    let issuer = issuer.to_owned();
    move |args| {
        args.jwt_hs256_secret = None;
        args.oidc_issuer = Some(issuer);
        args.oidc_refresh_secs = refresh_secs;
        args.kind_claim = "steward_kind".into();
        args.tenant_claim = "steward_tenant".into();
    }
}

async fn tokens_verify_with_the_providers_rotating_keys(backend: Backend) {
    let rsa = Signer::new("rs256-private.pem", Algorithm::RS256, "rsa-2026-11");
    let ec = Signer::new("es256-private.pem", Algorithm::ES256, "ec-2026-11");
    let ed = Signer::new("ed25519-private.pem", Algorithm::EdDSA, "ed-2026-12");
    let provider = Provider::start(vec![rsa.jwk.clone(), ec.jwk.clone()], None).await;
    let iss = provider.issuer.clone();
    let app = TestApp::spawn_with(backend.clone(), with_provider(&iss, 3600)).await;
    assert_eq!(provider.fetches(), 1, "the key set is read at start");

    // Staff, RS256. Entra ID puts its own directory id in `tid` of every token: with the tenant claim named
    // `steward_tenant`, that `tid` means nothing to Steward.
    let root = rsa.sign(&claims(
        &iss,
        ROOT,
        json!({ "steward_kind": "staff", "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47" }),
    ));
    assert_eq!(
        viewer(&app, &root).await.unwrap(),
        json!({ "subject": ROOT, "kind": "STAFF", "tenant": null })
    );
    let created = app
        .gql(
            &root,
            "mutation($i: CreateTenantInput!) { createTenant(input: $i) { id } }",
            json!({ "i": { "name": "Federated Co", "region": "eu", "timeZone": "UTC" } }),
        )
        .await;
    let tenant = created.ok()["createTenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql(
        &root,
        "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id } }",
        json!({ "i": { "tenantId": tenant, "email": "cleo@federated.example", "subject": "cleo", "role": "CLIENT_ADMIN" } }),
    )
    .await
    .ok();
    // A client, ES256, its tenant in the configured claim.
    let client = ec.sign(&claims(
        &iss,
        "cleo",
        json!({ "steward_kind": "client", "steward_tenant": tenant }),
    ));
    assert_eq!(
        viewer(&app, &client).await.unwrap(),
        json!({ "subject": "cleo", "kind": "CLIENT", "tenant": { "id": tenant } })
    );
    // The default claim names mean nothing here either.
    let old_names = ec.sign(&claims(
        &iss,
        "cleo",
        json!({ "kind": "client", "tid": tenant }),
    ));
    let refused = viewer(&app, &old_names).await.unwrap_err();
    assert!(refused.contains("`steward_kind`"), "{refused}");

    // Refused: an HS256 token (even one keyed with the provider's public key, naming its kid: algorithm confusion),
    // another issuer, another `typ`, and a key's own algorithm swapped for another.
    let public_pem = std::fs::read(fixture("rs256-public.pem")).unwrap();
    let mut confused = Header::new(Algorithm::HS256);
    confused.kid = Some(rsa.kid.clone());
    let confused = jsonwebtoken::encode(
        &confused,
        &claims(&iss, ROOT, json!({ "steward_kind": "staff" })),
        &EncodingKey::from_secret(&public_pem).unwrap(),
    )
    .unwrap();
    for (token, why) in [
        (confused, "token algorithm is not accepted"),
        (app.root(), "token algorithm is not accepted"),
        (
            rsa.sign(&claims(
                "https://other.example",
                ROOT,
                json!({ "steward_kind": "staff" }),
            )),
            "issuer",
        ),
        (
            rsa.sign_as(
                &claims(&iss, ROOT, json!({ "steward_kind": "staff" })),
                &rsa.kid,
                "logout+jwt",
            ),
            "`typ`",
        ),
        (
            // The EC key named by the RSA key's kid.
            ec.sign_as(
                &claims(&iss, ROOT, json!({ "steward_kind": "staff" })),
                &rsa.kid,
                "JWT",
            ),
            "algorithm",
        ),
    ] {
        let refused = viewer(&app, &token).await.unwrap_err();
        assert!(
            refused.starts_with("UNAUTHENTICATED") && refused.contains(why),
            "{why}: {refused}"
        );
    }

    // The provider rotates: an Ed25519 key comes in, the RSA key goes. A token naming the new key works at once, no
    // restart: the set is fetched again for the unknown `kid`.
    provider.publish(vec![ec.jwk.clone(), ed.jwk.clone()]);
    let rotated = ed.sign(&claims(&iss, ROOT, json!({ "steward_kind": "staff" })));
    assert_eq!(viewer(&app, &rotated).await.unwrap()["subject"], ROOT);
    assert_eq!(provider.fetches(), 2);
    // That fetch found the RSA key withdrawn: the RSA token verified (and kept) before stops working at once.
    let gone = viewer(&app, &root).await.unwrap_err();
    assert!(gone.contains("`kid`"), "{gone}");
    // A new token from the withdrawn key is refused.
    let stale = rsa.sign(&claims(&iss, "late", json!({ "steward_kind": "staff" })));
    let refused = viewer(&app, &stale).await.unwrap_err();
    assert!(refused.contains("`kid`"), "{refused}");
    // Forged `kid`s do not make Steward hammer the provider: one fetch per ten seconds at most.
    for i in 0..20 {
        let forged = ed.sign_as(
            &claims(&iss, ROOT, json!({ "steward_kind": "staff" })),
            &format!("forged-{i}"),
            "JWT",
        );
        assert!(viewer(&app, &forged).await.is_err());
    }
    assert_eq!(
        provider.fetches(),
        2,
        "no fetch within ten seconds of the last"
    );
    // An issuer given as an array is not the issuer (RFC 7519: one string), even when it holds the right one.
    let listed = ed.sign(&claims(
        &iss,
        ROOT,
        json!({ "steward_kind": "staff", "iss": [iss.clone(), "https://x.example"] }),
    ));
    assert!(viewer(&app, &listed).await.unwrap_err().contains("iss"));

    // Refreshed every second: a token verified (and kept) before its key is withdrawn stops working after the next
    // refresh, without any new `kid` arriving.
    let provider = Provider::start(vec![ec.jwk.clone(), ed.jwk.clone()], None).await;
    let iss = provider.issuer.clone();
    let refreshing = TestApp::spawn_with(backend.clone(), with_provider(&iss, 1)).await;
    let kept = ec.sign(&claims(&iss, ROOT, json!({ "steward_kind": "staff" })));
    assert!(viewer(&refreshing, &kept).await.is_ok());
    provider.publish(vec![ed.jwk.clone()]);
    let mut withdrawn = false;
    for _ in 0..100 {
        if viewer(&refreshing, &kept).await.is_err() {
            withdrawn = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        withdrawn,
        "a withdrawn key's tokens stop working after a refresh"
    );
    assert!(provider.fetches() >= 2);
    // A set with no usable key (a provider's glitch) does not replace the held keys.
    provider.publish(vec![]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let fresh = ed.sign(&claims(
        &iss,
        "after-glitch",
        json!({ "steward_kind": "staff" }),
    ));
    assert_eq!(
        viewer(&refreshing, &fresh).await.unwrap()["subject"],
        "after-glitch"
    );

    // A discovery document naming another issuer stops the server at start, saying why.
    let impostor = Provider::start(
        vec![ed.jwk.clone()],
        Some("https://idp.example/realms/steward"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut args = steward_tests::default_args(dir.path().to_path_buf());
    with_provider(&impostor.issuer, 3600)(&mut args);
    let config =
        steward::config::Config::from_args(&args, steward::config::KeySource::Configured).unwrap();
    let error = match steward::Application::build(&config).await {
        Ok(_) => panic!("started with an impostor's discovery document"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("names the issuer"), "{error}");
}

both_backends!(tokens_verify_with_the_providers_rotating_keys);
