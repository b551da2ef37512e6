//! The `steward` command as a newcomer and an operator use it: the real binary, real files, a real socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "cli-test-secret-cli-test-secret-0123456";

fn steward() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_steward"));
    // Only what each test sets: no STEWARD_* from the surrounding environment.
    cmd.env_clear().env("STEWARD_LOG", "warn");
    cmd
}

/// A running server; holds its stdout open, since a server whose stdout is closed dies at its next print.
struct Server {
    child: Child,
    _stdout: std::process::ChildStdout,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --demo` and reads stdout until every demo token is printed; returns the address and the output.
fn start_demo(dir: &std::path::Path) -> (Server, String, String) {
    let mut child = steward()
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("steward starts");
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut out = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // The last line printed is the curl example.
    while !out.contains("curl -s") {
        assert!(
            Instant::now() < deadline,
            "demo did not finish printing:\n{out}"
        );
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("utf-8") > 0,
            "server exited:\n{out}"
        );
        out.push_str(&line);
    }
    let server = Server {
        child,
        _stdout: reader.into_inner(),
    };
    let addr = out
        .lines()
        .find_map(|l| l.strip_prefix("Steward is running. Console: http://"))
        .and_then(|rest| rest.strip_suffix("/graphql"))
        .expect("console URL printed")
        .to_owned();
    (server, addr, out)
}

/// The token printed under the line that starts with `label`.
fn token_after(out: &str, label: &str) -> String {
    let mut lines = out.lines();
    lines
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` in:\n{out}"));
    lines.next().unwrap().trim().to_owned()
}

/// A minimal HTTP/1.1 POST, so this test needs no HTTP client crate.
fn post(addr: &str, token: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// The tenant id in a `{ viewer { tenant { id } } }` answer.
fn response_tenant(response: &str) -> String {
    let start = response.find(r#""id":""#).expect("an id") + 6;
    response[start..start + 36].to_owned()
}

#[test]
fn serve_refuses_to_start_without_a_key_and_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let output = steward()
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("STEWARD_JWT_HS256_SECRET"), "{stderr}");
    assert!(stderr.contains("STEWARD_JWT_PUBLIC_KEY_FILE"), "{stderr}");
    assert!(stderr.contains("--demo"), "{stderr}");

    let output = steward()
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("STEWARD_JWT_HS256_SECRET", "too-short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least 32 bytes"));

    // A token key alone is not enough: personal data needs the master key.
    let output = steward()
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("STEWARD_JWT_HS256_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("STEWARD_MASTER_KEY"));
}

#[test]
fn a_newcomer_runs_the_demo_and_reaches_their_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let (server, addr, out) = start_demo(dir.path());
    for label in [
        "platform_admin",
        "support",
        "privacy_officer",
        "legal",
        "auditor",
        "client_admin of Acme Health, eu",
        "client_viewer of Acme Health, eu",
        "client_admin of Globex Retail, us",
    ] {
        token_after(&out, label);
    }
    let admin = token_after(&out, "client_admin of Acme Health");
    let response = post(
        &addr,
        &admin,
        r#"{"query":"{ viewer { subject kind roles tenant { name region } } }"}"#,
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains(r#"{"data":{"viewer":{"subject":"acme-admin","kind":"CLIENT","roles":["CLIENT_ADMIN"],"tenant":{"name":"Acme Health","region":"eu"}}}}"#),
        "{response}"
    );
    // The demo tenant has data subjects whose values its admin reads decrypted, and our support staff do not.
    let subjects = r#"{"query":"{ dataSubjects { totalCount edges { node { personalData { category value } } } } }"}"#;
    let response = post(&addr, &admin, subjects);
    assert!(
        response.contains(r#""totalCount":3"#) && response.contains("Ada Lovelace"),
        "{response}"
    );
    let support = token_after(&out, "support");
    let acme = response_tenant(&post(
        &addr,
        &admin,
        r#"{"query":"{ viewer { tenant { id } } }"}"#,
    ));
    let query = format!(
        "{{ dataSubjects(tenantId: \"{acme}\") {{ totalCount edges {{ node {{ personalData {{ value }} }} }} }} }}"
    );
    let response = post(
        &addr,
        &support,
        &serde_json::json!({ "query": query }).to_string(),
    );
    assert!(
        response.contains(r#""totalCount":3"#) && response.contains("FORBIDDEN"),
        "{response}"
    );
    assert!(!response.contains("Ada Lovelace"), "{response}");

    let staff = token_after(&out, "platform_admin");
    let response = post(
        &addr,
        &staff,
        r#"{"query":"{ tenants { totalCount edges { node { name region } } } }"}"#,
    );
    assert!(response.contains(r#""totalCount":2"#), "{response}");
    // The demo secret is kept in the data dir, readable by its owner only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["demo-jwt-secret", "demo-master-key"] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{file} must not be readable by others");
        }
    }

    // The audit chain, exported by the operator, verifies with SHA-256 alone (an independent script) and agrees with
    // `steward audit verify` and with the head the API gives the client.
    let export = dir.path().join("acme.jsonl");
    let output = steward()
        .args(["audit", "export", "--tenant", &acme, "--output"])
        .arg(&export)
        .args(["--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/scripts/verify_chain.py"
    );
    let checked = Command::new("python3")
        .arg(script)
        .arg(&export)
        .output()
        .expect("python3 runs");
    let verdict = String::from_utf8_lossy(&checked.stdout).trim().to_owned();
    assert!(
        checked.status.success() && verdict.starts_with("ok "),
        "{verdict} {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let head = post(
        &addr,
        &admin,
        r#"{"query":"{ auditChainHead { seq hash } }"}"#,
    );
    let head_hash = verdict.rsplit(' ').next().unwrap();
    assert!(
        head.contains(head_hash),
        "API head {head} vs script {verdict}"
    );
    // A client without the operator's command pages through `auditEvents` and writes each event as a line, with the
    // API's field names: the same script verifies that too, to the same head.
    let mut lines = String::new();
    let mut after = serde_json::Value::Null;
    loop {
        let query = "query($a: String) { auditEvents(first: 50, after: $a) { pageInfo { hasNextPage endCursor } \
                     nodes { seq id occurredAt actorKind actorSubject action objectType objectId detail prevHash hash } } }";
        let response = post(
            &addr,
            &admin,
            &serde_json::json!({ "query": query, "variables": { "a": after } }).to_string(),
        );
        let body: serde_json::Value =
            serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        let page = &body["data"]["auditEvents"];
        for node in page["nodes"].as_array().expect("a page of events") {
            lines.push_str(&node.to_string());
            lines.push('\n');
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let mut events: Vec<&str> = lines.lines().collect();
    events.sort_by_key(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_i64());
    let paged = dir.path().join("acme-paged.jsonl");
    std::fs::write(&paged, events.join("\n") + "\n").unwrap();
    let checked = Command::new("python3")
        .arg(script)
        .arg(&paged)
        .output()
        .expect("python3 runs");
    assert_eq!(
        String::from_utf8_lossy(&checked.stdout).trim(),
        verdict,
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let output = steward()
        .args(["audit", "verify", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{lines}");
    assert!(
        lines.contains("ok platform") && lines.contains(&format!("ok tenant {acme}")),
        "{lines}"
    );

    drop(server);

    // Running the demo again reuses the data: still two tenants, and the old tokens still verify.
    let (_server, addr, _) = start_demo(dir.path());
    let response = post(&addr, &staff, r#"{"query":"{ tenants { totalCount } }"}"#);
    assert!(response.contains(r#""totalCount":2"#), "{response}");

    // `steward token` mints with the demo secret of the data dir, for anyone.
    let output = steward()
        .args([
            "token",
            "--sub",
            "demo-auditor",
            "--kind",
            "staff",
            "--ttl",
            "5m",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let response = post(&addr, &token, r#"{"query":"{ viewer { roles } }"}"#);
    assert!(
        response.contains(r#"{"data":{"viewer":{"roles":["AUDITOR"]}}}"#),
        "{response}"
    );
}

#[test]
fn token_mints_exactly_what_was_asked() {
    let tenant = "01930000-0000-7000-8000-000000000001";
    let output = steward()
        .args([
            "token", "--sub", "ann", "--kind", "client", "--tenant", tenant, "--ttl", "2h",
        ])
        .env("STEWARD_JWT_HS256_SECRET", SECRET)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    assert_eq!(token.lines().count(), 1, "only the token on stdout");
    let config = steward::config::JwtConfig::hs256(
        "steward",
        "steward",
        SECRET.as_bytes(),
        std::time::Duration::from_secs(86_400),
    );
    let verifier = steward::auth::JwtVerifier::new(&config, 8192).unwrap();
    let principal = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(verifier.verify(token.trim()))
        .unwrap();
    assert_eq!(principal.subject, "ann");
    assert_eq!(principal.tenant_id.unwrap().to_string(), tenant);

    for bad in [
        vec!["token", "--sub", "ann", "--kind", "client"],
        vec![
            "token", "--sub", "ann", "--kind", "staff", "--tenant", tenant,
        ],
        vec![
            "token", "--sub", "ann", "--kind", "client", "--tenant", "nope",
        ],
        vec![
            "token", "--sub", "ann", "--kind", "staff", "--ttl", "forever",
        ],
        // Longer than STEWARD_JWT_MAX_LIFETIME_SECS (a day by default): the server would refuse it.
        vec!["token", "--sub", "ann", "--kind", "staff", "--ttl", "2d"],
    ] {
        let output = steward()
            .args(&bad)
            .env("STEWARD_JWT_HS256_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{bad:?} should fail");
        assert!(output.stdout.is_empty());
    }

    // No secret and no demo data where it looks: it says where it looked and what to do.
    let empty = tempfile::tempdir().unwrap();
    let output = steward()
        .args(["token", "--sub", "ann", "--kind", "staff", "--data-dir"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains(&empty.path().display().to_string()), "{said}");
    assert!(said.contains("--data-dir"), "{said}");
}

#[test]
fn schema_and_migrate_commands() {
    let output = steward().arg("schema").output().unwrap();
    assert!(output.status.success());
    let checked_in =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), checked_in);

    let dir = tempfile::tempdir().unwrap();
    let output = steward()
        .args(["migrate", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for file in ["control.db", "region-eu.db", "region-us.db"] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
}
