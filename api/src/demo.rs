//! `serve --demo`: two tenants in two regions, a user for every role, and a ready token for each, so a newcomer
//! reaches an authorized query with nothing to install. Everything is created through the same services (and so the
//! same checks and audit events) as real requests, acting as the demo platform admin. Running it again reuses what
//! exists.

use std::time::Duration;

use steward_policy::{ActorKind, Role};

use crate::auth::{Principal, TokenMinter};
use crate::config::Config;
use crate::error::AppError;
use crate::http::AppState;
use crate::ids::{SubProcessorId, TenantId};
use crate::pagination::Page;
use crate::subjects::{self, NewPersonalData};
use crate::tenancy::TenantRecord;
use crate::users::{self, Invitation, RoleChange};
use crate::{taxonomy, tenants};

pub const DEMO_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);
const DEMO_ADMIN: &str = "demo-platform-admin";

/// A printed token and what it is for.
#[derive(Clone, Debug)]
pub struct DemoToken {
    pub role: Role,
    pub subject: String,
    pub tenant: Option<String>,
    pub token: String,
}

struct DemoTenant {
    name: &'static str,
    users: &'static [(&'static str, Role)],
    /// external id, email, name
    subjects: &'static [(&'static str, &'static str, &'static str)],
}

const TENANTS: [DemoTenant; 2] = [
    DemoTenant {
        name: "Acme Health",
        users: &[
            ("acme-admin", Role::ClientAdmin),
            ("acme-viewer", Role::ClientViewer),
        ],
        subjects: &[
            ("patient-001", "ada.lovelace@example.com", "Ada Lovelace"),
            ("patient-002", "grace.hopper@example.com", "Grace Hopper"),
            ("patient-003", "alan.turing@example.com", "Alan Turing"),
        ],
    },
    DemoTenant {
        name: "Globex Retail",
        users: &[("globex-admin", Role::ClientAdmin)],
        subjects: &[
            (
                "cust-1001",
                "katherine.johnson@example.com",
                "Katherine Johnson",
            ),
            (
                "cust-1002",
                "edsger.dijkstra@example.com",
                "Edsger Dijkstra",
            ),
        ],
    },
];

const STAFF: [(&str, Role); 4] = [
    ("demo-support", Role::Support),
    ("demo-privacy-officer", Role::PrivacyOfficer),
    ("demo-legal", Role::Legal),
    ("demo-auditor", Role::Auditor),
];

/// Creates (or finds) the demo data and mints a token for every demo user.
pub async fn prepare(state: &AppState, config: &Config) -> anyhow::Result<Vec<DemoToken>> {
    let minter = TokenMinter::new(&config.jwt)?.ok_or_else(|| {
        anyhow::anyhow!("--demo mints HS256 tokens; it cannot run with STEWARD_JWT_PUBLIC_KEY_FILE")
    })?;
    let tenancy = state.tenancy();
    let fail = |what: &str, e: AppError| anyhow::anyhow!("demo set-up, {what}: {e}");
    users::bootstrap_platform_admin(tenancy, DEMO_ADMIN)
        .await
        .map_err(|e| fail("platform admin", e))?;
    let admin = Principal {
        subject: DEMO_ADMIN.into(),
        kind: ActorKind::Staff,
        tenant_id: None,
    };
    let mint =
        |subject: &str, role: Role, tenant: Option<&TenantRecord>| -> anyhow::Result<DemoToken> {
            let kind = role.holder_kind();
            Ok(DemoToken {
                role,
                subject: subject.to_owned(),
                tenant: tenant.map(|t| format!("{}, {}", t.name, t.region)),
                token: minter.mint(subject, kind, tenant.map(|t| t.id), DEMO_TOKEN_TTL)?,
            })
        };

    let mut tokens = vec![mint(DEMO_ADMIN, Role::PlatformAdmin, None)?];
    for (subject, role) in STAFF {
        let change = RoleChange {
            subject: subject.into(),
            role,
            tenant_id: None,
        };
        users::assign_role(tenancy, &admin, change)
            .await
            .map_err(|e| fail(subject, e))?;
        tokens.push(mint(subject, role, None)?);
    }

    // Announced before the demo tenants exist: each tenant created after accepts the list in force and is told of the
    // entries still in their objection window (`subProcessorList` shows them `NOTIFIED`, with their change notices).
    seed_subprocessors(tenancy)
        .await
        .map_err(|e| fail("sub-processors", e))?;
    let regions: Vec<String> = tenancy.region_names().map(str::to_owned).collect();
    for (i, demo) in TENANTS.iter().enumerate() {
        let tenant = match tenants::find_by_name(tenancy, demo.name)
            .await
            .map_err(|e| fail(demo.name, e))?
        {
            Some(t) => t,
            None => {
                let region = &regions[i % regions.len()];
                tenants::create(tenancy, &admin, demo.name, region, Default::default())
                    .await
                    .map_err(|e| fail(demo.name, e))?
            }
        };
        // Staff set up only the tenant's first admin; that admin invites the rest (as a client would).
        let mut inviter = admin.clone();
        for &(subject, role) in demo.users {
            invite_once(state, &inviter, tenant.id, subject, role)
                .await
                .map_err(|e| fail(subject, e))?;
            if role == Role::ClientAdmin && inviter.kind == ActorKind::Staff {
                inviter = Principal {
                    subject: subject.to_owned(),
                    kind: ActorKind::Client,
                    tenant_id: Some(tenant.id),
                };
            }
            tokens.push(mint(subject, role, Some(&tenant))?);
        }
        // A demo tenant the newcomer has since offboarded (or suspended) keeps what it has: nothing new is collected.
        if tenant.status == crate::tenancy::TenantStatus::Active {
            seed_subjects(state, demo, tenant.id)
                .await
                .map_err(|e| fail("subjects", e))?;
        }
    }
    Ok(tokens)
}

/// Two sub-processors set up by the demo legal user (once), before any tenant exists: Hetzner in effect from today
/// (tenants accept it at onboarding, and legal can try a change to an entry in use), Postmark announced with the
/// usual notice (the clients' change notices and objections have something to show).
async fn seed_subprocessors(tenancy: &crate::tenancy::Tenancy) -> Result<(), AppError> {
    let legal = Principal {
        subject: "demo-legal".into(),
        kind: ActorKind::Staff,
        tenant_id: None,
    };
    if !crate::registry::list(tenancy, false).await?.is_empty() {
        return Ok(());
    }
    let entries = [
        (
            "Hetzner Online",
            "Hetzner Online GmbH",
            "https://www.hetzner.com",
            "Hosting of the EU region's servers and backups",
            vec!["DE"],
            vec!["user.contact.email", "user.name"],
            vec![],
        ),
        (
            "Postmark",
            "ActiveCampaign, LLC",
            "https://postmarkapp.com",
            "Delivery of notice emails",
            vec!["US"],
            vec!["user.contact.email"],
            vec!["eu_scc_2021"],
        ),
    ];
    let today = chrono::Utc::now().date_naive();
    for (i, (name, entity, website, purpose, countries, categories, mechanisms)) in
        entries.into_iter().enumerate()
    {
        let input = crate::registry::SubProcessorInput {
            name: name.into(),
            legal_entity: entity.into(),
            website: website.into(),
            purpose: purpose.into(),
            countries: countries.into_iter().map(str::to_owned).collect(),
            categories: categories.into_iter().map(str::to_owned).collect(),
            mechanisms: mechanisms.into_iter().map(str::to_owned).collect(),
            dpf_certified: false,
            dpa_signed_on: chrono::NaiveDate::from_ymd_opt(2026, 1, 15),
            replaces: None,
        };
        let proposed = crate::registry::propose(tenancy, &legal, input, "demo data set").await?;
        // No tenant exists yet, so no notice period stands in the way of the first taking effect today.
        crate::registry::announce(
            tenancy,
            &legal,
            SubProcessorId(proposed.id),
            (i == 0).then_some(today),
            "demo data set",
        )
        .await?;
    }
    crate::registry::activate_due(tenancy, today).await?;
    Ok(())
}

/// Creates the tenant's demo subjects (as its client admin) unless it has subjects already.
async fn seed_subjects(
    state: &AppState,
    demo: &DemoTenant,
    tenant: TenantId,
) -> Result<(), AppError> {
    let Some(&(admin, _)) = demo
        .users
        .iter()
        .find(|(_, role)| *role == Role::ClientAdmin)
    else {
        return Ok(());
    };
    let client = Principal {
        subject: admin.to_owned(),
        kind: ActorKind::Client,
        tenant_id: Some(tenant),
    };
    let scope = state
        .tenancy()
        .scope(&client, None, steward_policy::Permission::SubjectWrite)
        .await?;
    let existing =
        subjects::list(&scope, Page::new(Some(1), None)?, &Default::default(), true).await?;
    if existing.total > 0 {
        return Ok(());
    }
    for &(external_id, email, name) in demo.subjects {
        let record = |category: &str, value: &str| NewPersonalData {
            category: category.to_owned(),
            value: value.to_owned(),
            purpose: "essential.service".to_owned(),
            source: "demo data".to_owned(),
            collected_at: None,
        };
        subjects::create(
            &scope,
            external_id,
            None,
            vec![record(taxonomy::EMAIL, email), record(taxonomy::NAME, name)],
            None,
        )
        .await?;
    }
    // The controller's details for its record of processing (Art. 30(2)), as its admin would give them.
    let domain = demo.name.to_lowercase().replace(' ', "-");
    let settings = state
        .tenancy()
        .scope(&client, None, steward_policy::Permission::TenantSettings)
        .await?;
    crate::accountability::records::set_controller_details(
        state.tenancy(),
        &settings,
        crate::accountability::records::ControllerDetails {
            contact: Some(format!("privacy@{domain}.example")),
            dpo: Some(format!("Data Protection Officer, dpo@{domain}.example")),
            representative: None,
        },
    )
    .await?;
    // An access request the controller received twelve days ago: its own month ends before our 30 days, and the
    // request says so (`deadlineWarning`).
    if let Some(&(external_id, _, _)) = demo.subjects.first() {
        let first =
            subjects::list(&scope, Page::new(Some(1), None)?, &Default::default(), true).await?;
        if let Some(subject) = first.rows.first() {
            let submit = state
                .tenancy()
                .scope(&client, None, steward_policy::Permission::RequestSubmit)
                .await?;
            crate::requests::submit(
                &submit,
                crate::requests::Submission {
                    subject_id: crate::ids::SubjectId(subject.id),
                    kind: crate::requests::RequestKind::Access,
                    idempotency_key: Some(format!("demo-access-{external_id}")),
                    note: None,
                    rectifications: Vec::new(),
                    controller_received_on: Some(
                        chrono::Utc::now().date_naive() - chrono::Duration::days(12),
                    ),
                    objected_purpose: None,
                },
            )
            .await?;
        }
    }
    Ok(())
}

async fn invite_once(
    state: &AppState,
    admin: &Principal,
    tenant: TenantId,
    subject: &str,
    role: Role,
) -> Result<(), AppError> {
    let tenancy = state.tenancy();
    let scope = tenancy
        .scope(admin, Some(tenant), steward_policy::Permission::UserInvite)
        .await?;
    let invitation = Invitation {
        email: format!("{subject}@example.com"),
        subject: Some(subject.to_owned()),
        display_name: None,
        role,
    };
    match users::invite(tenancy, &scope, invitation).await {
        // Seeded before: the user exists, or (for staff) the tenant already has its admin.
        Ok(_)
        | Err(AppError::Conflict(_))
        | Err(AppError::Refused {
            reason: crate::error::RefusalReason::TenantHasAdmin,
            ..
        }) => Ok(()),
        Err(e) => Err(e),
    }
}
