//! How long one authorization check takes with 10,000 tenants' role assignments loaded (two client users per tenant
//! and a few staff), through Casbin itself and through the decision cache in front of it.
//!
//! `cargo bench -p steward-policy` (figures in bench/README.md).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use steward_policy::{Actor, ActorKind, Assignment, Authorizer, Domain, Permission, Role};
use uuid::Uuid;

const TENANTS: usize = 10_000;

fn tenants() -> Vec<Uuid> {
    (0..TENANTS)
        .map(|n| Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_0000 + n as u128))
        .collect()
}

fn authorizer(rt: &tokio::runtime::Runtime, tenants: &[Uuid]) -> Authorizer {
    let mut assignments = Vec::new();
    for (n, tenant) in tenants.iter().enumerate() {
        let domain = Domain::Tenant(*tenant);
        let admin = Actor::new(ActorKind::Client, format!("admin-{n}"));
        let viewer = Actor::new(ActorKind::Client, format!("viewer-{n}"));
        assignments.push(Assignment::new(admin, Role::ClientAdmin, domain).unwrap());
        assignments.push(Assignment::new(viewer, Role::ClientViewer, domain).unwrap());
    }
    for role in [
        Role::Support,
        Role::PrivacyOfficer,
        Role::Legal,
        Role::Auditor,
    ] {
        let staff = Actor::new(ActorKind::Staff, format!("staff-{role:?}"));
        assignments.push(Assignment::new(staff, role, Domain::Platform).unwrap());
    }
    rt.block_on(Authorizer::new(assignments)).unwrap()
}

fn enforce(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let tenants = tenants();
    let authz = authorizer(&rt, &tenants);
    let last = TENANTS - 1;
    let admin = Actor::new(ActorKind::Client, format!("admin-{last}"));
    let own = Domain::Tenant(tenants[last]);
    let other = Domain::Tenant(tenants[0]);
    assert!(rt.block_on(authz.is_allowed_uncached(&admin, own, Permission::PiiRead)));
    assert!(!rt.block_on(authz.is_allowed_uncached(&admin, other, Permission::PiiRead)));

    let mut group = c.benchmark_group("10k tenants");
    group.bench_function("casbin: allowed (client admin, own tenant)", |b| {
        b.iter(|| {
            rt.block_on(authz.is_allowed_uncached(black_box(&admin), own, Permission::PiiRead))
        })
    });
    group.bench_function("casbin: denied (client admin, another tenant)", |b| {
        b.iter(|| {
            rt.block_on(authz.is_allowed_uncached(black_box(&admin), other, Permission::PiiRead))
        })
    });
    let support = Actor::new(ActorKind::Staff, "staff-Support");
    group.bench_function("casbin: staff role in a tenant", |b| {
        b.iter(|| {
            rt.block_on(authz.is_allowed_uncached(
                black_box(&support),
                own,
                Permission::SubjectRead,
            ))
        })
    });
    group.bench_function("cached: allowed (client admin, own tenant)", |b| {
        b.iter(|| rt.block_on(authz.is_allowed(black_box(&admin), own, Permission::PiiRead)))
    });
    group.finish();
}

criterion_group!(benches, enforce);
criterion_main!(benches);
