//! The whole role × permission matrix, written out as data and checked cell by cell, in the role's own domain, in
//! another tenant's domain, and for someone holding no role at all.

use steward_policy::{Actor, ActorKind, Assignment, Authorizer, Domain, Permission, Role};
use uuid::Uuid;

/// Columns: client_admin, client_viewer, platform_admin, support, privacy_officer, legal, auditor.
/// `Y` = allowed by role, `.` = denied. Personal data (`pii`) is never a staff role's: staff reach it through grants.
const MATRIX: &str = "
permission           CA CV PA SU PO LE AU
TenantRead           Y  Y  Y  Y  Y  Y  Y
TenantCreate         .  .  Y  .  .  .  .
TenantLifecycle      .  .  Y  .  .  .  .
UserRead             Y  Y  Y  Y  .  .  .
UserInvite           Y  .  Y  .  .  .  .
SubjectRead          Y  Y  .  Y  Y  .  .
SubjectWrite         Y  .  .  .  .  .  .
ClientRoleAssign     Y  .  Y  .  .  .  .
StaffRoleAssign      .  .  Y  .  .  .  .
PiiRead              Y  Y  .  .  .  .  .
PiiWrite             Y  .  .  .  .  .  .
RequestRead          Y  Y  .  Y  Y  .  .
RequestSubmit        Y  .  .  .  .  .  .
RequestHandle        .  .  .  .  Y  .  .
RetentionManage      Y  .  .  .  Y  .  .
SubprocessorRead     Y  Y  Y  Y  Y  Y  Y
SubprocessorManage   .  .  .  .  .  Y  .
SubprocessorObject   Y  .  .  .  .  .  .
TransferManage       .  .  .  .  .  Y  .
TransferRead         Y  Y  .  .  Y  Y  Y
DisclosureRead       .  .  .  .  Y  Y  .
DisclosureManage     .  .  .  .  .  Y  .
BreachManage         .  .  .  .  Y  .  .
BreachAcknowledge    Y  .  .  .  .  .  .
AuditRead            Y  .  .  .  Y  .  Y
AuditVerify          .  .  .  .  .  .  Y
AccessGrantRequest   .  .  .  Y  Y  .  .
AccessGrantApprove   Y  .  .  .  .  .  .
AccessGrantRevoke    Y  .  Y  .  .  .  .
AccessGrantBreakGlass .  .  .  .  Y  .  .
AccessGrantRead      Y  .  Y  .  Y  .  Y
AccessLogRead        Y  .  .  .  Y  .  Y
LegalHoldManage      .  .  .  .  .  Y  .
PolicyPublish        .  .  .  .  .  Y  .
TenantSettings       Y  .  Y  .  .  .  .
NoticeSend           .  .  Y  .  .  .  .
";

fn permission_named(name: &str) -> Permission {
    Permission::ALL
        .into_iter()
        .find(|p| format!("{p:?}") == name)
        .unwrap_or_else(|| panic!("matrix names unknown permission {name}"))
}

fn parse_matrix() -> Vec<(Permission, Vec<bool>)> {
    let mut lines = MATRIX.trim().lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().skip(1).collect();
    assert_eq!(header, ["CA", "CV", "PA", "SU", "PO", "LE", "AU"]);
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            let allowed = cells[1..]
                .iter()
                .map(|c| match *c {
                    "Y" => true,
                    "." => false,
                    other => panic!("bad cell {other}"),
                })
                .collect::<Vec<_>>();
            assert_eq!(allowed.len(), Role::ALL.len(), "row {line}");
            (permission_named(cells[0]), allowed)
        })
        .collect()
}

fn holder(role: Role) -> Actor {
    Actor::new(role.holder_kind(), format!("holder-of-{role}"))
}

fn home_domain(role: Role, tenant: Uuid) -> Domain {
    match role.holder_kind() {
        ActorKind::Client => Domain::Tenant(tenant),
        ActorKind::Staff => Domain::Platform,
    }
}

#[tokio::test]
async fn every_cell_of_the_matrix_holds() {
    let tenant_a = Uuid::now_v7();
    let tenant_b = Uuid::now_v7();
    let assignments = Role::ALL
        .into_iter()
        .map(|role| Assignment::new(holder(role), role, home_domain(role, tenant_a)).unwrap());
    let authz = Authorizer::new(assignments).await.unwrap();
    let matrix = parse_matrix();

    // Every permission has a row, so a new permission cannot be added without deciding who holds it.
    for permission in Permission::ALL {
        assert!(
            matrix.iter().any(|(p, _)| *p == permission),
            "{permission:?} has no row in the matrix"
        );
    }

    let nobody = Actor::new(ActorKind::Staff, "no-roles");
    let outsider = Actor::new(ActorKind::Client, "client-of-nobody");
    let mut checked = 0;
    for (permission, row) in &matrix {
        for (role, expected) in Role::ALL.into_iter().zip(row) {
            let actor = holder(role);
            // In tenant A, where client roles were granted and staff roles apply.
            let got = authz
                .is_allowed(&actor, Domain::Tenant(tenant_a), *permission)
                .await;
            assert_eq!(got, *expected, "{role} / {permission:?} in tenant A");
            // In tenant B, client roles of A grant nothing; staff roles apply everywhere.
            let got_b = authz
                .is_allowed(&actor, Domain::Tenant(tenant_b), *permission)
                .await;
            let expected_b = *expected && role.holder_kind() == ActorKind::Staff;
            assert_eq!(got_b, expected_b, "{role} / {permission:?} in tenant B");
            // In the platform domain only staff roles count.
            let got_p = authz
                .is_allowed(&actor, Domain::Platform, *permission)
                .await;
            assert_eq!(
                got_p, expected_b,
                "{role} / {permission:?} in the platform domain"
            );
            checked += 3;
        }
        assert!(
            !authz
                .is_allowed(&nobody, Domain::Tenant(tenant_a), *permission)
                .await
        );
        assert!(
            !authz
                .is_allowed(&outsider, Domain::Tenant(tenant_a), *permission)
                .await
        );
    }
    assert_eq!(checked, Permission::ALL.len() * Role::ALL.len() * 3);
}

#[tokio::test]
async fn tenant_domains_never_match_by_prefix() {
    // Two tenant ids sharing a long prefix: a pattern match on domains would confuse them.
    let a = Uuid::parse_str("01900000-0000-7000-8000-000000000001").unwrap();
    let b = Uuid::parse_str("01900000-0000-7000-8000-000000000010").unwrap();
    let actor = Actor::new(ActorKind::Client, "alice");
    let authz =
        Authorizer::new([
            Assignment::new(actor.clone(), Role::ClientAdmin, Domain::Tenant(a)).unwrap(),
        ])
        .await
        .unwrap();
    assert!(
        authz
            .is_allowed(&actor, Domain::Tenant(a), Permission::PiiRead)
            .await
    );
    assert!(
        !authz
            .is_allowed(&actor, Domain::Tenant(b), Permission::PiiRead)
            .await
    );
}

#[tokio::test]
async fn same_subject_of_another_kind_shares_nothing() {
    let tenant = Uuid::now_v7();
    let staff = Actor::new(ActorKind::Staff, "sam");
    let client = Actor::new(ActorKind::Client, "sam");
    let authz =
        Authorizer::new([
            Assignment::new(staff.clone(), Role::PlatformAdmin, Domain::Platform).unwrap(),
        ])
        .await
        .unwrap();
    assert!(
        authz
            .is_allowed(&staff, Domain::Tenant(tenant), Permission::TenantLifecycle)
            .await
    );
    assert!(
        !authz
            .is_allowed(&client, Domain::Tenant(tenant), Permission::TenantLifecycle)
            .await
    );
}

#[tokio::test]
async fn revocation_takes_effect_on_the_next_check() {
    let tenant = Uuid::now_v7();
    let actor = Actor::new(ActorKind::Client, "carol");
    let grant = Assignment::new(actor.clone(), Role::ClientViewer, Domain::Tenant(tenant)).unwrap();
    let authz = Authorizer::new([]).await.unwrap();
    assert!(authz.assign(&grant).await.unwrap());
    assert!(
        !authz.assign(&grant).await.unwrap(),
        "assigning twice reports no change"
    );
    assert!(
        authz
            .is_allowed(&actor, Domain::Tenant(tenant), Permission::PiiRead)
            .await
    );
    assert_eq!(
        authz.roles_in(&actor, Domain::Tenant(tenant)).await,
        vec![Role::ClientViewer]
    );
    assert_eq!(
        authz
            .holders(Role::ClientViewer, Domain::Tenant(tenant))
            .await,
        vec!["carol".to_owned()]
    );
    assert!(authz.revoke(&grant).await.unwrap());
    assert!(
        !authz
            .is_allowed(&actor, Domain::Tenant(tenant), Permission::PiiRead)
            .await
    );
    assert!(
        authz
            .roles_in(&actor, Domain::Tenant(tenant))
            .await
            .is_empty()
    );
}

#[test]
fn roles_only_fit_their_own_kind_of_domain() {
    let tenant = Domain::Tenant(Uuid::now_v7());
    let client = Actor::new(ActorKind::Client, "c");
    let staff = Actor::new(ActorKind::Staff, "s");
    assert!(Assignment::new(client.clone(), Role::ClientAdmin, tenant).is_ok());
    assert!(Assignment::new(client.clone(), Role::ClientAdmin, Domain::Platform).is_err());
    assert!(Assignment::new(client, Role::PlatformAdmin, Domain::Platform).is_err());
    assert!(Assignment::new(staff.clone(), Role::Support, Domain::Platform).is_ok());
    assert!(Assignment::new(staff.clone(), Role::Support, tenant).is_err());
    assert!(Assignment::new(staff, Role::ClientAdmin, tenant).is_err());
}

#[test]
fn role_names_round_trip() {
    for role in Role::ALL {
        assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
    }
    assert!("root".parse::<Role>().is_err());
}
