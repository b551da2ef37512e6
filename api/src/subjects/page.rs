//! Reading subjects: one by id, a page, and a page with its records in one statement (the hot read).

use super::*;
use crate::ids::SubjectId;

/// One subject of the scope's tenant; another tenant's id is `NOT_FOUND`.
pub async fn get(scope: &Scope, id: SubjectId) -> Result<data_subject::Model, AppError> {
    scope
        .find::<data_subject::Entity>()
        .filter(data_subject::Column::Id.eq(id))
        .one(scope.db())
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no data subject {id}")))
}

/// One page of the tenant's subjects, oldest first, optionally filtered. `with_total`: count every match too
/// (skipped when the caller did not ask for `totalCount`).
pub async fn list(
    scope: &Scope,
    page: Page,
    filter: &SubjectFilter,
    with_total: bool,
) -> Result<PageOf<data_subject::Model>, AppError> {
    let (query, total) = page_query(scope, page, filter, with_total).await?;
    let rows = crate::pagination::fetch_page(query, &page, scope.db()).await?;
    Ok(PageOf::from_fetched(rows, &page, total))
}

/// The subjects matching `filter` after the page's cursor, in page order, without a limit; and their total count
/// when asked for.
pub(super) async fn page_query(
    scope: &Scope,
    page: Page,
    filter: &SubjectFilter,
    with_total: bool,
) -> Result<(Select<data_subject::Entity>, u64), AppError> {
    let mut query = scope.find::<data_subject::Entity>();
    if let Some(only) = &filter.only {
        query = query.filter(data_subject::Column::Id.is_in(only.iter().copied()));
    }
    if let Some(external_id) = &filter.external_id {
        query = query.filter(
            data_subject::Column::ExternalIdIndex.eq(scope.external_id_index(external_id.trim())),
        );
    }
    if let Some(email) = &filter.email {
        let index = scope.blind_index(&taxonomy::normalise_email(email));
        query = query.filter(
            data_subject::Column::Id.in_subquery(
                Query::select()
                    .column(personal_data::Column::SubjectId)
                    .from(personal_data::Entity)
                    .and_where(personal_data::Column::TenantId.eq(scope.tenant_id().0))
                    .and_where(personal_data::Column::BlindIndex.eq(index))
                    .to_owned(),
            ),
        );
    }
    if let Some(category) = &filter.category {
        let category = taxonomy::category(category)?;
        query = query.filter(
            data_subject::Column::Id.in_subquery(
                Query::select()
                    .column(personal_data::Column::SubjectId)
                    .from(personal_data::Entity)
                    .and_where(personal_data::Column::TenantId.eq(scope.tenant_id().0))
                    .and_where(personal_data::Column::Category.eq(category.key.as_str()))
                    .to_owned(),
            ),
        );
    }
    let total = if with_total {
        crate::pagination::count(query.clone(), scope.db()).await?
    } else {
        0
    };
    if let Some(after) = page.after {
        query = query.filter(data_subject::Column::Id.gt(after));
    }
    Ok((query.order_by_asc(data_subject::Column::Id), total))
}

/// A page of subjects with the records of each, oldest first. The records carry no `blind_index` (it serves lookups by
/// value, never a page, so the page does not read it).
pub struct PageWithRecords {
    pub page: PageOf<data_subject::Model>,
    pub records: HashMap<Uuid, Vec<personal_data::Model>>,
}

/// One unfiltered page of subjects and all their records. Such a page holds every subject of the tenant between its
/// first and last id, so its records are one range of the `(tenant_id, subject_id)` index (a filtered page can be
/// spread over the whole tenant: [`list`] and [`records_of`] serve it); anything in the range that is not on the page
/// (the extra row fetched for `hasNextPage`, a subject created in between) is dropped.
///
/// Both come back from a single statement, one round trip instead of two on the console's most frequent read
/// (bench/README.md): page and records are rows of one `UNION ALL`, told apart by a leading 0 (subject) or 1 (record)
/// and decoded by position ([`SUBJECT_COLUMNS`], [`RECORD_COLUMNS`]). On PostgreSQL the page is a materialised CTE and
/// the records its id range; on SQLite the page's query is repeated for the records' ids instead.
pub async fn page_with_records(
    scope: &Scope,
    page: Page,
    with_total: bool,
) -> Result<PageWithRecords, AppError> {
    let (query, total) = page_query(scope, page, &SubjectFilter::default(), with_total).await?;
    let backend = scope.db().get_database_backend();
    let mut statement = query.build(backend);
    let mut values = statement.values.take().map(|v| v.0).unwrap_or_default();
    let tenant = scope.tenant_id().0;
    let columns = &*UNION_COLUMNS;
    let (page_sql, limit) = (statement.sql, page.fetch_limit());
    // The page (`source`), and how the records name the tenant and the page's subjects.
    let (with, source, tenant_param, of_page) = if backend == DbBackend::Postgres {
        values.push(tenant.into());
        (
            format!("WITH page AS MATERIALIZED ({page_sql} LIMIT {limit}) "),
            "page".to_owned(),
            format!("${}", values.len()),
            "BETWEEN (SELECT \"id\" FROM page ORDER BY \"id\" LIMIT 1) \
             AND (SELECT \"id\" FROM page ORDER BY \"id\" DESC LIMIT 1)"
                .to_owned(),
        )
    } else {
        // SQLite: no materialised CTE (its CTE and the sorts for the range's bounds made the statement slower than two
        // plain ones); the page's query is written twice, once as the page and once for its ids, its values bound
        // twice (`?` placeholders bind in order).
        let page_values = values.clone();
        values.push(tenant.into());
        values.extend(page_values);
        (
            String::new(),
            format!("({page_sql} LIMIT {limit}) AS page"),
            "?".to_owned(),
            format!("IN (SELECT \"id\" FROM ({page_sql} LIMIT {limit}))"),
        )
    };
    // Only numbers we computed and names of our own schema are written into the text; values are bound.
    statement.sql = format!(
        "{with}SELECT 0, {subjects}, {record_nulls} FROM {source} \
         UNION ALL \
         SELECT 1, {subject_nulls}, {records} FROM \"{table}\" r \
         WHERE r.\"tenant_id\" = {tenant_param} AND r.\"subject_id\" {of_page}",
        subjects = columns.subjects,
        record_nulls = columns.record_nulls,
        subject_nulls = columns.subject_nulls,
        records = columns.records,
        table = personal_data::Entity.table_name(),
    );
    statement.values = Some(sea_orm::sea_query::Values(values));
    let rows = scope.db().query_all_raw(statement).await?;
    let mut subjects = Vec::with_capacity(page.fetch_limit() as usize);
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        let decoded = if let Some(row) = row.try_as_pg_row() {
            union_row(row, tenant, &mut subjects, &mut records)
        } else if let Some(row) = row.try_as_sqlite_row() {
            union_row(row, tenant, &mut subjects, &mut records)
        } else {
            Err(sqlx::Error::Protocol(
                "a PostgreSQL or SQLite row was expected".into(),
            ))
        };
        decoded.map_err(|e| AppError::internal(anyhow::anyhow!("decoding a page row: {e}")))?;
    }
    subjects.sort_by_key(|s| s.id);
    let page = PageOf::from_fetched(subjects, &page, total);
    let records = group_by_subject(&page.rows, records);
    Ok(PageWithRecords { page, records })
}

/// One row of [`page_with_records`]'s statement: a subject (leading 0) or a record (leading 1).
fn union_row<R>(
    row: &R,
    tenant: Uuid,
    subjects: &mut Vec<data_subject::Model>,
    records: &mut Vec<personal_data::Model>,
) -> Result<(), sqlx::Error>
where
    R: PageRow,
    for<'r> i32: sqlx::Decode<'r, R::Database>,
    for<'r> Uuid: sqlx::Decode<'r, R::Database>,
    for<'r> Option<Uuid>: sqlx::Decode<'r, R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database>,
    for<'r> Option<DateTime<Utc>>: sqlx::Decode<'r, R::Database>,
{
    if row.value::<i32>(0)? == 0 {
        subjects.push(subject_at(row, tenant, 1)?);
    } else {
        records.push(record_at(row, tenant, 1 + SUBJECT_COLUMNS.len())?);
    }
    Ok(())
}

/// Records by subject for the subjects of a page, oldest first; records of anyone else are dropped.
pub(super) fn group_by_subject(
    subjects: &[data_subject::Model],
    mut records: Vec<personal_data::Model>,
) -> HashMap<Uuid, Vec<personal_data::Model>> {
    let mut grouped: HashMap<Uuid, Vec<personal_data::Model>> =
        subjects.iter().map(|s| (s.id, Vec::new())).collect();
    records.sort_by_key(|r| r.id);
    for record in records {
        if let Some(of_subject) = grouped.get_mut(&record.subject_id) {
            of_subject.push(record);
        }
    }
    grouped
}

/// `data_subjects` columns in the order [`subject_at`] reads them. Not read: `tenant_id` (the scope's, which the
/// statement filters on), `external_id_index` (it serves lookups, never a page) and `wrapped_key` (emptied: keys live
/// in the subject-key database).
pub(super) const SUBJECT_COLUMNS: [&str; 8] = [
    "id",
    "external_id_sealed",
    "birth_date_sealed",
    "restricted_at",
    "restricted_by_request",
    "known_under_13",
    "created_at",
    "updated_at",
];

#[cfg(test)]
pub(super) const SUBJECT_NOT_READ: [&str; 3] = ["tenant_id", "external_id_index", "wrapped_key"];

/// `personal_data` columns in the order [`record_at`] reads them. Not read: `tenant_id` (as above) and `blind_index`
/// (see [`PageWithRecords`]); each unread column is bytes PostgreSQL would encode and send 40 times per page.
pub(super) const RECORD_COLUMNS: [&str; 10] = [
    "id",
    "subject_id",
    "category",
    "purpose",
    "source_sealed",
    "collected_at",
    "sealed_value",
    "created_at",
    "updated_at",
    "restricted_by_request",
];
#[cfg(test)]
pub(super) const RECORD_NOT_READ: [&str; 2] = ["tenant_id", "blind_index"];

/// The select lists of [`page_with_records`]'s statement, written once rather than on every page.
pub(super) struct UnionColumns {
    subjects: String,
    subject_nulls: String,
    records: String,
    record_nulls: String,
}

pub(super) static UNION_COLUMNS: LazyLock<UnionColumns> = LazyLock::new(|| {
    let list = |table: &str, columns: &[&str]| {
        columns
            .iter()
            .map(|c| format!("{table}.\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let nulls = |n: usize| vec!["NULL"; n].join(", ");
    UnionColumns {
        subjects: list("page", &SUBJECT_COLUMNS),
        subject_nulls: nulls(SUBJECT_COLUMNS.len()),
        records: list("r", &RECORD_COLUMNS),
        record_nulls: nulls(RECORD_COLUMNS.len()),
    }
});

// The decoders below read sqlx's row by position and without sqlx's per-value type check: SeaORM's derived decoding
// looks every column up by name and formats an error text for every NULL it meets, and the type check compares each
// text column against five type names. The statement is ours and its column types are the migrations'; a decoder
// that disagreed with them fails `personal::page_reads_match_single_reads` (every field against single reads).

/// What a page's decoders need of a driver's row: read by position, no type check. PostgreSQL's and SQLite's rows.
pub(super) trait PageRow: Row {
    fn value<T>(&self, at: usize) -> Result<T, sqlx::Error>
    where
        T: for<'r> sqlx::Decode<'r, Self::Database>;
}

impl<R: Row> PageRow for R
where
    usize: sqlx::ColumnIndex<R>,
{
    fn value<T>(&self, at: usize) -> Result<T, sqlx::Error>
    where
        T: for<'r> sqlx::Decode<'r, Self::Database>,
    {
        self.try_get_unchecked(at)
    }
}

/// A subject from [`SUBJECT_COLUMNS`] starting at column `at`.
pub(super) fn subject_at<R>(
    row: &R,
    tenant: Uuid,
    at: usize,
) -> Result<data_subject::Model, sqlx::Error>
where
    R: PageRow,
    for<'r> Uuid: sqlx::Decode<'r, R::Database>,
    for<'r> Option<Uuid>: sqlx::Decode<'r, R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database>,
    for<'r> Option<DateTime<Utc>>: sqlx::Decode<'r, R::Database>,
{
    Ok(data_subject::Model {
        tenant_id: tenant,
        id: row.value(at)?,
        external_id_sealed: row.value(at + 1)?,
        external_id_index: String::new(),
        wrapped_key: Vec::new(),
        birth_date_sealed: row.value(at + 2)?,
        restricted_at: row.value(at + 3)?,
        restricted_by_request: row.value(at + 4)?,
        known_under_13: row.value(at + 5)?,
        created_at: row.value(at + 6)?,
        updated_at: row.value(at + 7)?,
    })
}

/// A record from [`RECORD_COLUMNS`] starting at column `at`.
pub(super) fn record_at<R>(
    row: &R,
    tenant: Uuid,
    at: usize,
) -> Result<personal_data::Model, sqlx::Error>
where
    R: PageRow,
    for<'r> Uuid: sqlx::Decode<'r, R::Database>,
    for<'r> Option<Uuid>: sqlx::Decode<'r, R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database>,
    for<'r> Vec<u8>: sqlx::Decode<'r, R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database>,
{
    Ok(personal_data::Model {
        tenant_id: tenant,
        id: row.value(at)?,
        subject_id: row.value(at + 1)?,
        category: row.value(at + 2)?,
        purpose: row.value(at + 3)?,
        source_sealed: row.value(at + 4)?,
        collected_at: row.value(at + 5)?,
        sealed_value: row.value(at + 6)?,
        blind_index: None,
        created_at: row.value(at + 7)?,
        updated_at: row.value(at + 8)?,
        restricted_by_request: row.value(at + 9)?,
    })
}

/// The records of many subjects in one query, grouped by subject, oldest first.
pub async fn records_of(
    scope: &Scope,
    subject_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<personal_data::Model>>, AppError> {
    let mut grouped: HashMap<Uuid, Vec<personal_data::Model>> = HashMap::new();
    if subject_ids.is_empty() {
        return Ok(grouped);
    }
    // No ORDER BY: it would tempt a planner without statistics to walk the tenant's whole primary key in id order
    // instead of using the (tenant_id, subject_id) index; a page's few rows are sorted here instead.
    let mut rows = scope
        .find::<personal_data::Entity>()
        .filter(personal_data::Column::SubjectId.is_in(subject_ids.iter().copied()))
        .all(scope.db())
        .await?;
    rows.sort_by_key(|r| r.id);
    for row in rows {
        grouped.entry(row.subject_id).or_default().push(row);
    }
    Ok(grouped)
}
