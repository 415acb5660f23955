//! Embeds `migrations/` with checksums and lint rules applied at build time.

fn main() {
    pipeline_store_build::Embed::new("migrations").run();
}
