//! Where the keys under the master keys are stored (control database), and `steward keys rotate`.
//!
//! - The key root: one row (`key_root`), sealed under a master key version. On a deployment's first start with this
//!   version of Steward it is stored: its master key of version 1 (from which everything was derived until then), or
//!   a new random root on a deployment that has no data yet.
//! - Tenants' keys: on their rows (`tenants.keys_sealed`, `keys_version`), random for tenants created since; tenants
//!   created before keep keys derived from the root until a rotation stores them.
//!
//! A rotation re-seals the root and every tenant's keys under the current (highest) master key version, one row at a
//! time with a compare-and-set on the version it read, so it runs while the servers serve, stops anywhere, and resumes
//! where it stopped. The keys themselves do not change: nothing encrypted with them is touched. Once no row is sealed
//! under an older version, that version can leave the configuration.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use steward_entities::{key_root, master_key_check, subprocessor, tenant};

use crate::audit::{self, AuditEntry};
use crate::crypto::{Keyring, MasterKey, MasterKeys};
use crate::ids::TenantId;

/// Migrates every database: the control database, then (with master keys) opens the key root from it, then the
/// regions, whose migrations may seal with the tenants' keys. Returns the keyring when master keys were given.
pub async fn migrate(
    dbs: &crate::db::Databases,
    masters: Option<MasterKeys>,
) -> anyhow::Result<Option<Keyring>> {
    dbs.claim_roles().await?;
    dbs.migrate_control().await?;
    let keyring = match masters {
        Some(masters) => Some(open_root(dbs, masters).await?),
        None => None,
    };
    dbs.migrate_regions(keyring.as_ref()).await?;
    dbs.move_subject_keys().await?;
    dbs.check_subject_keys().await?;
    Ok(keyring)
}

/// For `steward keys rotate`: the keyring of databases that are already at this version's schema. A rotation never
/// migrates (a newer command-line binary must not change the schema under running servers).
pub async fn open_migrated(
    dbs: &crate::db::Databases,
    masters: MasterKeys,
) -> anyhow::Result<Keyring> {
    for (database, state) in dbs.readiness().await {
        if state != crate::db::Readiness::Ready {
            anyhow::bail!(
                "database {database} is {}: run `steward migrate` with this version first (or start its servers)",
                state.as_str()
            );
        }
    }
    open_root(dbs, masters).await
}

/// Opens the key root with the configured master keys, storing it first if this deployment has none stored yet.
pub async fn open_root(dbs: &crate::db::Databases, masters: MasterKeys) -> anyhow::Result<Keyring> {
    let control = dbs.control();
    if let Some(row) = key_root::Entity::find_by_id(1).one(control).await? {
        let keyring = open(masters, &row)?;
        check_fingerprints(control, keyring.masters()).await?;
        return Ok(keyring);
    }
    // No root row: store one, one instance at a time (another starting at once may be between recording its
    // fingerprints and storing the root, which would look like a lost root).
    let lock = dbs.lock_control().await?;
    let stored = store_root(dbs, masters).await;
    lock.release().await;
    stored
}

/// [`open_root`] under the control database's lock, when no root row was found.
async fn store_root(dbs: &crate::db::Databases, masters: MasterKeys) -> anyhow::Result<Keyring> {
    let control = dbs.control();
    if let Some(row) = key_root::Entity::find_by_id(1).one(control).await? {
        let keyring = open(masters, &row)?;
        check_fingerprints(control, keyring.masters()).await?;
        return Ok(keyring);
    }
    // A deployment that stored one before (it has fingerprints, or tenants with stored keys) lost it: a new one would
    // silently replace every key derived from it.
    let recorded = master_key_check::Entity::find().count(control).await?;
    let stored_tenants = tenant::Entity::find()
        .filter(tenant::Column::KeysVersion.is_not_null())
        .count(control)
        .await?;
    if recorded + stored_tenants > 0 {
        anyhow::bail!(
            "the key root is missing from the control database (table key_root), though this deployment stored one: \
             restore that row from a backup of the control database; a new root would replace the certificate key, \
             every webhook secret's wrapping and older tenants' keys"
        );
    }
    let root = match masters.first() {
        // Everything so far was derived from the master key of version 1: it stays the root.
        Some(first) => first.clone(),
        None => {
            let tenants = tenant::Entity::find().count(control).await?;
            let entries = subprocessor::Entity::find().count(control).await?;
            if tenants + entries > 0 {
                anyhow::bail!(
                    "this deployment has data but no stored key root: its root is its master key of version 1, so \
                     give version 1 beside the new one for this start (STEWARD_MASTER_KEYS=<n>:<new>,1:<old>), then \
                     run `steward keys rotate`"
                );
            }
            MasterKey::generate()?
        }
    };
    let candidate = Keyring::with_root(masters.clone(), root);
    // Stored once, kept for good: a mistyped key would be the root from then on. So it must open what is already
    // there — a subject key of a tenant whose keys are derived, a sub-processor's webhook secret.
    if let Some((tenant, subject, wrapped)) = dbs.sample_derived_subject_key().await? {
        let opens = candidate
            .tenant_keys(TenantId(tenant), None)
            .is_ok_and(|keys| keys.tenant_key().unwrap(subject, &wrapped).is_ok());
        if !opens {
            anyhow::bail!(
                "master key version 1 does not open this deployment's data (a subject key of tenant {tenant}): it is \
                 not the key this deployment ran with. Nothing was stored; start again with the right key"
            );
        }
    }
    let secrets = subprocessor::Entity::find()
        .filter(subprocessor::Column::WebhookSecretSealed.is_not_null())
        .limit(1)
        .all(control)
        .await?;
    for entry in secrets {
        if let Some(sealed) = &entry.webhook_secret_sealed
            && candidate.unwrap_webhook_secret(entry.id, sealed).is_err()
        {
            anyhow::bail!(
                "master key version 1 does not open this deployment's data (the erasure webhook secret of \
                 sub-processor {}): it is not the key this deployment ran with. Nothing was stored; start again with \
                 the right key",
                entry.id
            );
        }
    }
    check_fingerprints(control, candidate.masters()).await?;
    let (version, sealed) = candidate.seal_root()?;
    key_root::Entity::insert(key_root::ActiveModel {
        id: Set(1),
        version: Set(version),
        sealed: Set(sealed),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(key_root::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(control)
    .await?;
    let row = key_root::Entity::find_by_id(1)
        .one(control)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the key root was stored but cannot be read back"))?;
    open(masters, &row)
}

/// Each configured version's key must be the key first used as that version: its fingerprint is recorded at first
/// use and compared at every start after (two instances given different keys as "version 2" would each seal with
/// their own, and one tenant's keys would be lost with the other key).
async fn check_fingerprints(
    control: &DatabaseConnection,
    masters: &MasterKeys,
) -> anyhow::Result<()> {
    for (version, fingerprint) in masters.fingerprints() {
        master_key_check::Entity::insert(master_key_check::ActiveModel {
            version: Set(version),
            fingerprint: Set(fingerprint.to_vec()),
            recorded_at: Set(Utc::now()),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(master_key_check::Column::Version)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(control)
        .await?;
        let recorded = master_key_check::Entity::find_by_id(version)
            .one(control)
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!("the fingerprint of master key version {version} was not recorded")
            })?;
        if recorded.fingerprint != fingerprint {
            anyhow::bail!(
                "master key version {version} is not the key this deployment has used as version {version} (since \
                 {}): give every instance the same key for a version; a new key takes a new version number",
                recorded.recorded_at.format("%Y-%m-%d %H:%M UTC")
            );
        }
    }
    Ok(())
}

fn open(masters: MasterKeys, row: &key_root::Model) -> anyhow::Result<Keyring> {
    let configured = masters.versions();
    Keyring::open_root(masters, row.version, &row.sealed).map_err(|e| match e {
        crate::crypto::CryptoError::Opaque => anyhow::anyhow!(
            "the key root does not open with master key version {} (of versions {configured:?}): is it the key that \
             version had?",
            row.version
        ),
        other => anyhow::anyhow!("the key root cannot be opened: {other}"),
    })
}

/// How many rows are sealed under each master key version (`None`: tenants' keys derived from the root, which depend
/// on whatever seals the root).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub root: Option<i32>,
    pub tenants: Vec<(Option<i32>, u64)>,
}

impl Usage {
    /// Versions something is still sealed under, other than `current`.
    pub fn older_than(&self, current: i32) -> Vec<i32> {
        let mut older: Vec<i32> = self
            .root
            .into_iter()
            .chain(self.tenants.iter().filter_map(|(v, _)| *v))
            .filter(|v| *v != current)
            .collect();
        older.sort_unstable();
        older.dedup();
        older
    }

    /// Tenants whose keys are not sealed under `current` (derived ones included).
    pub fn tenants_to_reseal(&self, current: i32) -> u64 {
        self.tenants
            .iter()
            .filter(|(v, _)| *v != Some(current))
            .map(|(_, n)| n)
            .sum()
    }
}

pub async fn usage<C: ConnectionTrait>(control: &C) -> Result<Usage, sea_orm::DbErr> {
    let root = key_root::Entity::find_by_id(1)
        .one(control)
        .await?
        .map(|r| r.version);
    let tenants = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::KeysVersion)
        .column_as(tenant::Column::Id.count(), "n")
        .group_by(tenant::Column::KeysVersion)
        .order_by_asc(tenant::Column::KeysVersion)
        .into_tuple::<(Option<i32>, i64)>()
        .all(control)
        .await?
        .into_iter()
        .map(|(v, n)| (v, u64::try_from(n).unwrap_or_default()))
        .collect();
    Ok(Usage { root, tenants })
}

/// What one `steward keys rotate` run did.
#[derive(Debug)]
pub struct Rotated {
    pub to_version: i32,
    pub root_resealed: bool,
    pub tenants_resealed: u64,
    /// What is still sealed under an older version (a run stopped by `limit`, or rows another instance sealed
    /// under an older version meanwhile): run again.
    pub left: Usage,
}

/// Re-seals the key root and every tenant's keys under the current master key version, at most `limit` tenants.
pub async fn rotate(
    control: &DatabaseConnection,
    keyring: &Keyring,
    limit: Option<u64>,
) -> anyhow::Result<Rotated> {
    const BATCH: u64 = 100;
    let current = keyring.masters().current();
    let before = usage(control).await?;
    let mut root_resealed = false;
    // Only forward: a run with an older configuration never moves the root back.
    if before.root.is_some_and(|v| v < current) {
        let (version, sealed) = keyring.seal_root()?;
        let done = key_root::Entity::update_many()
            .col_expr(key_root::Column::Version, version.into())
            .col_expr(key_root::Column::Sealed, sealed.into())
            .col_expr(key_root::Column::UpdatedAt, Utc::now().into())
            .filter(key_root::Column::Id.eq(1))
            .filter(key_root::Column::Version.eq(before.root))
            .exec(control)
            .await?;
        root_resealed = done.rows_affected == 1;
    }
    let mut tenants_resealed = 0u64;
    let mut after: Option<uuid::Uuid> = None;
    let outcome: anyhow::Result<()> = async {
        loop {
            let room = limit.map_or(BATCH, |l| l.saturating_sub(tenants_resealed).min(BATCH));
            if room == 0 {
                break;
            }
            let mut query = tenant::Entity::find()
                .select_only()
                .column(tenant::Column::Id)
                .column(tenant::Column::KeysVersion)
                .column(tenant::Column::KeysSealed)
                .filter(
                    Condition::any()
                        .add(tenant::Column::KeysVersion.is_null())
                        .add(tenant::Column::KeysVersion.ne(current)),
                );
            if let Some(after) = after {
                query = query.filter(tenant::Column::Id.gt(after));
            }
            let batch = query
                .order_by_asc(tenant::Column::Id)
                .limit(room)
                .into_tuple::<(uuid::Uuid, Option<i32>, Option<Vec<u8>>)>()
                .all(control)
                .await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.0);
            for (id, version, sealed) in batch {
                let stored = version.zip(sealed.as_deref());
                let (new_version, resealed) = keyring
                    .reseal_tenant_keys(TenantId(id), stored)
                    .map_err(|e| anyhow::anyhow!("tenant {id}: {e}"))?;
                // Compare-and-set on what was read: a row changed meanwhile is left for the next run.
                let read = match version {
                    Some(v) => tenant::Column::KeysVersion.eq(v),
                    None => tenant::Column::KeysVersion.is_null(),
                };
                let done = tenant::Entity::update_many()
                    .col_expr(tenant::Column::KeysSealed, Some(resealed).into())
                    .col_expr(tenant::Column::KeysVersion, Some(new_version).into())
                    .filter(tenant::Column::Id.eq(id))
                    .filter(read)
                    .exec(control)
                    .await?;
                tenants_resealed += done.rows_affected;
            }
        }
        Ok(())
    }
    .await;
    // Recorded whether the run completed or stopped on an error: what it re-sealed is on the chain either way.
    let left = usage(control).await?;
    if root_resealed || tenants_resealed > 0 {
        let txn = sea_orm::TransactionTrait::begin(control).await?;
        audit::append_platform(
            &txn,
            AuditEntry::system("keys.rotated", "platform", uuid::Uuid::nil()).with_detail(json!({
                "to_version": current,
                "root_resealed": root_resealed,
                "tenants_resealed": tenants_resealed,
                "still_sealed_under": left.older_than(current),
                "from": {
                    "root_version": before.root,
                    "tenants_by_version": before.tenants.iter().map(|(v, n)| json!({ "version": v, "tenants": n })).collect::<Vec<_>>(),
                },
                "completed": outcome.is_ok(),
                "error": outcome.as_ref().err().map(|e| e.to_string()),
                "run_by": std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok(),
            })),
        )
        .await?;
        txn.commit().await?;
    }
    outcome?;
    Ok(Rotated {
        to_version: current,
        root_resealed,
        tenants_resealed,
        left,
    })
}

/// At start: refuses when some tenant's keys are sealed under a master key version that is not configured (every
/// request to it would fail), and logs what is still sealed under an older version than the current one.
pub async fn check_versions(control: &DatabaseConnection, keyring: &Keyring) -> anyhow::Result<()> {
    let current = keyring.masters().current();
    let configured = keyring.masters().versions();
    let found = usage(control).await?;
    let missing: Vec<(i32, u64)> = found
        .tenants
        .iter()
        .filter_map(|(v, n)| v.filter(|v| !configured.contains(v)).map(|v| (v, *n)))
        .collect();
    if let Some((version, count)) = missing.first() {
        anyhow::bail!(
            "{count} tenants' keys are sealed under master key version {version}, which is not configured \
             (configured: {configured:?}): give it back in STEWARD_MASTER_KEYS and run `steward keys rotate` before \
             withdrawing it"
        );
    }
    let older = found.older_than(current);
    let waiting = found.tenants_to_reseal(current);
    if !older.is_empty() || waiting > 0 {
        tracing::warn!(
            current,
            older_versions = ?older,
            tenants = waiting,
            "keys are still sealed under an older master key version (or derived): run `steward keys rotate`"
        );
    }
    Ok(())
}
