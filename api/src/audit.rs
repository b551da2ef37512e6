//! Hash-chained, append-only audit logs: one per tenant (in its region database) and one for the platform (control
//! database).
//!
//! Each event is appended inside the transaction of the change it records, so neither exists without the other.
//! `hash = SHA-256(canonical encoding)`, where the canonical encoding is the compact JSON array
//! `[seq, id, occurred_at, actor_kind, actor_subject, action, object_type, object_id, detail, prev_hash]` with
//! `occurred_at` in RFC 3339 UTC with microseconds and `detail` the stored JSON text (keys sorted). The first event's
//! `prev_hash` is 64 zeros. Events never hold personal values: people are named by id.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use steward_entities::{audit_event, platform_audit_event};
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::lock_for_transaction;
use crate::ids::TenantId;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Advisory-lock key of the platform chain; tenant chains use their id's leading bits.
const PLATFORM_CHAIN_LOCK: i64 = 0x5354_4557_4152_4431;

/// One thing that happened, before it is placed in a chain.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    pub actor_kind: String,
    pub actor_subject: String,
    pub action: &'static str,
    pub object_type: &'static str,
    pub object_id: String,
    pub detail: serde_json::Value,
}

impl AuditEntry {
    pub fn by(
        principal: &Principal,
        action: &'static str,
        object_type: &'static str,
        object_id: impl ToString,
    ) -> Self {
        AuditEntry {
            actor_kind: principal.kind.as_str().to_owned(),
            actor_subject: principal.subject.clone(),
            action,
            object_type,
            object_id: object_id.to_string(),
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn system(
        action: &'static str,
        object_type: &'static str,
        object_id: impl ToString,
    ) -> Self {
        AuditEntry {
            actor_kind: "system".to_owned(),
            actor_subject: "steward".to_owned(),
            action,
            object_type,
            object_id: object_id.to_string(),
            detail: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// The fields that are hashed, in their canonical order.
struct Canonical<'a> {
    seq: i64,
    id: Uuid,
    occurred_at: DateTime<Utc>,
    actor_kind: &'a str,
    actor_subject: &'a str,
    action: &'a str,
    object_type: &'a str,
    object_id: &'a str,
    detail: &'a str,
    prev_hash: &'a str,
}

impl Canonical<'_> {
    fn of_entry<'a>(
        seq: i64,
        id: Uuid,
        occurred_at: DateTime<Utc>,
        entry: &'a AuditEntry,
        detail: &'a str,
        prev_hash: &'a str,
    ) -> Canonical<'a> {
        Canonical {
            seq,
            id,
            occurred_at,
            actor_kind: &entry.actor_kind,
            actor_subject: &entry.actor_subject,
            action: entry.action,
            object_type: entry.object_type,
            object_id: &entry.object_id,
            detail,
            prev_hash,
        }
    }

    fn hash(&self) -> String {
        let encoded = serde_json::json!([
            self.seq,
            self.id.hyphenated().to_string(),
            self.occurred_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            self.actor_kind,
            self.actor_subject,
            self.action,
            self.object_type,
            self.object_id,
            self.detail,
            self.prev_hash,
        ]);
        hex::encode(Sha256::digest(encoded.to_string().as_bytes()))
    }
}

/// Appends to a tenant's chain, inside `txn` (which must be on the tenant's region database).
pub async fn append_tenant<C: ConnectionTrait>(
    txn: &C,
    tenant: TenantId,
    entry: AuditEntry,
) -> Result<(), DbErr> {
    lock_for_transaction(txn, tenant_lock_key(tenant)).await?;
    let head = audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(tenant.0))
        .order_by_desc(audit_event::Column::Seq)
        .select_only()
        .column(audit_event::Column::Seq)
        .column(audit_event::Column::Hash)
        .into_tuple::<(i64, String)>()
        .one(txn)
        .await?;
    let (seq, prev_hash) = next_link(head);
    let (id, occurred_at, detail) = (Uuid::now_v7(), now(), entry.detail.to_string());
    let hash = Canonical::of_entry(seq, id, occurred_at, &entry, &detail, &prev_hash).hash();
    audit_event::ActiveModel {
        tenant_id: Set(tenant.0),
        seq: Set(seq),
        id: Set(id),
        occurred_at: Set(occurred_at),
        actor_kind: Set(entry.actor_kind),
        actor_subject: Set(entry.actor_subject),
        action: Set(entry.action.to_owned()),
        object_type: Set(entry.object_type.to_owned()),
        object_id: Set(entry.object_id),
        detail: Set(detail),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Appends to the platform chain, inside `txn` (which must be on the control database).
pub async fn append_platform<C: ConnectionTrait>(txn: &C, entry: AuditEntry) -> Result<(), DbErr> {
    lock_for_transaction(txn, PLATFORM_CHAIN_LOCK).await?;
    let head = platform_audit_event::Entity::find()
        .order_by_desc(platform_audit_event::Column::Seq)
        .select_only()
        .column(platform_audit_event::Column::Seq)
        .column(platform_audit_event::Column::Hash)
        .into_tuple::<(i64, String)>()
        .one(txn)
        .await?;
    let (seq, prev_hash) = next_link(head);
    let (id, occurred_at, detail) = (Uuid::now_v7(), now(), entry.detail.to_string());
    let hash = Canonical::of_entry(seq, id, occurred_at, &entry, &detail, &prev_hash).hash();
    platform_audit_event::ActiveModel {
        seq: Set(seq),
        id: Set(id),
        occurred_at: Set(occurred_at),
        actor_kind: Set(entry.actor_kind),
        actor_subject: Set(entry.actor_subject),
        action: Set(entry.action.to_owned()),
        object_type: Set(entry.object_type.to_owned()),
        object_id: Set(entry.object_id),
        detail: Set(detail),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Checks a tenant's chain, given in sequence order: `None` when every link holds, else the first broken sequence
/// number and why.
pub fn first_broken_link(events: &[audit_event::Model]) -> Option<(i64, &'static str)> {
    let mut expected_prev = GENESIS_HASH.to_owned();
    for (i, event) in events.iter().enumerate() {
        if event.seq != i as i64 + 1 {
            return Some((
                event.seq,
                "sequence number out of order (an event is missing)",
            ));
        }
        if event.prev_hash != expected_prev {
            return Some((
                event.seq,
                "previous hash does not match the preceding event",
            ));
        }
        let recomputed = Canonical {
            seq: event.seq,
            id: event.id,
            occurred_at: event.occurred_at,
            actor_kind: &event.actor_kind,
            actor_subject: &event.actor_subject,
            action: &event.action,
            object_type: &event.object_type,
            object_id: &event.object_id,
            detail: &event.detail,
            prev_hash: &event.prev_hash,
        }
        .hash();
        if recomputed != event.hash {
            return Some((event.seq, "event content does not match its hash"));
        }
        expected_prev = event.hash.clone();
    }
    None
}

fn next_link(head: Option<(i64, String)>) -> (i64, String) {
    match head {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS_HASH.to_owned()),
    }
}

fn tenant_lock_key(tenant: TenantId) -> i64 {
    let bytes = tenant.0.as_bytes();
    // The random tail of a v7 UUID, so keys of tenants created in the same millisecond still differ.
    i64::from_be_bytes([
        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
    ])
}

/// Now, at the precision every backend stores (microseconds), so a stored event hashes the same when read back.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
