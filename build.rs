//! Embeds `migrations/*.sql` into the library, with the helper a host program uses for its own
//! (`pipeline-store-build`): the version and description parsed from each file name, the SQL
//! through `include_str!`, the SHA-384 checksum of the file's raw bytes computed here, any
//! declared equivalent checksums, and the text lint rules applied (a finding the header does
//! not allow fails the build, naming file and line). Cargo reruns this script whenever
//! `migrations/` changes, so adding a file and rebuilding is all it takes to ship a migration.

fn main() {
    pipeline_store_build::Embed::new("migrations")
        .output("embedded_migrations.rs")
        .crate_path("crate")
        .run();
}
