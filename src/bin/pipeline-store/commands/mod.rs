//! One module per command group; each function prints its result and returns an `Outcome`.

pub(crate) mod backup;
pub(crate) mod check;
pub(crate) mod init;
pub(crate) mod migrate;
pub(crate) mod pipeline;
