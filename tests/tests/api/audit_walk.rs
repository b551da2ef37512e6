//! Every mutation appends exactly one event to each audit chain it touches (its tenant's, the platform's, or — for a
//! change announced to many tenants — each of theirs), in the same transaction as the change.
//!
//! The test reads the list of mutations from the schema itself and fails if any is not exercised here, so a mutation
//! added later cannot forget its audit event: it has to be added to this walk, which checks the chains around it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, Utc};
use sea_orm::{EntityTrait, PaginatorTrait, QuerySelect};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};
use uuid::Uuid;

use crate::personal::record;
use crate::registry::sp;

/// The mutations the schema declares.
fn schema_mutations() -> BTreeSet<String> {
    let sdl = steward::schema::sdl();
    let body = sdl
        .split("type Mutation {")
        .nth(1)
        .and_then(|rest| rest.split("\n}").next())
        .expect("the schema has a Mutation type");
    body.lines()
        .filter(|l| {
            l.starts_with('\t') && !l.starts_with("\t\t") && !l.trim_start().starts_with('"')
        })
        .filter_map(|l| {
            let line = l.trim();
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            // A field: a lower-case name directly followed by its arguments or its type.
            let next = line[name.len()..].chars().next();
            (name.starts_with(|c: char| c.is_ascii_lowercase()) && matches!(next, Some('(' | ':')))
                .then_some(name)
        })
        .collect()
}

struct Walk<'a> {
    app: &'a TestApp,
    covered: BTreeSet<String>,
    dbs: Vec<(&'static str, sea_orm::DatabaseConnection)>,
}

impl Walk<'_> {
    /// Length of every chain: the platform's and each tenant's.
    async fn chains(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        out.insert(
            "platform".to_owned(),
            steward_entities::platform_audit_event::Entity::find()
                .count(&self.dbs[0].1)
                .await
                .unwrap(),
        );
        for (region, db) in &self.dbs[1..] {
            let rows: Vec<(Uuid, i64)> = steward_entities::audit_event::Entity::find()
                .select_only()
                .column(steward_entities::audit_event::Column::TenantId)
                .column_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "n")
                .group_by(steward_entities::audit_event::Column::TenantId)
                .into_tuple()
                .all(db)
                .await
                .unwrap();
            for (tenant, n) in rows {
                out.insert(format!("{region}:{tenant}"), n as u64);
            }
        }
        out
    }

    /// Runs one mutation, which must succeed and grow each chain it touches by exactly one event.
    async fn call(&mut self, name: &str, token: &str, query: &str, vars: Value) -> Value {
        assert!(query.contains(name), "{query} does not run {name}");
        let before = self.chains().await;
        let reply = self.app.gql(token, query, vars).await;
        let data = reply.ok()[name].clone();
        let after = self.chains().await;
        let grown: Vec<(String, u64)> = after
            .iter()
            .map(|(chain, n)| (chain.clone(), n - before.get(chain).copied().unwrap_or(0)))
            .filter(|(_, d)| *d > 0)
            .collect();
        assert!(
            !grown.is_empty(),
            "`{name}` changed something without an audit event"
        );
        for (chain, d) in &grown {
            assert_eq!(*d, 1, "`{name}` appended {d} events to the {chain} chain");
        }
        self.covered.insert(name.to_owned());
        data
    }
}

fn s(v: &Value, path: &[&str]) -> String {
    let mut cur = v;
    for p in path {
        cur = match p.parse::<usize>() {
            Ok(i) => &cur[i],
            Err(_) => &cur[*p],
        };
    }
    cur.as_str()
        .unwrap_or_else(|| panic!("no string at {path:?} in {v}"))
        .to_owned()
}

async fn every_mutation_appends_one_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut w = Walk {
        app: &app,
        covered: BTreeSet::new(),
        dbs: vec![
            ("control", app.raw_db("control").await),
            ("eu", app.raw_db("eu").await),
            ("us", app.raw_db("us").await),
        ],
    };
    let root = app.root();

    // Tenants, users, roles.
    let created = w
        .call(
            "createTenant",
            &root,
            "mutation($i: CreateTenantInput!) { createTenant(input: $i) { id } }",
            json!({ "i": { "name": "Walk Co", "region": "eu" } }),
        )
        .await;
    let t = s(&created, &["id"]);
    let other = w
        .call(
            "createTenant",
            &root,
            "mutation($i: CreateTenantInput!) { createTenant(input: $i) { id } }",
            json!({ "i": { "name": "Walk Two", "region": "us" } }),
        )
        .await;
    let t2 = s(&other, &["id"]);
    w.call("inviteUser", &root, "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id } }", json!({ "i": { "tenantId": t, "email": "walk-admin@walk.example", "role": "CLIENT_ADMIN", "subject": "walk-admin" } }))
        .await;
    let admin = app.client_token("walk-admin", &t);
    const ROLE: &str = "mutation($i: RoleChangeInput!) { assignRole(input: $i) { role } }";
    const UNROLE: &str = "mutation($i: RoleChangeInput!) { revokeRole(input: $i) { role } }";
    for (subject, role) in [
        ("walk-po", "PRIVACY_OFFICER"),
        ("walk-legal", "LEGAL"),
        ("walk-support", "SUPPORT"),
        ("walk-temp", "AUDITOR"),
    ] {
        w.call(
            "assignRole",
            &root,
            ROLE,
            json!({ "i": { "subject": subject, "role": role } }),
        )
        .await;
    }
    w.call(
        "revokeRole",
        &root,
        UNROLE,
        json!({ "i": { "subject": "walk-temp", "role": "AUDITOR" } }),
    )
    .await;
    let po = app.staff_token("walk-po");
    let legal = app.staff_token("walk-legal");
    let support = app.staff_token("walk-support");
    w.call(
        "suspendTenant",
        &root,
        "mutation($id: ID!) { suspendTenant(id: $id, reason: \"unpaid\") { id } }",
        json!({ "id": t2 }),
    )
    .await;
    w.call(
        "reactivateTenant",
        &root,
        "mutation($id: ID!) { reactivateTenant(id: $id) { id } }",
        json!({ "id": t2 }),
    )
    .await;
    w.call(
        "setNoticePeriod",
        &root,
        "mutation($t: ID!) { setNoticePeriod(tenantId: $t, days: 14) }",
        json!({ "t": t }),
    )
    .await;

    // Subjects and personal data.
    const CREATE: &str = "mutation($i: CreateDataSubjectInput!) { createDataSubject(input: $i) { id personalData { id } } }";
    let subj = w
        .call("createDataSubject", &admin, CREATE, json!({ "i": { "externalId": "w-1", "personalData": [record("user.contact.email", "w1@walk.example"), record("user.name", "Walker One")] } }))
        .await;
    let s1 = s(&subj, &["id"]);
    let rec = s(&subj, &["personalData", "0", "id"]);
    w.call(
        "updateDataSubject",
        &admin,
        "mutation($i: UpdateDataSubjectInput!) { updateDataSubject(input: $i) { id } }",
        json!({ "i": { "id": s1, "externalId": "w-1b" } }),
    )
    .await;
    w.call("addPersonalData", &admin, "mutation($i: AddPersonalDataInput!) { addPersonalData(input: $i) { id } }", json!({ "i": { "subjectId": s1, "category": "user.contact.phone_number", "value": "+49 30 1234567", "purpose": "essential.service", "source": "form" } })).await;
    w.call(
        "updatePersonalData",
        &admin,
        "mutation($i: UpdatePersonalDataInput!) { updatePersonalData(input: $i) { id } }",
        json!({ "i": { "id": rec, "source": "import" } }),
    )
    .await;
    let teen_birth = (Utc::now().date_naive() - Duration::days(15 * 366)).to_string();
    let teen = w
        .call(
            "createDataSubject",
            &admin,
            CREATE,
            json!({ "i": { "externalId": "w-teen", "birthDate": teen_birth } }),
        )
        .await;
    w.call("recordGuardianConsent", &admin, "mutation($i: RecordGuardianConsentInput!) { recordGuardianConsent(input: $i) { id } }", json!({ "i": { "subjectId": s(&teen, &["id"]), "consent": { "guardian": "Pat Parent", "method": "written", "givenAt": "2026-01-01T00:00:00Z" } } })).await;

    // Access grants.
    let grant = |minutes: i32| json!({ "i": { "tenantId": t, "justification": "Customer reports a broken export, ticket attached", "ticket": "SUP-1", "durationMinutes": minutes } });
    const REQUEST: &str =
        "mutation($i: AccessGrantInput!) { requestAccessGrant(input: $i) { id } }";
    let g1 = w
        .call("requestAccessGrant", &support, REQUEST, grant(30))
        .await;
    let g2 = w
        .call("requestAccessGrant", &support, REQUEST, grant(30))
        .await;
    w.call(
        "approveAccessGrant",
        &admin,
        "mutation($id: ID!) { approveAccessGrant(id: $id) { id } }",
        json!({ "id": s(&g1, &["id"]) }),
    )
    .await;
    w.call(
        "denyAccessGrant",
        &admin,
        "mutation($id: ID!) { denyAccessGrant(id: $id, reason: \"not needed\") { id } }",
        json!({ "id": s(&g2, &["id"]) }),
    )
    .await;
    w.call(
        "revokeAccessGrant",
        &admin,
        "mutation($id: ID!) { revokeAccessGrant(id: $id, reason: \"done\") { id } }",
        json!({ "id": s(&g1, &["id"]) }),
    )
    .await;
    w.call(
        "breakGlassAccess",
        &po,
        "mutation($i: AccessGrantInput!) { breakGlassAccess(input: $i) { id } }",
        grant(15),
    )
    .await;

    // Sub-processors, notices, objections, transfers, mechanisms.
    const PROPOSE: &str = "mutation($i: SubProcessorInput!) { proposeSubProcessor(input: $i, reason: \"needed\") { id } }";
    let mailer = s(
        &w.call(
            "proposeSubProcessor",
            &legal,
            PROPOSE,
            json!({ "i": sp("WalkMail", &["DE"], &["user.contact.email", "user.name"], &[]) }),
        )
        .await,
        &["id"],
    );
    let old = s(
        &w.call(
            "proposeSubProcessor",
            &legal,
            PROPOSE,
            json!({ "i": sp("WalkOld", &["US"], &["user.name"], &["eu_scc_2021"]) }),
        )
        .await,
        &["id"],
    );
    w.call("updateSubProcessor", &legal, "mutation($id: ID!, $i: SubProcessorInput!) { updateSubProcessor(id: $id, input: $i, reason: \"website moved\") { id } }", json!({ "id": mailer, "i": sp("WalkMail", &["DE", "FR"], &["user.contact.email", "user.name"], &[]) })).await;
    // Every live tenant is told, each with at least its notice period (30 days by default).
    let effective = (Utc::now().date_naive() + Duration::days(31)).to_string();
    w.call("announceSubProcessor", &legal, "mutation($id: ID!, $d: NaiveDate) { announceSubProcessor(id: $id, effectiveOn: $d, reason: \"rollout\") { tenantsNotified } }", json!({ "id": mailer, "d": effective })).await;
    w.call("announceSubProcessor", &legal, "mutation($id: ID!, $d: NaiveDate) { announceSubProcessor(id: $id, effectiveOn: $d, reason: \"rollout\") { tenantsNotified } }", json!({ "id": old, "d": effective })).await;
    let notices = app.gql(&admin, "{ changeNotices { id } }", json!({})).await;
    let notice = s(notices.ok(), &["changeNotices", "0", "id"]);
    let objection = w
        .call("objectToChange", &admin, "mutation($n: ID!) { objectToChange(noticeId: $n, reason: \"we need to review its DPA\") { id } }", json!({ "n": notice }))
        .await;
    w.call("resolveObjection", &legal, "mutation($id: ID!) { resolveObjection(id: $id, resolution: NOT_USED_FOR_TENANT, note: \"DPA reviewed\") { id } }", json!({ "id": s(&objection, &["id"]) })).await;
    let other = s(notices.ok(), &["changeNotices", "1", "id"]);
    let second = w
        .call(
            "objectToChange",
            &admin,
            "mutation($n: ID!) { objectToChange(noticeId: $n, reason: \"one more look\") { id } }",
            json!({ "n": other }),
        )
        .await;
    w.call(
        "withdrawObjection",
        &admin,
        "mutation($id: ID!) { withdrawObjection(id: $id) { id } }",
        json!({ "id": s(&second, &["id"]) }),
    )
    .await;
    steward::registry::activate_due(
        app.state.tenancy(),
        Utc::now().date_naive() + Duration::days(31),
    )
    .await
    .unwrap();
    w.call("setSubProcessorErasureEndpoint", &legal, "mutation($id: ID!) { setSubProcessorErasureEndpoint(id: $id, endpoint: null) { endpoint } }", json!({ "id": mailer })).await;
    w.call("recordOnwardTransfer", &legal, "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }", json!({ "i": { "tenantId": t, "subProcessorId": mailer, "categories": ["user.contact.email"], "purpose": "essential.service", "subjectIds": [s1] } })).await;
    // A wider change to an entry in use, announced to every tenant, then withdrawn.
    w.call("updateSubProcessor", &legal, "mutation($id: ID!, $i: SubProcessorInput!) { updateSubProcessor(id: $id, input: $i, reason: \"an Irish site\") { id } }", json!({ "id": mailer, "i": sp("WalkMail", &["DE", "FR", "IE"], &["user.contact.email", "user.name"], &[]) })).await;
    w.call("withdrawSubProcessorChange", &legal, "mutation($id: ID!) { withdrawSubProcessorChange(id: $id, reason: \"plan dropped\") { id } }", json!({ "id": mailer })).await;
    w.call(
        "retireSubProcessor",
        &legal,
        "mutation($id: ID!) { retireSubProcessor(id: $id, reason: \"replaced\") { id } }",
        json!({ "id": old }),
    )
    .await;
    w.call("recordMechanismInvalidation", &legal, "mutation { recordMechanismInvalidation(mechanism: \"uk_idta\", invalidFrom: \"2026-06-01\", reason: \"hypothetical ruling\") { mechanism } }", json!({})).await;
    w.call("recordAdequacyChange", &legal, "mutation { recordAdequacyChange(country: \"KR\", withdrawnOn: \"2030-01-01\", reason: \"hypothetical annulment\") { mechanism } }", json!({})).await;

    // Legal disclosures and breaches.
    const DEMAND: &str =
        "mutation($i: LegalDemandInput!) { recordLegalDisclosure(input: $i) { id } }";
    let demand = |order: bool| json!({ "i": { "tenantId": t, "kind": "SUBPOENA", "authority": "District Court", "reference": "DC-1", "receivedOn": Utc::now().date_naive().to_string(), "scope": "one account", "nondisclosureOrder": order } });
    let d1 = w
        .call("recordLegalDisclosure", &legal, DEMAND, demand(false))
        .await;
    let d2 = w
        .call("recordLegalDisclosure", &legal, DEMAND, demand(true))
        .await;
    w.call("decideLegalDisclosure", &legal, "mutation($id: ID!) { decideLegalDisclosure(id: $id, input: { decision: REFUSE, note: \"overbroad\" }) { id } }", json!({ "id": s(&d1, &["id"]) })).await;
    w.call(
        "reviewNondisclosureOrder",
        &legal,
        "mutation($id: ID!) { reviewNondisclosureOrder(id: $id) { id } }",
        json!({ "id": s(&d2, &["id"]) }),
    )
    .await;
    let detected = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let breach = w
        .call("recordBreach", &po, "mutation($i: BreachInput!) { recordBreach(input: $i) { breach { id } } }", json!({ "i": { "detectedAt": detected, "description": "relay misconfigured", "categories": ["user.contact.email"], "region": "eu" } }))
        .await;
    w.call(
        "publishSecurityMeasures",
        &legal,
        "mutation { publishSecurityMeasures(text: \"Encrypted per subject, keys outside the database, restores drilled quarterly.\") { version } }",
        json!({}),
    )
    .await;
    w.call(
        "setChildrenRule",
        &admin,
        "mutation { setChildrenRule(rule: GUARDIAN_FOR_ALL_MINORS) }",
        json!({}),
    )
    .await;
    w.call(
        "setTenantJurisdiction",
        &admin,
        "mutation { setTenantJurisdiction(country: \"AT\", timeZone: \"Europe/Vienna\") { country } }",
        json!({}),
    )
    .await;
    w.call(
        "setControllerDetails",
        &admin,
        "mutation { setControllerDetails(contact: \"privacy@walk.example\", dpo: \"Walk DPO\") { name } }",
        json!({}),
    )
    .await;
    w.call(
        "updateBreach",
        &po,
        "mutation($id: ID!) { updateBreach(id: $id, input: { update: \"relay fixed\", measuresTaken: \"relay closed\" }) { tenantsNotified } }",
        json!({ "id": s(&breach, &["breach", "id"]) }),
    )
    .await;
    w.call(
        "acknowledgeBreachNotice",
        &admin,
        "mutation($id: ID!) { acknowledgeBreachNotice(breachId: $id) { acknowledgedAt } }",
        json!({ "id": s(&breach, &["breach", "id"]) }),
    )
    .await;

    // Retention and legal holds.
    const RULE: &str = "mutation($i: RetentionRuleInput!) { setRetentionRule(input: $i) { id } }";
    let rule = w
        .call(
            "setRetentionRule",
            &admin,
            RULE,
            json!({ "i": { "category": "user.device.ip_address", "periodDays": 90 } }),
        )
        .await;
    w.call(
        "removeRetentionRule",
        &admin,
        "mutation($id: ID!) { removeRetentionRule(id: $id) }",
        json!({ "id": s(&rule, &["id"]) }),
    )
    .await;
    w.call("setRetentionDefault", &po, "mutation { setRetentionDefault(category: \"user.contact.email\", periodDays: 3650) { category } }", json!({})).await;
    w.call(
        "cancelRetentionDefaultChange",
        &po,
        "mutation { cancelRetentionDefaultChange(category: \"user.contact.email\") { category } }",
        json!({}),
    )
    .await;
    let staff_rule = w
        .call(
            "setRetentionRule",
            &po,
            RULE,
            json!({ "i": { "tenantId": t, "category": "user.device.ip_address", "periodDays": 1 } }),
        )
        .await;
    w.call(
        "cancelRetentionRuleChange",
        &admin,
        "mutation($id: ID!) { cancelRetentionRuleChange(id: $id) { id } }",
        json!({ "id": s(&staff_rule, &["id"]) }),
    )
    .await;
    let hold = w.call("placeLegalHold", &legal, "mutation($t: ID!, $s: [ID!]) { placeLegalHold(input: { tenantId: $t, subjectIds: $s, reason: \"litigation\" }) { id } }", json!({ "t": t, "s": [s1] })).await;
    w.call("liftLegalHold", &legal, "mutation($t: ID!, $id: ID!) { liftLegalHold(tenantId: $t, id: $id, reason: \"settled\") { id } }", json!({ "t": t, "id": s(&hold, &["id"]) })).await;

    // Requests from individuals.
    const SUBMIT: &str = "mutation($i: SubmitDataSubjectRequestInput!) { submitDataSubjectRequest(input: $i) { id version } }";
    let submit = |kind: &str| json!({ "i": { "subjectId": s1, "kind": kind } });
    let tr = |name: &str, extra: &str| {
        format!(
            "mutation($t: ID, $id: ID!, $v: Int!) {{ {name}(tenantId: $t, id: $id, version: $v{extra}) {{ id version }} }}"
        )
    };
    let access = w
        .call("submitDataSubjectRequest", &admin, SUBMIT, submit("ACCESS"))
        .await;
    let a = s(&access, &["id"]);
    let v = |n: i64| json!({ "t": t, "id": a, "v": n });
    w.call(
        "startDataSubjectRequest",
        &po,
        &tr("startDataSubjectRequest", ""),
        v(1),
    )
    .await;
    w.call(
        "pauseDataSubjectRequest",
        &po,
        &tr("pauseDataSubjectRequest", ", reason: \"waiting\""),
        v(2),
    )
    .await;
    w.call(
        "resumeDataSubjectRequest",
        &po,
        &tr("resumeDataSubjectRequest", ""),
        v(3),
    )
    .await;
    w.call(
        "extendDataSubjectRequest",
        &po,
        &tr("extendDataSubjectRequest", ", days: 5, reason: \"archive\""),
        v(4),
    )
    .await;
    w.call(
        "completeDataSubjectRequest",
        &po,
        &tr("completeDataSubjectRequest", ""),
        v(5),
    )
    .await;
    let objection = s(
        &w.call(
            "submitDataSubjectRequest",
            &admin,
            SUBMIT,
            json!({ "i": { "subjectId": s1, "kind": "OBJECTION", "objectedPurpose": "marketing.advertising" } }),
        )
        .await,
        &["id"],
    );
    w.call(
        "rejectDataSubjectRequest",
        &po,
        &tr("rejectDataSubjectRequest", ", reason: \"not ours\""),
        json!({ "t": t, "id": objection, "v": 1 }),
    )
    .await;
    let restriction = s(
        &w.call(
            "submitDataSubjectRequest",
            &admin,
            SUBMIT,
            submit("RESTRICTION"),
        )
        .await,
        &["id"],
    );
    w.call(
        "startDataSubjectRequest",
        &po,
        &tr("startDataSubjectRequest", ""),
        json!({ "t": t, "id": restriction, "v": 1 }),
    )
    .await;
    w.call(
        "liftRestriction",
        &admin,
        "mutation($s: ID!) { liftRestriction(subjectId: $s, reason: \"contest resolved\") }",
        json!({ "s": s1 }),
    )
    .await;

    // An erasure whose webhook recipient is unreachable: its delivery dies, is retried, then confirmed by hand.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    w.call("setSubProcessorErasureEndpoint", &legal, "mutation($id: ID!, $e: String) { setSubProcessorErasureEndpoint(id: $id, endpoint: $e) { endpoint } }", json!({ "id": mailer, "e": format!("http://127.0.0.1:{closed}/erase") })).await;
    w.call("rotateSubProcessorErasureSecret", &legal, "mutation($id: ID!) { rotateSubProcessorErasureSecret(id: $id, overlapHours: 1) { previousSecretValidUntil } }", json!({ "id": mailer })).await;
    let erasure = s(
        &w.call(
            "submitDataSubjectRequest",
            &admin,
            SUBMIT,
            submit("ERASURE"),
        )
        .await,
        &["id"],
    );
    w.call(
        "startDataSubjectRequest",
        &po,
        &tr("startDataSubjectRequest", ""),
        json!({ "t": t, "id": erasure, "v": 1 }),
    )
    .await;
    let mut when = Utc::now();
    for _ in 0..10 {
        app.run_jobs_at(when).await;
        when += Duration::hours(2);
    }
    let dead = app
        .gql(&po, "{ jobs(state: DEAD) { id } }", json!({}))
        .await;
    let job = s(dead.ok(), &["jobs", "0", "id"]);
    w.call(
        "retryJob",
        &po,
        "mutation($id: ID!) { retryJob(id: $id) { id } }",
        json!({ "id": job }),
    )
    .await;
    let req = app
        .gql(&po, "query($t: ID, $id: ID!) { dataSubjectRequest(tenantId: $t, id: $id) { version propagations { id } } }", json!({ "t": t, "id": erasure }))
        .await;
    let prop = s(req.ok(), &["dataSubjectRequest", "propagations", "0", "id"]);
    w.call("confirmErasurePropagation", &po, "mutation($t: ID, $id: ID!) { confirmErasurePropagation(tenantId: $t, id: $id, confirmedBy: \"Sam, WalkMail DPO\") { id } }", json!({ "t": t, "id": prop })).await;
    let version = req.ok()["dataSubjectRequest"]["version"].as_i64().unwrap();
    w.call(
        "completeDataSubjectRequest",
        &po,
        &tr("completeDataSubjectRequest", ""),
        json!({ "t": t, "id": erasure, "v": version }),
    )
    .await;

    // Policy versions, changes of control, notices.
    w.call("publishPolicyVersion", &legal, "mutation($d: NaiveDate!) { publishPolicyVersion(input: { document: TERMS, version: \"2\", effectiveOn: $d, material: true, summary: \"clearer\" }) { id } }", json!({ "d": (Utc::now().date_naive() + Duration::days(40)).to_string() })).await;
    w.call("recordBusinessTransfer", &legal, "mutation($d: NaiveDate!) { recordBusinessTransfer(acquirer: \"Buyer Inc\", effectiveOn: $d, changes: \"none for your data\") { id } }", json!({ "d": (Utc::now().date_naive() + Duration::days(40)).to_string() })).await;
    let banner = app
        .gql(&admin, "{ viewer { banner { id } } }", json!({}))
        .await;
    w.call(
        "acknowledgeNotice",
        &admin,
        "mutation($id: ID!) { acknowledgeNotice(id: $id) { acknowledgedAt } }",
        json!({ "id": s(banner.ok(), &["viewer", "banner", "id"]) }),
    )
    .await;

    w.call(
        "setCommunicationPreferences",
        &admin,
        "mutation { setCommunicationPreferences(marketingOptOut: true) { marketingOptOut } }",
        json!({}),
    )
    .await;
    w.call(
        "setNoticeWebhook",
        &admin,
        "mutation { setNoticeWebhook(url: \"https://hooks.example.com/steward\") { url } }",
        json!({}),
    )
    .await;
    w.call(
        "rotateNoticeWebhookSecret",
        &admin,
        "mutation { rotateNoticeWebhookSecret { previousSecretValidUntil } }",
        json!({}),
    )
    .await;
    w.call("sendNotice", &root, "mutation($t: ID!) { sendNotice(input: { tenantIds: [$t], class: MARKETING, title: \"News\", body: \"Hello\" }) }", json!({ "t": t })).await;

    // Contract end for the second tenant.
    w.call("beginOffboarding", &root, "mutation($t: ID!) { beginOffboarding(tenantId: $t, choice: RETURN_THEN_DELETE, graceDays: 10) { status } }", json!({ "t": t2 })).await;
    let second = app.long_standing_platform_admin("walk-pa2").await;
    w.call(
        "authorizeOffboarding",
        &second,
        "mutation($t: ID!) { authorizeOffboarding(tenantId: $t) { status } }",
        json!({ "t": t2 }),
    )
    .await;
    w.call(
        "cancelOffboarding",
        &root,
        "mutation($t: ID!) { cancelOffboarding(tenantId: $t, reason: \"renewed\") { status } }",
        json!({ "t": t2 }),
    )
    .await;

    let missing: Vec<String> = schema_mutations().difference(&w.covered).cloned().collect();
    assert!(
        missing.is_empty(),
        "mutations not shown to append their audit event (add them to this walk): {missing:?}"
    );
    assert!(schema_mutations().len() >= 40);
}

both_backends!(every_mutation_appends_one_event);
