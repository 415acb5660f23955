//! The original application's stricter rule for pipeline names, for callers that want it.

use crate::error::{Error, Result};

/// Normalizes a pipeline name by the original application's rule, for callers that want it.
///
/// Lowercase; ASCII separators and punctuation become `-`; other characters that are not ASCII
/// letters or digits are dropped; runs of `-` collapse and are trimmed. The result must have at
/// least 4 characters and not be one of the reserved words `help`, `list`, `show`, `create`,
/// `delete`, `process`, `restore`, `validate`.
///
/// ```
/// use pipeline_store::model::normalize_pipeline_name;
///
/// assert_eq!(normalize_pipeline_name("My Backup_v2.1")?, "my-backup-v2-1");
/// assert!(normalize_pipeline_name("HELP!").is_err());
/// # Ok::<(), pipeline_store::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::InvalidInput`] for the field `name` when the result is too short or reserved.
pub fn normalize_pipeline_name(name: &str) -> Result<String> {
    const RESERVED: [&str; 8] = [
        "help", "list", "show", "create", "delete", "process", "restore", "validate",
    ];
    let mut normalized = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            normalized.push(c.to_ascii_lowercase());
        } else if (c.is_ascii_punctuation() || c.is_ascii_whitespace())
            && !normalized.is_empty()
            && !normalized.ends_with('-')
        {
            normalized.push('-');
        }
    }
    while normalized.ends_with('-') {
        normalized.pop();
    }
    if normalized.len() < 4 {
        return Err(Error::invalid(
            "name",
            format!("`{name}` normalizes to `{normalized}`, shorter than 4 characters"),
        ));
    }
    if RESERVED.contains(&normalized.as_str()) {
        return Err(Error::invalid(
            "name",
            format!("`{normalized}` is a reserved word"),
        ));
    }
    Ok(normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalize_like_the_original_application() {
        for (input, expected) in [
            ("hello world", "hello-world"),
            ("Hello__World", "hello-world"),
            ("a/b\\c:d;e,f|g", "a-b-c-d-e-f-g"),
            ("--Data Processing--", "data-processing"),
            ("héllo-wörld", "hllo-wrld"),
            (
                "data_processing/v2.1@production",
                "data-processing-v2-1-production",
            ),
        ] {
            assert_eq!(normalize_pipeline_name(input).unwrap(), expected, "{input}");
        }
        for refused in ["abc", "a-b", "!!!", "", "Help", "RESTORE!!", "validate"] {
            assert!(normalize_pipeline_name(refused).is_err(), "{refused}");
        }
    }
}
