//! The controller's jurisdiction and the transfer rules (issue 19, items 12 and 13): each tenant has a country, a
//! subdivision where holidays differ, and a time zone; calendars ship for every EU/EEA state, the UK, Switzerland
//! and the US through 2035, with a warning a year before they end; mechanisms and adequacy decisions carry their
//! sources, the Swiss and UK frameworks apply to their own exporters, and a change to either is told to the
//! tenants it affects.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};
use steward_tests::{Backend, TestApp, both_backends};

use crate::personal::subject;
use crate::registry::{propose, sp};
use crate::requests::SUBMIT;

const CREATE: &str = "mutation($i: CreateTenantInput!) { createTenant(input: $i) { id country subdivision timeZone } }";
const SET: &str = "mutation($t: ID, $c: String!, $s: String, $z: String) { setTenantJurisdiction(tenantId: $t, country: $c, subdivision: $s, timeZone: $z) { id country subdivision timeZone } }";
const ANNOUNCE: &str = "mutation($id: ID!, $r: String!) { announceSubProcessor(id: $id, reason: $r) { tenantsNotified } }";
const TRANSFER: &str =
    "mutation($i: OnwardTransferInput!) { recordOnwardTransfer(input: $i) { id } }";
const ADEQUACY: &str = "mutation($c: String!, $d: NaiveDate, $w: NaiveDate) { recordAdequacyChange(country: $c, decidedOn: $d, withdrawnOn: $w, reason: \"the court annulled it\") { mechanism subProcessors { name } tenantIds } }";
const INVALIDATE: &str = "mutation($m: String!, $d: NaiveDate!) { recordMechanismInvalidation(mechanism: $m, invalidFrom: $d, reason: \"struck down\") { mechanism subProcessors { name } tenantIds } }";

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

async fn create(app: &TestApp, input: Value) -> steward_tests::Reply {
    app.gql(&app.root(), CREATE, json!({ "i": input })).await
}

async fn titles(app: &TestApp, token: &str) -> Vec<String> {
    app.gql(
        token,
        "{ notices { edges { node { title kind } } } }",
        json!({}),
    )
    .await
    .ok()["notices"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn tenants_count_days_in_their_own_calendar_and_time_zone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Defaults: the region's country and the country's zone.
    let eu = create(&app, json!({ "name": "Plain EU", "region": "eu" })).await;
    assert_eq!(eu.ok()["createTenant"]["country"], "DE");
    assert_eq!(eu.ok()["createTenant"]["timeZone"], "Europe/Berlin");
    let us = create(&app, json!({ "name": "Plain US", "region": "us" })).await;
    assert_eq!(us.ok()["createTenant"]["country"], "US");
    assert_eq!(us.ok()["createTenant"]["timeZone"], "America/New_York");
    // A Bavarian controller: its Land's holidays, subdivision matched without case.
    let by = create(
        &app,
        json!({ "name": "Munich", "region": "eu", "country": "de", "subdivision": "by" }),
    )
    .await;
    let t = &by.ok()["createTenant"];
    assert_eq!(
        (
            t["country"].as_str(),
            t["subdivision"].as_str(),
            t["timeZone"].as_str()
        ),
        (Some("DE"), Some("BY"), Some("Europe/Berlin"))
    );
    let munich = t["id"].as_str().unwrap().to_owned();

    // Bad input is refused with the choices, and creates nothing.
    let before = app.count("control", "tenants", "1 = 1").await;
    for (input, needle) in [
        (
            json!({ "name": "X1", "region": "eu", "country": "XX" }),
            "ISO 3166",
        ),
        (
            json!({ "name": "X2", "region": "eu", "country": "JP" }),
            "no holiday calendar",
        ),
        (
            json!({ "name": "X3", "region": "eu", "country": "DE", "subdivision": "ZH" }),
            "BY",
        ),
        (
            json!({ "name": "X4", "region": "eu", "country": "IE", "subdivision": "D" }),
            "whole country",
        ),
        (
            json!({ "name": "X5", "region": "eu", "timeZone": "Mars/Olympus" }),
            "IANA",
        ),
    ] {
        let reply = create(&app, input).await;
        reply.expect_code("BAD_USER_INPUT");
        assert!(reply.message().contains(needle), "{}", reply.message());
    }
    assert_eq!(app.count("control", "tenants", "1 = 1").await, before);

    // An erasure's deadline counts 30 business days in the tenant's calendar, from its own today; its due moment is
    // the end of that day in its time zone.
    let admin = app.invite(&munich, "m-admin", "CLIENT_ADMIN").await;
    let s = subject(&app, &admin, "m1", "m1@munich.example", "Max M").await;
    let clock = steward::deadlines::Clock::new("DE", Some("BY"), "Europe/Berlin").unwrap();
    let r = app
        .gql(
            &admin,
            SUBMIT,
            json!({ "i": { "subjectId": s, "kind": "ERASURE" } }),
        )
        .await;
    let r = &r.ok()["submitDataSubjectRequest"];
    let expected = clock
        .calendar
        .add_business_days(clock.day(Utc::now()), 30)
        .unwrap();
    assert_eq!(r["dueOn"], expected.to_string(), "{r:#}");
    let due_at: DateTime<Utc> = r["dueAt"].as_str().unwrap().parse().unwrap();
    assert!(
        [
            format!("{expected}T22:59:59+00:00"),
            format!("{expected}T21:59:59+00:00")
        ]
        .contains(&due_at.to_rfc3339()),
        "due at {due_at}, not the end of {expected} in Berlin"
    );

    // The client's admin moves the controller to Zurich; another tenant's admin cannot; bad values change nothing.
    let other = app.create_tenant("Other", "eu").await;
    let other_admin = app.invite(&other, "o-admin", "CLIENT_ADMIN").await;
    app.gql(&other_admin, SET, json!({ "t": munich, "c": "CH" }))
        .await
        .expect_code("NOT_FOUND");
    let support = app.staff_with("sue", "SUPPORT").await;
    app.gql(&support, SET, json!({ "t": munich, "c": "CH" }))
        .await
        .expect_code("FORBIDDEN");
    app.gql(&admin, SET, json!({ "c": "CH", "s": "BY" }))
        .await
        .expect_code("BAD_USER_INPUT");
    let moved = app
        .gql(
            &admin,
            SET,
            json!({ "c": "CH", "s": "ZH", "z": "Europe/Zurich" }),
        )
        .await;
    assert_eq!(moved.ok()["setTenantJurisdiction"]["subdivision"], "ZH");
    let seen = app
        .gql(
            &admin,
            "{ tenant { country subdivision timeZone } }",
            json!({}),
        )
        .await;
    assert_eq!(
        seen.ok()["tenant"],
        json!({ "country": "CH", "subdivision": "ZH", "timeZone": "Europe/Zurich" })
    );
    // New deadlines use the new calendar.
    let s2 = subject(&app, &admin, "m2", "m2@munich.example", "Mia M").await;
    let r = app
        .gql(
            &admin,
            SUBMIT,
            json!({ "i": { "subjectId": s2, "kind": "ERASURE" } }),
        )
        .await;
    let zh = steward::deadlines::Clock::new("CH", Some("ZH"), "Europe/Zurich").unwrap();
    let expected = zh
        .calendar
        .add_business_days(zh.day(Utc::now()), 30)
        .unwrap();
    assert_eq!(
        r.ok()["submitDataSubjectRequest"]["dueOn"],
        expected.to_string()
    );
    // A platform admin may set it too; the client's admins are told either way.
    let root = app.root();
    app.gql(
        &root,
        SET,
        json!({ "t": munich, "c": "CH", "s": "ZH", "z": "Europe/Zurich" }),
    )
    .await
    .ok();
    let told = titles(&app, &admin).await;
    assert_eq!(
        told.iter()
            .filter(|t| *t == "Your jurisdiction was changed")
            .count(),
        2,
        "{told:?}"
    );
    // In the tenant's own audit trail.
    let trail = app
        .gql(
            &admin,
            "{ auditEvents(first: 50) { edges { node { action } } } }",
            json!({}),
        )
        .await;
    assert!(
        trail.body.to_string().contains("tenant.jurisdiction_set"),
        "{:#}",
        trail.body
    );
}

async fn calendars_are_listed_and_warn_a_year_before_they_end(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin_tenant = app.create_tenant("Reader", "eu").await;
    let reader = app.invite(&admin_tenant, "r-admin", "CLIENT_ADMIN").await;
    let list = app.gql(&reader, "{ holidayCalendars { calendars { country defaultTimeZone subdivisions until source } warning } }", json!({})).await;
    let cals = &list.ok()["holidayCalendars"];
    assert!(cals["warning"].is_null());
    let all = cals["calendars"].as_array().unwrap();
    assert_eq!(all.len(), 33, "EU 27 + IS, LI, NO + GB, CH, US");
    for c in all {
        assert!(c["until"].as_str().unwrap() >= "2035-12-31", "{c}");
        assert!(c["source"].as_str().unwrap().contains("holidays"), "{c}");
    }
    let ch = all.iter().find(|c| c["country"] == "CH").unwrap();
    assert!(
        ch["subdivisions"]
            .as_array()
            .unwrap()
            .contains(&json!("ZH"))
    );
    let until: NaiveDate = all[0]["until"].as_str().unwrap().parse().unwrap();

    // The daily sweep, run as the worker would 300 days before the end, files one staff notice, however often it runs.
    let officer = app.staff_with("po", "PRIVACY_OFFICER").await;
    let at = (until - Duration::days(300))
        .and_hms_opt(9, 0, 0)
        .unwrap()
        .and_utc();
    for hours in [0, 30] {
        let when = at + Duration::hours(hours);
        steward::jobs::schedule_sweeps(
            app.state.tenancy(),
            when,
            std::time::Duration::from_secs(86_400),
        )
        .await
        .unwrap();
        app.run_jobs_at(when).await;
    }
    let notices = app
        .gql(
            &officer,
            "{ staffNotices { kind objectId title } }",
            json!({}),
        )
        .await;
    let ending: Vec<&Value> = notices.ok()["staffNotices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "calendar.ending")
        .collect();
    assert_eq!(ending.len(), 1, "{:#}", notices.body);
    assert_eq!(ending[0]["objectId"], until.to_string());
    // Not earlier than a year ahead.
    assert!(
        !steward::requests::handlers::warn_calendars_ending(
            app.state.tenancy(),
            at - Duration::days(70)
        )
        .await
        .unwrap()
    );
}

async fn transfer_rules_carry_their_sources_and_their_changes_reach_the_tenants(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let legal = app.staff_with("lex", "LEGAL").await;
    // Every date has its source, the Swiss and UK frameworks are there with their dates.
    let m = app.gql(&legal, "{ transferMechanisms { key validFrom invalidFrom exporters validFromSource invalidFromSource } adequacyDecisions { country decidedOn source } }", json!({})).await;
    let mechanisms = m.ok()["transferMechanisms"].as_array().unwrap().clone();
    for mech in &mechanisms {
        for (date, source) in [
            ("validFrom", "validFromSource"),
            ("invalidFrom", "invalidFromSource"),
        ] {
            if !mech[date].is_null() {
                assert!(
                    mech[source].as_str().is_some_and(|s| s.len() > 20),
                    "{mech:#}"
                );
            }
        }
    }
    let find = |key: &str| {
        mechanisms
            .iter()
            .find(|m| m["key"] == key)
            .unwrap_or_else(|| panic!("{key}"))
            .clone()
    };
    let sh = find("swiss_us_safe_harbor");
    assert_eq!(
        (sh["validFrom"].as_str(), sh["invalidFrom"].as_str()),
        (Some("2009-02-16"), Some("2015-10-22"))
    );
    assert_eq!(sh["exporters"], json!(["CH"]));
    assert_eq!(find("swiss_us_privacy_shield")["invalidFrom"], "2020-09-08");
    assert_eq!(find("uk_us_data_bridge")["validFrom"], "2023-10-12");
    assert_eq!(find("swiss_us_dpf")["validFrom"], "2024-09-15");
    let adequacy = m.ok()["adequacyDecisions"].as_array().unwrap().clone();
    assert!(
        adequacy
            .iter()
            .all(|a| a["source"].as_str().is_some_and(|s| s.len() > 20))
    );

    // A Swiss and a German controller; a US cloud that signed both frameworks, and a Japanese service (adequacy).
    let zurich = create(
        &app,
        json!({ "name": "Zurich AG", "region": "eu", "country": "CH" }),
    )
    .await;
    let zurich = zurich.ok()["createTenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let berlin = app.create_tenant("Berlin GmbH", "eu").await;
    let za = app.invite(&zurich, "z-admin", "CLIENT_ADMIN").await;
    let ba = app.invite(&berlin, "b-admin", "CLIENT_ADMIN").await;
    let email = "user.contact.email";
    let mut cloud = sp("Cloud", &["US"], &[email], &["swiss_us_dpf", "eu_us_dpf"]);
    cloud["dpfCertified"] = json!(true);
    let cloud = propose(&app, &legal, cloud).await;
    let tokyo = propose(&app, &legal, sp("Tokyo", &["JP"], &[email], &[])).await;
    for id in [&cloud, &tokyo] {
        app.gql(&legal, ANNOUNCE, json!({ "id": id, "r": "rollout" }))
            .await
            .ok();
    }
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    let zs = subject(&app, &za, "z1", "z1@z.example", "Zoe Z").await;
    let bs = subject(&app, &ba, "b1", "b1@b.example", "Ben B").await;
    let transfer = |tenant: String,
                    sp: String,
                    subject: String,
                    mechanism: Option<&'static str>| {
        let app = &app;
        let legal = legal.clone();
        async move {
            let input = json!({ "tenantId": tenant, "subProcessorId": sp, "categories": [email], "purpose": "analytics", "subjectIds": [subject], "mechanism": mechanism });
            let body = app.gql(&legal, TRANSFER, json!({ "i": input })).await.body;
            body["errors"][0]["extensions"]["reason"]
                .as_str()
                .map(str::to_owned)
        }
    };
    // Each framework serves exporters under its own law.
    assert_eq!(
        transfer(
            zurich.clone(),
            cloud.clone(),
            zs.clone(),
            Some("swiss_us_dpf")
        )
        .await,
        None
    );
    assert_eq!(
        transfer(zurich.clone(), cloud.clone(), zs.clone(), Some("eu_us_dpf"))
            .await
            .as_deref(),
        Some("MECHANISM_NOT_APPLICABLE")
    );
    assert_eq!(
        transfer(
            berlin.clone(),
            cloud.clone(),
            bs.clone(),
            Some("swiss_us_dpf")
        )
        .await
        .as_deref(),
        Some("MECHANISM_NOT_APPLICABLE")
    );
    assert_eq!(
        transfer(berlin.clone(), cloud.clone(), bs.clone(), Some("eu_us_dpf")).await,
        None
    );
    assert_eq!(
        transfer(berlin.clone(), tokyo.clone(), bs.clone(), None).await,
        None
    );

    // Only legal records changes, and bad ones change nothing.
    app.gql(
        &ba,
        ADEQUACY,
        json!({ "c": "JP", "w": today().to_string() }),
    )
    .await
    .expect_code("FORBIDDEN");
    for vars in [
        json!({ "c": "DE", "w": today().to_string() }),
        json!({ "c": "XX", "w": today().to_string() }),
        json!({ "c": "IN", "w": today().to_string() }),
        json!({ "c": "JP", "w": "2010-01-01" }),
    ] {
        app.gql(&legal, ADEQUACY, vars)
            .await
            .expect_code("BAD_USER_INPUT");
    }
    assert_eq!(app.count("control", "adequacy_changes", "1 = 1").await, 0);

    // Japan's decision withdrawn from today: both tenants are bound to Tokyo, both are told, and a transfer there now
    // needs a mechanism.
    let hit = app
        .gql(
            &legal,
            ADEQUACY,
            json!({ "c": "jp", "w": today().to_string() }),
        )
        .await;
    let hit = &hit.ok()["recordAdequacyChange"];
    assert_eq!(hit["mechanism"], "JP");
    assert_eq!(hit["subProcessors"], json!([{ "name": "Tokyo" }]));
    assert_eq!(hit["tenantIds"].as_array().unwrap().len(), 2);
    let jp = app
        .gql(
            &ba,
            "{ adequacyDecisions { country withdrawnOn source } }",
            json!({}),
        )
        .await;
    let jp = jp.ok()["adequacyDecisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["country"] == "JP")
        .cloned()
        .unwrap();
    assert_eq!(jp["withdrawnOn"], today().to_string());
    assert!(
        jp["source"]
            .as_str()
            .unwrap()
            .contains("the court annulled it")
    );
    assert_eq!(
        transfer(berlin.clone(), tokyo.clone(), bs.clone(), None)
            .await
            .as_deref(),
        Some("MECHANISM_REQUIRED")
    );
    for token in [&za, &ba] {
        let t = titles(&app, token).await;
        assert!(
            t.iter()
                .any(|t| t == &format!("The adequacy decision for JP ends on {}", today())),
            "{t:?}"
        );
    }

    // The EU-US DPF struck down from today: Cloud relies on it; the German controller's transfers under it stop.
    let hit = app
        .gql(
            &legal,
            INVALIDATE,
            json!({ "m": "eu_us_dpf", "d": today().to_string() }),
        )
        .await;
    assert_eq!(
        hit.ok()["recordMechanismInvalidation"]["subProcessors"],
        json!([{ "name": "Cloud" }])
    );
    // Only the German controller could rely on the EU-US DPF: the Swiss one is not told of it.
    assert_eq!(
        hit.ok()["recordMechanismInvalidation"]["tenantIds"],
        json!([berlin])
    );
    assert_eq!(
        transfer(berlin.clone(), cloud.clone(), bs.clone(), Some("eu_us_dpf"))
            .await
            .as_deref(),
        Some("MECHANISM_INVALID_ON_DATE")
    );
    assert_eq!(
        transfer(
            zurich.clone(),
            cloud.clone(),
            zs.clone(),
            Some("swiss_us_dpf")
        )
        .await,
        None
    );
    let t = titles(&app, &ba).await;
    assert!(
        t.iter()
            .any(|t| t.starts_with("EU-US Data Privacy Framework is invalid from")),
        "{t:?}"
    );

    // A new decision: India adequate from today.
    let india = propose(&app, &legal, sp("Mumbai", &["IN"], &[email], &[])).await;
    app.gql(&legal, ANNOUNCE, json!({ "id": india, "r": "rollout" }))
        .await
        .ok();
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    assert_eq!(
        transfer(berlin.clone(), india.clone(), bs.clone(), None)
            .await
            .as_deref(),
        Some("MECHANISM_REQUIRED")
    );
    let hit = app
        .gql(
            &legal,
            ADEQUACY,
            json!({ "c": "IN", "d": today().to_string() }),
        )
        .await;
    assert_eq!(
        hit.ok()["recordAdequacyChange"]["subProcessors"],
        json!([{ "name": "Mumbai" }])
    );
    assert_eq!(
        transfer(berlin.clone(), india.clone(), bs.clone(), None).await,
        None
    );
    let t = titles(&app, &ba).await;
    assert!(
        t.iter()
            .any(|t| t == &format!("IN has an adequacy decision from {}", today())),
        "{t:?}"
    );

    // A change that names neither date is refused; one that leaves `withdrawnOn` out keeps a recorded withdrawal.
    // (No `withdrawnOn` in the document: a variable given as null is a value, `null`.)
    const DATED: &str = "mutation($c: String!, $d: NaiveDate) { recordAdequacyChange(country: $c, decidedOn: $d, reason: \"corrected date\") { mechanism } }";
    app.gql(&legal, DATED, json!({ "c": "JP" }))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&legal, DATED, json!({ "c": "JP", "d": "2019-01-23" }))
        .await
        .ok();
    let jp = app
        .gql(
            &ba,
            "{ adequacyDecisions { country withdrawnOn } }",
            json!({}),
        )
        .await;
    let jp = jp.ok()["adequacyDecisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["country"] == "JP")
        .cloned()
        .unwrap();
    assert_eq!(jp["withdrawnOn"], today().to_string());

    // The record of processing lists only the safeguards the tenant can rely on: the Swiss controller's shows the
    // Swiss-US DPF for Cloud, not the EU-US DPF (another law's, and invalidated).
    let record = app
        .gql(
            &za,
            "{ recordOfProcessing { subProcessors { name safeguards } } }",
            json!({}),
        )
        .await;
    let cloud_use = record.ok()["recordOfProcessing"]["subProcessors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "Cloud")
        .cloned()
        .unwrap();
    assert_eq!(
        cloud_use["safeguards"],
        json!(["swiss_us_dpf"]),
        "{cloud_use:#}"
    );

    // Data kept in the controller's own country is not a transfer: a UK controller's UK host needs no mechanism.
    let london = create(
        &app,
        json!({ "name": "London Ltd", "region": "eu", "country": "GB" }),
    )
    .await;
    let london = london.ok()["createTenant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let la = app.invite(&london, "l-admin", "CLIENT_ADMIN").await;
    let host = propose(&app, &legal, sp("UKHost", &["GB"], &[email], &[])).await;
    app.gql(&legal, ANNOUNCE, json!({ "id": host, "r": "rollout" }))
        .await
        .ok();
    steward::registry::activate_due(app.state.tenancy(), today() + Duration::days(31))
        .await
        .unwrap();
    app.gql(
        &legal,
        ADEQUACY,
        json!({ "c": "GB", "w": today().to_string() }),
    )
    .await
    .ok();
    let ls = subject(&app, &la, "l1", "l1@l.example", "Lee L").await;
    assert_eq!(
        transfer(london.clone(), host.clone(), ls.clone(), None).await,
        None
    );
    assert_eq!(
        transfer(berlin.clone(), host.clone(), bs.clone(), None)
            .await
            .as_deref(),
        Some("MECHANISM_REQUIRED")
    );
}

both_backends!(
    tenants_count_days_in_their_own_calendar_and_time_zone,
    calendars_are_listed_and_warn_a_year_before_they_end,
    transfer_rules_carry_their_sources_and_their_changes_reach_the_tenants,
);
