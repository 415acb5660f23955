//! `StageType`: what a stage does; known kinds and the text of any other.

use std::fmt;

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// What a stage does. Stored lowercase; read case-insensitively.
///
/// A stored value outside the known kinds (older databases hold `Custom`) loads as
/// [`StageType::Other`], which keeps the text and writes it back unchanged. A known name is never
/// an `Other`: [`StageType::parse`] is the only way to make one, so what is written is what is
/// read back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StageType {
    /// Compresses data (`compression`).
    Compression,
    /// Encrypts data (`encryption`).
    Encryption,
    /// Transforms data (`transform`).
    Transform,
    /// Computes or verifies a checksum (`checksum`).
    Checksum,
    /// Passes data through unchanged (`passthrough`).
    PassThrough,
    /// Any other kind, kept as stored (made by [`StageType::parse`]).
    Other(CustomStageType),
}

/// The text of a stage type outside the known kinds, as given or stored.
///
/// It is never the name of a known kind in any spelling: [`StageType::parse`] turns those into
/// their own variants.
///
/// ```
/// use pipeline_store::model::StageType;
///
/// let StageType::Other(custom) = StageType::parse("Custom") else { unreachable!() };
/// assert_eq!(custom.as_str(), "Custom");
/// assert_eq!(StageType::parse("COMPRESSION"), StageType::Compression);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CustomStageType(String);

impl CustomStageType {
    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CustomStageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StageType {
    /// The text stored in `pipeline_stages.stage_type`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Compression => "compression",
            Self::Encryption => "encryption",
            Self::Transform => "transform",
            Self::Checksum => "checksum",
            Self::PassThrough => "passthrough",
            Self::Other(text) => text.as_str(),
        }
    }

    /// Reads a stored or typed kind: known kinds case-insensitively (`pass_through` and
    /// `pass-through` too), anything else as [`StageType::Other`].
    ///
    /// ```
    /// use pipeline_store::model::StageType;
    ///
    /// assert_eq!(StageType::parse("Compression"), StageType::Compression);
    /// assert_eq!(StageType::parse("Custom").as_str(), "Custom");
    /// assert_eq!(StageType::parse("pass-through"), StageType::PassThrough);
    /// ```
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "compression" => Self::Compression,
            "encryption" => Self::Encryption,
            "transform" => Self::Transform,
            "checksum" => Self::Checksum,
            "passthrough" | "pass_through" | "pass-through" => Self::PassThrough,
            _ => Self::Other(CustomStageType(text.to_owned())),
        }
    }
}

impl From<&str> for StageType {
    /// The same as [`StageType::parse`].
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl fmt::Display for StageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ToSql for StageType {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(ValueRef::Text(
            self.as_str().as_bytes(),
        )))
    }
}

impl FromSql for StageType {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(Self::parse)
    }
}

/// The stored text (`compression`, or the custom text as given).
#[cfg(feature = "serde")]
impl serde::Serialize for StageType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Any text, as [`StageType::parse`] reads it: a known name is never an `Other`.
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for StageType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Self::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_types_keep_unknown_text() {
        assert_eq!(StageType::parse("PassThrough"), StageType::PassThrough);
        assert_eq!(StageType::parse("ENCRYPTION").as_str(), "encryption");
        assert_eq!(StageType::parse("Custom").as_str(), "Custom");
    }

    #[test]
    fn a_known_stage_type_is_never_other_in_any_spelling() {
        for known in [
            "compression",
            "Compression",
            "ENCRYPTION",
            "transform",
            "checksum",
            "passthrough",
            "pass_through",
            "Pass-Through",
        ] {
            let parsed = StageType::parse(known);
            assert!(!matches!(parsed, StageType::Other(_)), "{known}");
            // What is written reads back as the same value.
            assert_eq!(StageType::parse(parsed.as_str()), parsed, "{known}");
            assert_eq!(StageType::from(known), parsed);
        }
    }
}
