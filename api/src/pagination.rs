//! Relay-style page arguments, validated before they reach a query (SeaORM's paginator panics on a page size of 0).

use sea_orm::sea_query::Expr;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, QuerySelect, QueryTrait, Select};
use uuid::Uuid;

use crate::error::AppError;

/// `SELECT COUNT(*)` over a query's rows. SeaORM's paginator counts over a sub-select of every column, which reads
/// each row whole (blobs included); this lets the database answer from an index.
pub async fn count<E: EntityTrait, C: ConnectionTrait>(
    query: Select<E>,
    db: &C,
) -> Result<u64, DbErr> {
    let n: Option<i64> = query
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .into_tuple()
        .one(db)
        .await?;
    Ok(n.unwrap_or(0).max(0) as u64)
}

/// The rows of one page, with its size written into the SQL instead of bound as a parameter. PostgreSQL plans a
/// prepared `LIMIT $n` afresh on every execution (a generic plan cannot know how many rows are wanted, so it never wins
/// the comparison with a custom one); with the size in the text, the statement settles on a cached plan after five
/// runs. Page sizes are bounded (1..=[`MAX_PAGE_SIZE`] + 1), so each connection caches at most that many variants.
pub async fn fetch_page<E: EntityTrait, C: ConnectionTrait>(
    query: Select<E>,
    page: &Page,
    db: &C,
) -> Result<Vec<E::Model>, DbErr> {
    let mut statement = query.build(db.get_database_backend());
    // A number we computed, never caller text.
    statement
        .sql
        .push_str(&format!(" LIMIT {}", page.fetch_limit()));
    E::find().from_raw_sql(statement).all(db).await
}

pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// A validated page request: at most `limit` rows whose id is greater than `after`.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub limit: u64,
    pub after: Option<Uuid>,
}

impl Page {
    pub fn new(first: Option<i32>, after: Option<&str>) -> Result<Self, AppError> {
        let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&first) {
            return Err(AppError::BadInput(format!(
                "`first` must be between 1 and {MAX_PAGE_SIZE}, got {first}"
            )));
        }
        let after = after
            .map(|c| {
                Uuid::parse_str(c).map_err(|_| {
                    AppError::BadInput("`after` is not a cursor returned by this API".into())
                })
            })
            .transpose()?;
        Ok(Page {
            limit: first as u64,
            after,
        })
    }

    /// Rows to fetch: one more than the page, to learn whether a next page exists.
    pub fn fetch_limit(&self) -> u64 {
        self.limit + 1
    }
}

/// One page of rows, keyed by their (time-ordered) ids.
#[derive(Debug)]
pub struct PageOf<T> {
    pub rows: Vec<T>,
    pub has_next: bool,
    pub has_previous: bool,
    pub total: u64,
}

impl<T> PageOf<T> {
    /// Trims the extra row fetched by [`Page::fetch_limit`].
    pub fn from_fetched(mut rows: Vec<T>, page: &Page, total: u64) -> Self {
        let has_next = rows.len() as u64 > page.limit;
        rows.truncate(page.limit as usize);
        PageOf {
            rows,
            has_next,
            has_previous: page.after.is_some(),
            total,
        }
    }
}
