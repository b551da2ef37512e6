//! Benchmark helper (`bench/audit.sh`): appends N events to one tenant's audit chain through Steward's own append,
//! in transactions of 5,000, so `steward audit verify` can then be timed on a long chain.
//!
//! Usage: `audit_fill REGION_DATABASE_URL TENANT_ID N`

use std::time::Instant;

use sea_orm::{Database, TransactionTrait};
use serde_json::json;
use steward::audit::{AuditEntry, append_tenant};
use steward::ids::TenantId;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, tenant, n] = args.as_slice() else {
        anyhow::bail!("usage: audit_fill REGION_DATABASE_URL TENANT_ID N");
    };
    let tenant = TenantId::parse("tenant", tenant).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let n: u64 = n.parse()?;
    let db = Database::connect(url.as_str()).await?;
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let txn = db.begin().await?;
        let batch = (n - done).min(5_000);
        for i in 0..batch {
            let entry = AuditEntry::system("bench.filler", "bench", done + i)
                .with_detail(json!({ "n": done + i, "note": "benchmark filler event" }));
            append_tenant(&txn, tenant, entry).await?;
        }
        txn.commit().await?;
        done += batch;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "appended {n} events in {secs:.1} s ({:.0} events/s, one connection)",
        n as f64 / secs
    );
    Ok(())
}
