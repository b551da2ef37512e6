//! Randomised isolation: over a thousand random creates, reads, updates and grant flows across three tenants and
//! every role, after every step no principal has received another tenant's subject or value, and staff have
//! received values only inside a grant in force. The seed is printed; set `STEWARD_FUZZ_SEED` to replay a run.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::record;

const OPERATIONS: usize = 1000;
const TENANTS: usize = 3;

/// SplitMix64: small, seeded, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Admin(usize),
    Viewer(usize),
    Staff(usize),
}

const STAFF: [(&str, &str); 5] = [
    ("fz-support", "SUPPORT"),
    ("fz-officer", "PRIVACY_OFFICER"),
    ("fz-legal", "LEGAL"),
    ("fz-auditor", "AUDITOR"),
    ("fz-platform", "PLATFORM_ADMIN"),
];

#[derive(Debug)]
struct Grant {
    id: String,
    tenant: usize,
    staff: usize,
    subjects: Option<HashSet<String>>,
    state: &'static str,
}

struct World {
    app: TestApp,
    tenants: Vec<String>,
    admins: Vec<String>,
    viewers: Vec<String>,
    staff: Vec<String>,
    /// subject id → tenant index
    subjects: HashMap<String, usize>,
    by_tenant: Vec<Vec<String>>,
    /// current personal value (including external ids) → subject id
    values: HashMap<String, String>,
    /// personal data record ids per subject
    records: HashMap<String, Vec<(String, String)>>,
    grants: Vec<Grant>,
    counter: usize,
}

impl World {
    fn token(&self, who: Who) -> &str {
        match who {
            Who::Admin(t) => &self.admins[t],
            Who::Viewer(t) => &self.viewers[t],
            Who::Staff(s) => &self.staff[s],
        }
    }

    fn covered(&self, staff: usize, tenant: usize, subject: &str) -> bool {
        self.grants.iter().any(|g| {
            g.staff == staff
                && g.tenant == tenant
                && g.state == "approved"
                && g.subjects.as_ref().is_none_or(|s| s.contains(subject))
        })
    }

    /// Checks one answer about tenant `asked` for `who`: no foreign subject, no value outside the rules, and no value
    /// withheld that the rules allow.
    fn check(&self, who: Who, asked: usize, reply: &Value, step: usize) {
        let mut subjects_seen = Vec::new();
        collect_subjects(&reply["data"], &mut subjects_seen);
        for (subject, node) in subjects_seen {
            let owner = *self
                .subjects
                .get(&subject)
                .unwrap_or_else(|| panic!("step {step}: unknown subject {subject}"));
            assert_eq!(
                owner, asked,
                "step {step}: {who:?} asked tenant {asked} and got a subject of tenant {owner}"
            );
            if let Who::Admin(t) | Who::Viewer(t) = who {
                assert_eq!(
                    owner, t,
                    "step {step}: client of {t} received a subject of {owner}"
                );
            }
            let may_read = match who {
                Who::Admin(_) | Who::Viewer(_) => true,
                Who::Staff(s) => self.covered(s, owner, &subject),
            };
            let mut values = Vec::new();
            collect_values(&node, &mut values);
            for value in values {
                match value {
                    Some(v) => {
                        assert!(
                            may_read,
                            "step {step}: {who:?} read a value of {subject} without a grant in force"
                        );
                        let of = self
                            .values
                            .get(&v)
                            .unwrap_or_else(|| panic!("step {step}: value {v} is not current"));
                        assert_eq!(
                            of, &subject,
                            "step {step}: value of {of} shown as {subject}'s"
                        );
                    }
                    None => assert!(
                        !may_read,
                        "step {step}: {who:?} was denied a value of {subject} it may read"
                    ),
                }
            }
        }
    }
}

fn collect_subjects(value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(id)), true) =
                (map.get("id"), map.contains_key("personalData"))
            {
                out.push((id.clone(), value.clone()));
                return;
            }
            map.values().for_each(|v| collect_subjects(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_subjects(v, out)),
        _ => {}
    }
}

/// The personal fields of one subject node: `externalId` and each `value`.
fn collect_values(node: &Value, out: &mut Vec<Option<String>>) {
    out.push(node["externalId"].as_str().map(str::to_owned));
    for record in node["personalData"].as_array().into_iter().flatten() {
        out.push(record["value"].as_str().map(str::to_owned));
    }
}

const READ_LIST: &str = "query($t: ID) { dataSubjects(tenantId: $t, first: 100) { edges { node { id externalId personalData { value } } } } }";
const READ_ONE: &str = "query($id: ID!, $t: ID) { dataSubject(id: $id, tenantId: $t) { id externalId personalData { value } } }";

async fn randomized_isolation(backend: Backend) {
    let seed = std::env::var("STEWARD_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("randomized_isolation seed: {seed} (STEWARD_FUZZ_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let app = TestApp::spawn(backend).await;
    let mut tenants = Vec::new();
    let (mut admins, mut viewers) = (Vec::new(), Vec::new());
    for t in 0..TENANTS {
        let id = app
            .create_tenant(&format!("Fuzz {t}"), if t % 2 == 0 { "eu" } else { "us" })
            .await;
        admins.push(
            app.invite(&id, &format!("fz-admin-{t}"), "CLIENT_ADMIN")
                .await,
        );
        viewers.push(
            app.invite(&id, &format!("fz-viewer-{t}"), "CLIENT_VIEWER")
                .await,
        );
        tenants.push(id);
    }
    let mut staff = Vec::new();
    for (subject, role) in STAFF {
        staff.push(app.staff_with(subject, role).await);
    }
    let mut w = World {
        app,
        tenants,
        admins,
        viewers,
        staff,
        subjects: HashMap::new(),
        by_tenant: vec![Vec::new(); TENANTS],
        values: HashMap::new(),
        records: HashMap::new(),
        grants: Vec::new(),
        counter: 0,
    };

    let mut counts: HashMap<&str, usize> = HashMap::new();
    for step in 0..OPERATIONS {
        let roll = rng.below(100);
        let op = match roll {
            0..=17 => "create",
            18..=25 => "add",
            26..=49 => "read_list",
            50..=64 => "read_one",
            65..=74 => "request",
            75..=84 => "decide",
            85..=89 => "revoke",
            _ => "rectify",
        };
        *counts.entry(op).or_default() += 1;
        let any_who = |rng: &mut Rng| match rng.below(3) {
            0 => Who::Admin(rng.below(TENANTS)),
            1 => Who::Viewer(rng.below(TENANTS)),
            _ => Who::Staff(rng.below(STAFF.len())),
        };
        match op {
            "create" => {
                let t = rng.below(TENANTS);
                w.counter += 1;
                let n = w.counter;
                let (ext, email, name) = (
                    format!("ext-{t}-{n}"),
                    format!("t{t}s{n}@fuzz.example"),
                    format!("T{t} Person {n}"),
                );
                let reply = w
                    .app
                    .gql(
                        &w.admins[t],
                        "mutation($i: CreateDataSubjectInput!) { createDataSubject(input: $i) { id personalData { id value } } }",
                        json!({ "i": { "externalId": ext, "personalData": [record("user.contact.email", &email), record("user.name", &name)] } }),
                    )
                    .await;
                let created = reply.ok()["createDataSubject"].clone();
                let id = created["id"].as_str().unwrap().to_owned();
                w.subjects.insert(id.clone(), t);
                w.by_tenant[t].push(id.clone());
                for v in [ext, email, name] {
                    w.values.insert(v, id.clone());
                }
                let recs = created["personalData"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            r["id"].as_str().unwrap().to_owned(),
                            r["value"].as_str().unwrap().to_owned(),
                        )
                    })
                    .collect();
                w.records.insert(id, recs);
            }
            "add" | "rectify" => {
                let Some((subject, owner)) = pick_subject(&w, &mut rng) else {
                    continue;
                };
                // Sometimes another tenant's admin tries: it must look like the subject does not exist.
                let actor = if rng.chance(30) {
                    (owner + 1 + rng.below(TENANTS - 1)) % TENANTS
                } else {
                    owner
                };
                w.counter += 1;
                let mut value = format!("T{owner} note {}", w.counter);
                let reply = if op == "add" {
                    w.app
                        .gql(
                            &w.admins[actor],
                            "mutation($i: AddPersonalDataInput!) { addPersonalData(input: $i) { id value } }",
                            json!({ "i": { "subjectId": subject, "category": "user.behavior.browsing_history", "value": value, "purpose": "analytics", "source": "fuzz" } }),
                        )
                        .await
                } else {
                    let records = &w.records[&subject];
                    let (record_id, old) = records[rng.below(records.len())].clone();
                    if old.contains('@') {
                        value = format!("t{owner}r{}@fuzz.example", w.counter);
                    }
                    w.app
                        .gql(
                            &w.admins[actor],
                            "mutation($i: UpdatePersonalDataInput!) { updatePersonalData(input: $i) { id value } }",
                            json!({ "i": { "id": record_id, "value": value } }),
                        )
                        .await
                };
                if actor != owner {
                    reply.expect_code("NOT_FOUND");
                    assert!(
                        reply.body["data"].is_null(),
                        "step {step}: {:#}",
                        reply.body
                    );
                    continue;
                }
                let field = if op == "add" {
                    "addPersonalData"
                } else {
                    "updatePersonalData"
                };
                let rec = reply.ok()[field].clone();
                let rec_id = rec["id"].as_str().unwrap().to_owned();
                let recs = w.records.get_mut(&subject).unwrap();
                if let Some(slot) = recs.iter_mut().find(|(id, _)| *id == rec_id) {
                    w.values.remove(&slot.1);
                    slot.1 = value.clone();
                } else {
                    recs.push((rec_id, value.clone()));
                }
                w.values.insert(value, subject);
            }
            "read_list" => {
                let who = any_who(&mut rng);
                let asked = rng.below(TENANTS);
                let reply = w
                    .app
                    .gql(w.token(who), READ_LIST, json!({ "t": w.tenants[asked] }))
                    .await;
                match who {
                    Who::Admin(t) | Who::Viewer(t) if t != asked => {
                        reply.expect_code("NOT_FOUND");
                    }
                    Who::Staff(s) if !["SUPPORT", "PRIVACY_OFFICER"].contains(&STAFF[s].1) => {
                        reply.expect_code("FORBIDDEN");
                    }
                    _ => {
                        assert!(
                            reply.body["data"]["dataSubjects"].is_object(),
                            "step {step}: {:#}",
                            reply.body
                        );
                        let listed = reply.body["data"]["dataSubjects"]["edges"]
                            .as_array()
                            .unwrap()
                            .len();
                        assert_eq!(
                            listed,
                            w.by_tenant[asked].len().min(100),
                            "step {step}: every subject listed"
                        );
                    }
                }
                w.check(who, asked, &reply.body, step);
            }
            "read_one" => {
                let Some((subject, owner)) = pick_subject(&w, &mut rng) else {
                    continue;
                };
                let who = any_who(&mut rng);
                let asked = if rng.chance(70) {
                    owner
                } else {
                    rng.below(TENANTS)
                };
                let reply = w
                    .app
                    .gql(
                        w.token(who),
                        READ_ONE,
                        json!({ "id": subject, "t": w.tenants[asked] }),
                    )
                    .await;
                let staff_may_list = matches!(who, Who::Staff(s) if ["SUPPORT", "PRIVACY_OFFICER"].contains(&STAFF[s].1));
                match who {
                    Who::Admin(t) | Who::Viewer(t) if t != asked || t != owner => {
                        reply.expect_code("NOT_FOUND");
                    }
                    Who::Staff(_) if !staff_may_list => {
                        reply.expect_code("FORBIDDEN");
                    }
                    Who::Staff(_) if asked != owner => {
                        reply.expect_code("NOT_FOUND");
                    }
                    _ => assert_eq!(
                        reply.body["data"]["dataSubject"]["id"],
                        subject.as_str(),
                        "step {step}"
                    ),
                }
                w.check(who, asked, &reply.body, step);
            }
            "request" => {
                let s = rng.below(2); // support or privacy officer
                let t = rng.below(TENANTS);
                let subjects: Option<Vec<String>> = if rng.chance(50) && !w.by_tenant[t].is_empty()
                {
                    let pool = &w.by_tenant[t];
                    Some(
                        (0..1 + rng.below(3))
                            .map(|_| pool[rng.below(pool.len())].clone())
                            .collect(),
                    )
                } else {
                    None
                };
                let reply = w
                    .app
                    .gql(
                        &w.staff[s],
                        "mutation($i: AccessGrantInput!) { requestAccessGrant(input: $i) { id status } }",
                        json!({ "i": { "tenantId": w.tenants[t], "justification": "randomised isolation test", "ticket": format!("FZ-{step}"), "durationMinutes": 120, "subjectIds": subjects } }),
                    )
                    .await;
                let id = reply.ok()["requestAccessGrant"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                w.grants.push(Grant {
                    id,
                    tenant: t,
                    staff: s,
                    subjects: subjects.map(|v| v.into_iter().collect()),
                    state: "pending",
                });
            }
            "decide" => {
                let pending: Vec<usize> = (0..w.grants.len())
                    .filter(|&i| w.grants[i].state == "pending")
                    .collect();
                if pending.is_empty() {
                    continue;
                }
                let i = pending[rng.below(pending.len())];
                let t = w.grants[i].tenant;
                let actor = if rng.chance(20) { (t + 1) % TENANTS } else { t };
                let approve = rng.chance(75);
                let reply = if approve {
                    w.app
                        .gql(
                            &w.admins[actor],
                            "mutation($id: ID!) { approveAccessGrant(id: $id) { status } }",
                            json!({ "id": w.grants[i].id }),
                        )
                        .await
                } else {
                    w.app.gql(&w.admins[actor], "mutation($id: ID!) { denyAccessGrant(id: $id, reason: \"no\") { status } }", json!({ "id": w.grants[i].id })).await
                };
                if actor != t {
                    reply.expect_code("NOT_FOUND");
                } else {
                    reply.ok();
                    w.grants[i].state = if approve { "approved" } else { "denied" };
                }
            }
            "revoke" => {
                let live: Vec<usize> = (0..w.grants.len())
                    .filter(|&i| w.grants[i].state == "approved")
                    .collect();
                if live.is_empty() {
                    continue;
                }
                let i = live[rng.below(live.len())];
                let t = w.grants[i].tenant;
                w.app
                    .gql(
                        &w.admins[t],
                        "mutation($id: ID!) { revokeAccessGrant(id: $id) { status } }",
                        json!({ "id": w.grants[i].id }),
                    )
                    .await
                    .ok();
                w.grants[i].state = "revoked";
            }
            _ => unreachable!(),
        }
    }
    // The run exercised every kind of operation and ended with data in every tenant.
    for op in [
        "create",
        "add",
        "read_list",
        "read_one",
        "request",
        "decide",
        "revoke",
        "rectify",
    ] {
        assert!(
            counts.get(op).copied().unwrap_or(0) > 0,
            "{op} never ran: {counts:?}"
        );
    }
    assert!(w.by_tenant.iter().all(|s| !s.is_empty()));
    // Whatever the walk left behind, end on the positive path: support gets a grant for every subject of tenant 0,
    // the tenant approves, and support's next read shows every value (the checker fails on any value withheld).
    let reply = w
        .app
        .gql(
            &w.staff[0],
            "mutation($i: AccessGrantInput!) { requestAccessGrant(input: $i) { id } }",
            json!({ "i": { "tenantId": w.tenants[0], "justification": "final check of the positive path", "ticket": "FZ-END", "durationMinutes": 60 } }),
        )
        .await;
    let id = reply.ok()["requestAccessGrant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    w.app
        .gql(
            &w.admins[0],
            "mutation($id: ID!) { approveAccessGrant(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await
        .ok();
    w.grants.push(Grant {
        id,
        tenant: 0,
        staff: 0,
        subjects: None,
        state: "approved",
    });
    let reply = w
        .app
        .gql(&w.staff[0], READ_LIST, json!({ "t": w.tenants[0] }))
        .await;
    w.check(Who::Staff(0), 0, &reply.body, OPERATIONS);
    assert!(
        reply.body["errors"].is_null(),
        "a grant for all subjects opens every value: {:#}",
        reply.body
    );
}

fn pick_subject(w: &World, rng: &mut Rng) -> Option<(String, usize)> {
    if w.subjects.is_empty() {
        return None;
    }
    let t = rng.below(TENANTS);
    let pool = if w.by_tenant[t].is_empty() {
        w.by_tenant.iter().find(|p| !p.is_empty())?
    } else {
        &w.by_tenant[t]
    };
    let id = pool[rng.below(pool.len())].clone();
    let owner = w.subjects[&id];
    Some((id, owner))
}

both_backends!(randomized_isolation);
