//! Checks shared by every free-text field of the API.

use crate::error::AppError;

/// Trimmed text of 1 to `max` characters without control characters (newlines allowed); the error names the field.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, AppError> {
    let value = raw.trim();
    if value.is_empty()
        || value.chars().count() > max
        || value.chars().any(|c| c.is_control() && c != '\n')
    {
        return Err(AppError::BadInput(format!(
            "`{field}` must be 1-{max} printable characters"
        )));
    }
    Ok(value.to_owned())
}
