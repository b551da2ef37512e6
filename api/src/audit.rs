//! Hash-chained, append-only audit logs: one per tenant (in its region database) and one for the platform (control
//! database).
//!
//! Each event is appended inside the transaction of the change it records, so neither exists without the other.
//! `hash = SHA-256(canonical encoding)`, where the canonical encoding is the compact JSON array
//! `[seq, id, occurred_at, actor_kind, actor_subject, action, object_type, object_id, detail, prev_hash]` with
//! `occurred_at` in RFC 3339 UTC with microseconds and `detail` the stored JSON text (keys sorted). The first event's
//! `prev_hash` is 64 zeros. Events never hold personal values: people are named by id.

use std::borrow::Cow;

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use sha2::{Digest, Sha256};
use steward_entities::{audit_event, audit_outbox, platform_audit_event, tenant};
use uuid::Uuid;

use crate::auth::Principal;
use crate::db::{Databases, lock_for_transaction};
use crate::ids::TenantId;

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Advisory-lock key of the platform chain; tenant chains use their id's leading bits.
const PLATFORM_CHAIN_LOCK: i64 = 0x5354_4557_4152_4431;

/// One thing that happened, before it is placed in a chain.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    pub actor_kind: String,
    pub actor_subject: String,
    pub action: Cow<'static, str>,
    pub object_type: Cow<'static, str>,
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
            action: Cow::Borrowed(action),
            object_type: Cow::Borrowed(object_type),
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
            action: Cow::Borrowed(action),
            object_type: Cow::Borrowed(object_type),
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
    occurred_at: &'a str,
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
        occurred_at: &'a str,
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
            action: &entry.action,
            object_type: &entry.object_type,
            object_id: &entry.object_id,
            detail,
            prev_hash,
        }
    }

    fn hash(&self) -> String {
        let encoded = serde_json::json!([
            self.seq,
            self.id.hyphenated().to_string(),
            self.occurred_at,
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
    let started = std::time::Instant::now();
    let appended = append_tenant_timed(txn, tenant, Uuid::now_v7(), entry).await;
    crate::metrics::record_audit_append(started.elapsed());
    appended
}

async fn append_tenant_timed<C: ConnectionTrait>(
    txn: &C,
    tenant: TenantId,
    id: Uuid,
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
    let (occurred_at, detail) = (now(), entry.detail.to_string());
    let hash = Canonical::of_entry(
        seq,
        id,
        &canonical_time(occurred_at),
        &entry,
        &detail,
        &prev_hash,
    )
    .hash();
    audit_event::ActiveModel {
        tenant_id: Set(tenant.0),
        seq: Set(seq),
        id: Set(id),
        occurred_at: Set(occurred_at),
        actor_kind: Set(entry.actor_kind),
        actor_subject: Set(entry.actor_subject),
        action: Set(entry.action.into_owned()),
        object_type: Set(entry.object_type.into_owned()),
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
    let started = std::time::Instant::now();
    let appended = append_platform_timed(txn, entry).await;
    crate::metrics::record_audit_append(started.elapsed());
    appended
}

async fn append_platform_timed<C: ConnectionTrait>(
    txn: &C,
    entry: AuditEntry,
) -> Result<(), DbErr> {
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
    let hash = Canonical::of_entry(
        seq,
        id,
        &canonical_time(occurred_at),
        &entry,
        &detail,
        &prev_hash,
    )
    .hash();
    platform_audit_event::ActiveModel {
        seq: Set(seq),
        id: Set(id),
        occurred_at: Set(occurred_at),
        actor_kind: Set(entry.actor_kind),
        actor_subject: Set(entry.actor_subject),
        action: Set(entry.action.into_owned()),
        object_type: Set(entry.object_type.into_owned()),
        object_id: Set(entry.object_id),
        detail: Set(detail),
        prev_hash: Set(prev_hash),
        hash: Set(hash),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// Records, inside a transaction on the control database, an event owed to a tenant's chain (in its region
/// database), with what else the region owes (`effect`, carried out by `owed::apply`). The change and this row
/// commit together; `owed::apply_now` then appends the event and applies the effect in one region transaction, so a
/// failure between the two databases can delay them, never lose them, apply them twice, or record them without their
/// change. Returns the event's id.
pub async fn defer_tenant<C: ConnectionTrait>(
    control_txn: &C,
    tenant: TenantId,
    entry: &AuditEntry,
    effect: Option<serde_json::Value>,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    let entry = serde_json::to_value(entry).map_err(|e| DbErr::Custom(e.to_string()))?;
    audit_outbox::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.0),
        entry: Set(entry),
        effect: Set(effect),
        created_at: Set(Utc::now()),
    }
    .insert(control_txn)
    .await?;
    Ok(id)
}

/// Appends a deferred event to its tenant's chain under the id [`defer_tenant`] gave it, inside `txn` (on the
/// tenant's region database), unless a run that died before deleting its outbox row appended it already. Returns
/// whether it was appended now; the caller applies the event's effect in the same transaction only then.
pub async fn append_deferred<C: ConnectionTrait>(
    txn: &C,
    tenant: TenantId,
    id: Uuid,
    entry: AuditEntry,
) -> Result<bool, DbErr> {
    // Serialised with every other append to this chain.
    lock_for_transaction(txn, tenant_lock_key(tenant)).await?;
    let present = audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(tenant.0))
        .filter(audit_event::Column::Id.eq(id))
        .one(txn)
        .await?
        .is_some();
    if present {
        return Ok(false);
    }
    let started = std::time::Instant::now();
    append_tenant_timed(txn, tenant, id, entry).await?;
    crate::metrics::record_audit_append(started.elapsed());
    Ok(true)
}

/// One event as exported and as verified: exactly the fields that are hashed, plus the hash. An outside verifier needs
/// only these (see the README for the encoding).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct ChainLink {
    pub seq: i64,
    pub id: Uuid,
    pub occurred_at: String,
    pub actor_kind: String,
    pub actor_subject: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub detail: String,
    pub prev_hash: String,
    pub hash: String,
}

impl ChainLink {
    fn recompute(&self) -> String {
        Canonical {
            seq: self.seq,
            id: self.id,
            occurred_at: &self.occurred_at,
            actor_kind: &self.actor_kind,
            actor_subject: &self.actor_subject,
            action: &self.action,
            object_type: &self.object_type,
            object_id: &self.object_id,
            detail: &self.detail,
            prev_hash: &self.prev_hash,
        }
        .hash()
    }
}

impl From<&audit_event::Model> for ChainLink {
    fn from(e: &audit_event::Model) -> Self {
        ChainLink {
            seq: e.seq,
            id: e.id,
            occurred_at: canonical_time(e.occurred_at),
            actor_kind: e.actor_kind.clone(),
            actor_subject: e.actor_subject.clone(),
            action: e.action.clone(),
            object_type: e.object_type.clone(),
            object_id: e.object_id.clone(),
            detail: e.detail.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

impl From<&platform_audit_event::Model> for ChainLink {
    fn from(e: &platform_audit_event::Model) -> Self {
        ChainLink {
            seq: e.seq,
            id: e.id,
            occurred_at: canonical_time(e.occurred_at),
            actor_kind: e.actor_kind.clone(),
            actor_subject: e.actor_subject.clone(),
            action: e.action.clone(),
            object_type: e.object_type.clone(),
            object_id: e.object_id.clone(),
            detail: e.detail.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// Walks a chain in order, link by link, and remembers the first break.
#[derive(Debug)]
pub struct Verifier {
    events: u64,
    expected_prev: String,
    broken: Option<(i64, &'static str)>,
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            events: 0,
            expected_prev: GENESIS_HASH.to_owned(),
            broken: None,
        }
    }
}

impl Verifier {
    /// Checks the next link; after the first break, later links are not judged.
    pub fn push(&mut self, link: &ChainLink) {
        if self.broken.is_some() {
            return;
        }
        self.events += 1;
        let why = if link.seq != self.events as i64 {
            Some("sequence number out of order: an event is missing or was moved")
        } else if link.prev_hash != self.expected_prev {
            Some("previous hash does not match the preceding event")
        } else if link.recompute() != link.hash {
            Some("event content does not match its hash: it was altered")
        } else {
            None
        };
        match why {
            Some(why) => self.broken = Some((link.seq, why)),
            None => self.expected_prev = link.hash.clone(),
        }
    }

    pub fn finish(self) -> Verification {
        Verification {
            events: self.events,
            head: (self.broken.is_none() && self.events > 0)
                .then(|| (self.events as i64, self.expected_prev.clone())),
            broken: self.broken,
        }
    }
}

/// The outcome of verifying one chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// Events checked (up to and including the first broken one).
    pub events: u64,
    /// Sequence number and hash of the last event, when the chain holds.
    pub head: Option<(i64, String)>,
    /// The first broken sequence number and why.
    pub broken: Option<(i64, &'static str)>,
}

impl Verification {
    /// Also compares with a head the client kept earlier: a chain cut after that head no longer reaches it.
    pub fn against_kept_head(
        mut self,
        kept: Option<(i64, &str)>,
        link_at: Option<&ChainLink>,
    ) -> Verification {
        if let (None, Some((seq, hash))) = (&self.broken, kept) {
            match link_at {
                Some(link) if link.hash == hash => {}
                Some(_) => self.broken = Some((seq, "the event at the kept head was altered")),
                None => self.broken = Some((seq, "the chain was truncated before the kept head")),
            }
        }
        self
    }
}

/// Checks a tenant's chain, given in sequence order: `None` when every link holds, else the first broken sequence
/// number and why.
pub fn first_broken_link(events: &[audit_event::Model]) -> Option<(i64, &'static str)> {
    let mut verifier = Verifier::default();
    for event in events {
        verifier.push(&ChainLink::from(event));
    }
    verifier.finish().broken
}

const VERIFY_BATCH: u64 = 5_000;

/// Walks a tenant's chain in batches, handing each link to `visit` (for verification or export).
pub async fn walk_tenant<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    mut visit: impl FnMut(&ChainLink),
) -> Result<(), DbErr> {
    let mut after = 0i64;
    loop {
        let batch = audit_event::Entity::find()
            .filter(audit_event::Column::TenantId.eq(tenant.0))
            .filter(audit_event::Column::Seq.gt(after))
            .order_by_asc(audit_event::Column::Seq)
            .limit(VERIFY_BATCH)
            .all(db)
            .await?;
        for event in &batch {
            visit(&ChainLink::from(event));
        }
        match batch.last() {
            Some(last) if batch.len() as u64 == VERIFY_BATCH => after = last.seq,
            _ => return Ok(()),
        }
    }
}

/// Walks the platform chain in batches.
pub async fn walk_platform<C: ConnectionTrait>(
    db: &C,
    mut visit: impl FnMut(&ChainLink),
) -> Result<(), DbErr> {
    let mut after = 0i64;
    loop {
        let batch = platform_audit_event::Entity::find()
            .filter(platform_audit_event::Column::Seq.gt(after))
            .order_by_asc(platform_audit_event::Column::Seq)
            .limit(VERIFY_BATCH)
            .all(db)
            .await?;
        for event in &batch {
            visit(&ChainLink::from(event));
        }
        match batch.last() {
            Some(last) if batch.len() as u64 == VERIFY_BATCH => after = last.seq,
            _ => return Ok(()),
        }
    }
}

/// Verifies a tenant's chain from its first event.
pub async fn verify_tenant<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
) -> Result<Verification, DbErr> {
    let mut verifier = Verifier::default();
    walk_tenant(db, tenant, |link| verifier.push(link)).await?;
    Ok(verifier.finish())
}

pub async fn verify_platform<C: ConnectionTrait>(db: &C) -> Result<Verification, DbErr> {
    let mut verifier = Verifier::default();
    walk_platform(db, |link| verifier.push(link)).await?;
    Ok(verifier.finish())
}

/// One event of a tenant's chain, by sequence number.
pub async fn tenant_link<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
    seq: i64,
) -> Result<Option<ChainLink>, DbErr> {
    Ok(audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(tenant.0))
        .filter(audit_event::Column::Seq.eq(seq))
        .one(db)
        .await?
        .as_ref()
        .map(ChainLink::from))
}

/// The last event of a tenant's chain, for the client to keep.
pub async fn tenant_head<C: ConnectionTrait>(
    db: &C,
    tenant: TenantId,
) -> Result<Option<ChainLink>, DbErr> {
    Ok(audit_event::Entity::find()
        .filter(audit_event::Column::TenantId.eq(tenant.0))
        .order_by_desc(audit_event::Column::Seq)
        .one(db)
        .await?
        .as_ref()
        .map(ChainLink::from))
}

/// The time as hashed: RFC 3339, UTC, microseconds, `Z`.
pub fn canonical_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
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

/// For `steward audit …` on the server's machine: verifies the named tenant's chain, or every tenant's and the
/// platform's. Returns one line per chain and whether all hold.
pub async fn operator_verify(
    dbs: &Databases,
    tenant: Option<TenantId>,
) -> anyhow::Result<(Vec<String>, bool)> {
    let tenants = match tenant {
        Some(id) => vec![operator_tenant(dbs, id).await?],
        None => {
            tenant::Entity::find()
                .order_by_asc(tenant::Column::Id)
                .all(dbs.control())
                .await?
        }
    };
    let mut lines = Vec::new();
    let mut all_hold = true;
    let mut report = |label: String, v: Verification| {
        all_hold &= v.broken.is_none();
        lines.push(match (v.broken, v.head) {
            (Some((seq, why)), _) => format!("BROKEN {label}: at seq {seq}: {why}"),
            (None, Some((seq, hash))) => format!(
                "ok {label}: {} events, head seq {seq} hash {hash}",
                v.events
            ),
            (None, None) => format!("ok {label}: empty"),
        });
    };
    if tenant.is_none() {
        report("platform".into(), verify_platform(dbs.control()).await?);
    }
    for t in tenants {
        let db = operator_region(dbs, &t)?;
        report(
            format!("tenant {} ({})", t.id, t.name),
            verify_tenant(db, TenantId(t.id)).await?,
        );
    }
    Ok((lines, all_hold))
}

/// For `steward audit export`: every event of the tenant's chain as one JSON object per line.
pub async fn operator_export(
    dbs: &Databases,
    tenant: TenantId,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<u64> {
    let t = operator_tenant(dbs, tenant).await?;
    let db = operator_region(dbs, &t)?;
    let mut written = 0u64;
    let mut failure = None;
    walk_tenant(db, tenant, |link| {
        if failure.is_none() {
            match serde_json::to_string(link).map(|line| writeln!(out, "{line}")) {
                Ok(Ok(())) => written += 1,
                Ok(Err(e)) => failure = Some(anyhow::Error::from(e)),
                Err(e) => failure = Some(anyhow::Error::from(e)),
            }
        }
    })
    .await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

async fn operator_tenant(dbs: &Databases, id: TenantId) -> anyhow::Result<tenant::Model> {
    tenant::Entity::find_by_id(id.0)
        .one(dbs.control())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no tenant {id}"))
}

fn operator_region<'a>(
    dbs: &'a Databases,
    t: &tenant::Model,
) -> anyhow::Result<&'a sea_orm::DatabaseConnection> {
    dbs.region(&t.region).ok_or_else(|| {
        anyhow::anyhow!(
            "tenant {} lives in region `{}`, which is not configured",
            t.id,
            t.region
        )
    })
}
