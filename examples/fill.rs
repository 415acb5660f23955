//! Fills a database with pipelines shaped like the `scale` bench's, to try the command and the
//! library on a large file:
//!
//! ```sh
//! cargo run --release --example fill -- /tmp/big.db 100000
//! /usr/bin/time -v target/release/pipeline-store --db /tmp/big.db pipeline list > /dev/null
//! ```

#[path = "../benches/support/scale_data.rs"]
mod scale_data;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: fill PATH COUNT");
        std::process::exit(2);
    };
    if std::path::Path::new(path).exists() {
        eprintln!("{path} exists; give a new file");
        std::process::exit(2);
    }
    if let Err(e) = scale_data::fill(path, n) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
