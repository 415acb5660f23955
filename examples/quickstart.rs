//! Creates (or opens) a pipeline database, applies the schema's migrations and prints the
//! migration history.
//!
//! ```text
//! cargo run --example quickstart -- ./pipeline.db
//! ```

use pipeline_store::schema::OpenOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sqlite://./pipeline.db".to_owned());
    let (conn, report) =
        OpenOptions::new().open_with_migrator(&url, pipeline_store::schema::migrator())?;
    for step in &report.applied {
        println!(
            "applied {} {} in {:?}",
            step.version, step.description, step.elapsed
        );
    }
    println!("{url}:");
    for row in pipeline_store::schema::migrator().status(&conn)? {
        let installed = row
            .applied
            .as_ref()
            .map_or("-", |a| a.installed_on.as_str());
        println!(
            "  {:<14} {:<9} {:<20} {}",
            row.version, row.state, installed, row.description
        );
    }
    Ok(())
}
