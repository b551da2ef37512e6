//! Relay-style page arguments, validated before they reach a query (SeaORM's paginator panics on a page size of 0).

use uuid::Uuid;

use crate::error::AppError;

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
