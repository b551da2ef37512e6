//! What keeps the subject-key databases apart from the rest: each database records what it is for, and the keys an
//! older version kept in the region databases move out.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use super::{Databases, MigrationLock, sqlite_file};

impl Databases {
    /// Records in each database what it is for (`control`, `region:<name>`, `keys:<name>`, in a one-row table
    /// `steward_database_role`) on its first start, and refuses to go on when a database is already something else:
    /// two configured URLs that name one database in different spellings (`postgresql://` for `postgres://`, another
    /// host name, `sqlite:` for `sqlite://`, `/./` in a path) would otherwise put the subjects' keys beside their values,
    /// or a region's tables into the control database. Run before any migration, each under its database's lock.
    pub async fn claim_roles(&self) -> anyhow::Result<()> {
        let mut claims: Vec<(String, &DatabaseConnection, &crate::config::Secret)> =
            vec![("control".to_owned(), &self.control, &self.control_url)];
        for (name, conn) in &self.regions {
            claims.push((format!("region:{name}"), conn, &self.region_urls[name]));
        }
        for (name, conn) in &self.keys {
            claims.push((format!("keys:{name}"), conn, &self.keys_urls[name]));
        }
        for (role, conn, url) in claims {
            let on_disk =
                url.expose().starts_with("postgres") || sqlite_file(url.expose()).is_some();
            if !on_disk {
                // In memory: a database of its own by construction.
                continue;
            }
            let lock = MigrationLock::take(url, &role).await?;
            let found = claim_role(conn, &role).await;
            lock.release().await;
            let found =
                found.map_err(|e| anyhow::anyhow!("recording what database {role} is for: {e}"))?;
            if found != role {
                anyhow::bail!(
                    "the database configured as {role} is already Steward's {found} database: the control database, \
                     each region's and each region's subject-key database must be databases of their own. Check \
                     STEWARD_DATABASE_URL, STEWARD_REGIONS and STEWARD_KEY_DATABASES for two spellings of one \
                     database (postgresql:// and postgres://, localhost and 127.0.0.1, sqlite: and sqlite://, a path \
                     through . or ..)"
                );
            }
        }
        Ok(())
    }

    /// Moves the subject keys an older version kept in the region databases (`data_subjects.wrapped_key`) to the
    /// regions' subject-key databases, 500 at a time: copied (an existing key is kept), then emptied in the region.
    /// Resumable and idempotent; several instances may run it at once. The key of a subject the erasure journal names
    /// is not copied, only emptied: a region restored from a backup older than the move must not bring it back.
    pub async fn move_subject_keys(&self) -> anyhow::Result<u64> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
        use steward_entities::{data_subject, subject_key};
        let mut moved = 0;
        for (name, region) in &self.regions {
            let keys = &self.keys[name];
            let mut erased: Option<std::collections::HashSet<uuid::Uuid>> = None;
            loop {
                let batch: Vec<(uuid::Uuid, uuid::Uuid, Vec<u8>)> = data_subject::Entity::find()
                    .select_only()
                    .columns([
                        data_subject::Column::TenantId,
                        data_subject::Column::Id,
                        data_subject::Column::WrappedKey,
                    ])
                    .filter(data_subject::Column::WrappedKey.ne(Vec::<u8>::new()))
                    .order_by_asc(data_subject::Column::Id)
                    .limit(500)
                    .into_tuple()
                    .all(region)
                    .await?;
                if batch.is_empty() {
                    break;
                }
                if erased.is_none() {
                    erased = Some(self.journalled_subjects(name).await?);
                }
                let erased = erased.as_ref().map(|e| e as &std::collections::HashSet<_>);
                let now = chrono::Utc::now();
                let copied: Vec<subject_key::ActiveModel> = batch
                    .iter()
                    .filter(|(_, id, _)| !erased.is_some_and(|e| e.contains(id)))
                    .map(|(tenant, id, wrapped)| subject_key::ActiveModel {
                        subject_id: Set(*id),
                        tenant_id: Set(*tenant),
                        wrapped_key: Set(wrapped.clone()),
                        created_at: Set(now),
                    })
                    .collect();
                if !copied.is_empty() {
                    subject_key::Entity::insert_many(copied)
                        .on_conflict(
                            sea_orm::sea_query::OnConflict::column(subject_key::Column::SubjectId)
                                .do_nothing()
                                .to_owned(),
                        )
                        .exec_without_returning(keys)
                        .await?;
                }
                let ids: Vec<uuid::Uuid> = batch.iter().map(|(_, id, _)| *id).collect();
                // An instance already serving may have erased one of these since the batch was read: its journal
                // entry is written before it deletes the key, so read the journal again and take back what it names.
                let erased_since = self.journalled_subjects(name).await?;
                let taken_back: Vec<uuid::Uuid> = ids
                    .iter()
                    .copied()
                    .filter(|id| erased_since.contains(id))
                    .collect();
                if !taken_back.is_empty() {
                    subject_key::Entity::delete_many()
                        .filter(subject_key::Column::SubjectId.is_in(taken_back))
                        .exec(keys)
                        .await?;
                }
                let emptied = data_subject::Entity::update_many()
                    .col_expr(
                        data_subject::Column::WrappedKey,
                        sea_orm::sea_query::Expr::value(Vec::<u8>::new()),
                    )
                    .filter(data_subject::Column::Id.is_in(ids))
                    .exec(region)
                    .await?;
                moved += emptied.rows_affected;
            }
        }
        if moved > 0 {
            // The emptied keys' old pages are zeroed in the file (secure_delete); the WAL is emptied into it too.
            for (name, region) in &self.regions {
                if region.get_database_backend() == DbBackend::Sqlite {
                    super::checkpoint_now(region).await?;
                } else {
                    tracing::warn!(
                        region = %name,
                        "the subject keys' old row versions stay in region {name}'s table files until `VACUUM FULL \
                         data_subjects` is run, and in its backups, snapshots and WAL archives taken before: expire them"
                    );
                }
            }
            tracing::info!(
                moved,
                "took the subject keys out of the region databases: moved to the subject-key databases, except those of journalled erasures, dropped"
            );
        }
        Ok(moved)
    }

    /// Refuses to go on when a region's newest subjects have no key in its subject-key database and the erasure
    /// journal does not name them: the key database is missing (a new, empty one was made), is another one, or was
    /// restored from a backup older than the region's. Serving on would show those people as erased, for good.
    pub async fn check_subject_keys(&self) -> anyhow::Result<()> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
        use steward_entities::{data_subject, subject_key};
        for (name, region) in &self.regions {
            let newest: Vec<uuid::Uuid> = data_subject::Entity::find()
                .select_only()
                .column(data_subject::Column::Id)
                .order_by_desc(data_subject::Column::Id)
                .limit(200)
                .into_tuple()
                .all(region)
                .await?;
            if newest.is_empty() {
                continue;
            }
            let keyed: std::collections::HashSet<uuid::Uuid> = subject_key::Entity::find()
                .select_only()
                .column(subject_key::Column::SubjectId)
                .filter(subject_key::Column::SubjectId.is_in(newest.iter().copied()))
                .into_tuple()
                .all(&self.keys[name])
                .await?
                .into_iter()
                .collect();
            let unkeyed: Vec<uuid::Uuid> = newest
                .into_iter()
                .filter(|id| !keyed.contains(id))
                .collect();
            if unkeyed.is_empty() {
                continue;
            }
            let erased = self.journalled_subjects(name).await?;
            let lost = unkeyed.iter().filter(|id| !erased.contains(id)).count();
            if lost > 0 {
                anyhow::bail!(
                    "region {name}: {lost} of its newest subjects have no key in its subject-key database, and no \
                     erasure names them. The key database is missing (an empty one was made), is not this region's, \
                     or was restored from a backup older than the region's: put back the right one (a key database \
                     backup taken after the region's backup). Serving on would make those people unreadable for good"
                );
            }
        }
        Ok(())
    }

    /// The subjects the erasure journal names in `region`.
    async fn journalled_subjects(
        &self,
        region: &str,
    ) -> anyhow::Result<std::collections::HashSet<uuid::Uuid>> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
        use steward_entities::erasure_journal;
        let entries: Vec<String> = erasure_journal::Entity::find()
            .select_only()
            .column(erasure_journal::Column::Ids)
            .filter(erasure_journal::Column::Region.eq(region))
            .filter(erasure_journal::Column::Kind.eq("subjects"))
            .into_tuple()
            .all(&self.control)
            .await?;
        Ok(entries
            .iter()
            .flat_map(|ids| ids.split(','))
            .filter_map(|id| uuid::Uuid::parse_str(id).ok())
            .collect())
    }
}

/// Records `role` as what the database is for, unless it records something already; what it records.
async fn claim_role(conn: &DatabaseConnection, role: &str) -> Result<String, DbErr> {
    let backend = conn.get_database_backend();
    conn.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS steward_database_role (id INTEGER PRIMARY KEY, role VARCHAR(64) NOT NULL)",
    )
    .await?;
    let insert = match backend {
        DbBackend::Postgres => {
            "INSERT INTO steward_database_role (id, role) VALUES (1, $1) ON CONFLICT (id) DO NOTHING"
        }
        _ => {
            "INSERT INTO steward_database_role (id, role) VALUES (1, ?) ON CONFLICT (id) DO NOTHING"
        }
    };
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        insert,
        [role.into()],
    ))
    .await?;
    let row = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT role FROM steward_database_role WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("steward_database_role".into()))?;
    row.try_get::<String>("", "role")
}
