//! Property tests: random operation sequences against a model, arbitrary strings, arbitrary
//! bytes as a database file.

use std::collections::{BTreeMap, BTreeSet};

use pipeline_store::model::{NewPipeline, NewStage, PipelineId, StageType};
use pipeline_store::repo::pipelines::{self, ListQuery, Status};
use pipeline_store::repo::{config, tags};
use pipeline_store::schema::OpenOptions;
use pipeline_store::{Error, initialize_database};
use proptest::prelude::*;

const NAMES: [&str; 5] = ["alpha", "bravo", "charlie", "delta", "echo"];
const KEYS: [&str; 3] = ["max_workers", "buffer", "mode"];
const TAGS: [&str; 3] = ["nightly", "secure", "archive"];

#[derive(Debug, Clone)]
enum Op {
    Create(usize),
    Rename(usize, usize),
    Archive(usize),
    Restore(usize),
    Delete(usize),
    SetConfig(usize, usize, String),
    RemoveConfig(usize, usize),
    AddTag(usize, usize),
    RemoveTag(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0..NAMES.len();
    prop_oneof![
        3 => n.clone().prop_map(Op::Create),
        1 => (n.clone(), 0..NAMES.len()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => n.clone().prop_map(Op::Archive),
        1 => n.clone().prop_map(Op::Restore),
        1 => n.clone().prop_map(Op::Delete),
        3 => (n.clone(), 0..KEYS.len(), "[a-z0-9]{0,4}").prop_map(|(p, k, v)| Op::SetConfig(p, k, v)),
        1 => (n.clone(), 0..KEYS.len()).prop_map(|(p, k)| Op::RemoveConfig(p, k)),
        2 => (n.clone(), 0..TAGS.len()).prop_map(|(p, t)| Op::AddTag(p, t)),
        1 => (n, 0..TAGS.len()).prop_map(|(p, t)| Op::RemoveTag(p, t)),
    ]
}

/// What the database should hold for one pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Model {
    id: PipelineId,
    archived: bool,
    configuration: BTreeMap<String, String>,
    tags: BTreeSet<String>,
}

/// The kind of result, compared between the model and the repository.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    NotFound,
    NameTaken,
}

fn outcome<T>(result: Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        Err(Error::NameTaken { .. }) => Outcome::NameTaken,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

fn apply(
    conn: &pipeline_store::rusqlite::Connection,
    model: &mut BTreeMap<String, Model>,
    op: &Op,
) -> (Outcome, Outcome) {
    let id_of = |model: &BTreeMap<String, Model>, n: usize| {
        model
            .get(NAMES[n])
            .map_or_else(PipelineId::new, |m| m.id.clone())
    };
    match op {
        Op::Create(n) => {
            let name = NAMES[*n];
            let actual = pipelines::create(
                conn,
                &NewPipeline::new(name).stage(NewStage::new("s", StageType::Checksum, "crc32")),
            );
            let expected = if model.contains_key(name) {
                Outcome::NameTaken
            } else {
                Outcome::Ok
            };
            if let Ok(created) = &actual {
                model.insert(
                    name.to_owned(),
                    Model {
                        id: created.id.clone(),
                        archived: false,
                        configuration: BTreeMap::new(),
                        tags: BTreeSet::new(),
                    },
                );
            }
            (expected, outcome(actual))
        }
        Op::Rename(a, b) => {
            let actual = pipelines::rename(conn, &id_of(model, *a), NAMES[*b]);
            let expected = match (model.contains_key(NAMES[*a]), model.contains_key(NAMES[*b])) {
                (false, _) => Outcome::NotFound,
                (true, true) if a != b => Outcome::NameTaken,
                _ => Outcome::Ok,
            };
            if expected == Outcome::Ok {
                let moved = model.remove(NAMES[*a]).expect("exists");
                model.insert(NAMES[*b].to_owned(), moved);
            }
            (expected, outcome(actual))
        }
        Op::Archive(n) | Op::Restore(n) => {
            let archive = matches!(op, Op::Archive(_));
            let id = id_of(model, *n);
            let actual = if archive {
                pipelines::archive(conn, &id)
            } else {
                pipelines::restore(conn, &id)
            };
            let expected = match model.get_mut(NAMES[*n]) {
                Some(m) => {
                    m.archived = archive;
                    Outcome::Ok
                }
                None => Outcome::NotFound,
            };
            (expected, outcome(actual))
        }
        Op::Delete(n) => {
            let actual = pipelines::delete(conn, &id_of(model, *n));
            let expected = if model.remove(NAMES[*n]).is_some() {
                Outcome::Ok
            } else {
                Outcome::NotFound
            };
            (expected, outcome(actual))
        }
        Op::SetConfig(n, k, v) => {
            let actual = config::set(conn, &id_of(model, *n), KEYS[*k], v);
            let expected = match model.get_mut(NAMES[*n]) {
                Some(m) => {
                    m.configuration.insert(KEYS[*k].to_owned(), v.clone());
                    Outcome::Ok
                }
                None => Outcome::NotFound,
            };
            (expected, outcome(actual))
        }
        Op::RemoveConfig(n, k) => {
            let actual = config::remove(conn, &id_of(model, *n), KEYS[*k]);
            let expected = match model
                .get_mut(NAMES[*n])
                .and_then(|m| m.configuration.remove(KEYS[*k]))
            {
                Some(_) => Outcome::Ok,
                None => Outcome::NotFound,
            };
            (expected, outcome(actual))
        }
        Op::AddTag(n, t) => {
            let actual = tags::add(conn, &id_of(model, *n), TAGS[*t]);
            let expected = match model.get_mut(NAMES[*n]) {
                Some(m) => {
                    m.tags.insert(TAGS[*t].to_owned());
                    Outcome::Ok
                }
                None => Outcome::NotFound,
            };
            (expected, outcome(actual))
        }
        Op::RemoveTag(n, t) => {
            let actual = tags::remove(conn, &id_of(model, *n), TAGS[*t]);
            let expected = if model
                .get_mut(NAMES[*n])
                .is_some_and(|m| m.tags.remove(TAGS[*t]))
            {
                Outcome::Ok
            } else {
                Outcome::NotFound
            };
            (expected, outcome(actual))
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn repository_operations_match_a_model(ops in prop::collection::vec(op(), 1..40)) {
        let conn = initialize_database(":memory:").expect("memory");
        let mut model = BTreeMap::new();
        for op in &ops {
            let (expected, actual) = apply(&conn, &mut model, op);
            prop_assert_eq!(expected, actual, "{:?}", op);
        }
        let stored: BTreeMap<String, Model> = pipelines::list_full(&conn, &ListQuery::all().limit(100))
            .expect("list")
            .into_iter()
            .map(|p| (p.name.clone(), Model { id: p.id, archived: p.archived, configuration: p.configuration, tags: p.tags }))
            .collect();
        prop_assert_eq!(&stored, &model);
        let active = model.values().filter(|m| !m.archived).count() as u64;
        prop_assert_eq!(pipelines::count(&conn, Status::Active).expect("count"), active);
        prop_assert_eq!(pipelines::count(&conn, Status::Archived).expect("count"), model.len() as u64 - active);
        for (name, m) in model.iter().filter(|(_, m)| !m.archived) {
            for (key, value) in &m.configuration {
                let found = pipelines::find_by_config(&conn, key, value).expect("find");
                prop_assert!(found.iter().any(|p| &p.name == name), "{} {}={}", name, key, value);
            }
        }
    }

    #[test]
    fn arbitrary_strings_round_trip(
        name in "[^\\p{Cc}]{1,80}".prop_filter("not blank", |s| !s.trim().is_empty()),
        stage_name in "[^\\p{Cc}]{1,40}".prop_filter("not blank", |s| !s.trim().is_empty()),
        key in any::<String>().prop_filter("not empty", |s| !s.is_empty()),
        value in any::<String>(),
        tag in "[^\\p{Cc}]{1,40}".prop_filter("not blank", |s| !s.trim().is_empty()),
    ) {
        let conn = initialize_database(":memory:").expect("memory");
        let new = NewPipeline::new(name.clone())
            .stage(NewStage::new(stage_name.clone(), StageType::parse(&stage_name), stage_name.clone()).parameter(key.clone(), value.clone()))
            .config(key.clone(), value.clone())
            .tag(tag.clone());
        let created = pipelines::create(&conn, &new).expect("valid input is accepted");
        let loaded = pipelines::find_by_name(&conn, &name).expect("read").expect("found");
        prop_assert_eq!(&loaded, &created);
        prop_assert_eq!(&loaded.configuration[&key], &value);
        prop_assert_eq!(&loaded.stages[0].parameters[&key], &value);
        prop_assert!(loaded.tags.contains(&tag));
    }

}

/// Operations on the stages and metrics of one pipeline.
#[derive(Debug, Clone)]
enum StageOp {
    Add(Option<u32>),
    Remove(usize),
    SetOrder(usize, u32),
    Reorder(Vec<usize>),
    Rename(usize),
    Metrics {
        duration_nanos: u64,
        start_nanos: u32,
    },
    Unchanged,
}

fn stage_op() -> impl Strategy<Value = StageOp> {
    prop_oneof![
        3 => prop::option::of(0_u32..8).prop_map(StageOp::Add),
        1 => (0_usize..8).prop_map(StageOp::Remove),
        3 => (0_usize..8, 0_u32..12).prop_map(|(i, o)| StageOp::SetOrder(i, o)),
        1 => prop::collection::vec(0_usize..100, 0..8).prop_map(StageOp::Reorder),
        1 => (0_usize..8).prop_map(StageOp::Rename),
        2 => (0_u64..5_000_000, 0_u32..1_000_000_000)
            .prop_map(|(duration_nanos, start_nanos)| StageOp::Metrics { duration_nanos, start_nanos }),
        1 => Just(StageOp::Unchanged),
    ]
}

/// Applies one operation to the database and to the model (stage names by order), and returns
/// what a write returned, to be compared with `get`.
fn apply_stage_op(
    conn: &pipeline_store::rusqlite::Connection,
    id: &PipelineId,
    model: &mut Vec<(String, u32)>,
    next_name: &mut u32,
    op: &StageOp,
) -> Option<pipeline_store::model::Pipeline> {
    use pipeline_store::model::{ProcessingMetrics, Timestamp};
    use pipeline_store::repo::stages;

    let stored = pipelines::get(conn, id).expect("get").expect("exists");
    let stage_at = |i: usize| stored.stages.get(i % stored.stages.len().max(1)).cloned();
    let next = model.iter().map(|(_, o)| o + 1).max().unwrap_or(0);
    match op {
        StageOp::Add(position) => {
            let name = format!("s{next_name}");
            *next_name += 1;
            let added = stages::add(
                conn,
                id,
                &NewStage::new(name.clone(), StageType::Transform, "x"),
                *position,
            )
            .expect("add");
            let order = position.map_or(next, |p| p.min(next));
            if order < next {
                for (_, o) in model.iter_mut().filter(|(_, o)| *o >= order) {
                    *o += 1;
                }
            }
            model.push((name, order));
            assert_eq!(added.order, order);
            None
        }
        StageOp::Remove(i) => {
            let stage = stage_at(*i)?;
            stages::remove(conn, &stage.id).expect("remove");
            model.retain(|(n, _)| *n != stage.name);
            for (_, o) in model.iter_mut().filter(|(_, o)| *o > stage.order) {
                *o -= 1;
            }
            None
        }
        StageOp::SetOrder(i, order) => {
            let mut stage = stage_at(*i)?;
            let taken = model.iter().any(|(n, o)| *o == *order && *n != stage.name);
            stage.order = *order;
            match stages::update(conn, &stage) {
                Ok(_) => {
                    assert!(!taken, "order {order} was taken");
                    model
                        .iter_mut()
                        .find(|(n, _)| *n == stage.name)
                        .expect("modelled")
                        .1 = *order;
                }
                Err(Error::InvalidInput { field, .. }) => {
                    assert!(taken, "refused {order}: {field}");
                    assert_eq!(field, "order");
                }
                Err(other) => panic!("{other}"),
            }
            None
        }
        StageOp::Reorder(seed) => {
            let mut ids: Vec<_> = stored.stages.iter().map(|s| s.id.clone()).collect();
            for (i, r) in seed.iter().enumerate().take(ids.len()) {
                let j = r % ids.len();
                ids.swap(i, j);
            }
            stages::reorder(conn, id, &ids).expect("reorder");
            for (order, stage_id) in (0_u32..).zip(&ids) {
                let name = &stored
                    .stages
                    .iter()
                    .find(|s| &s.id == stage_id)
                    .expect("known")
                    .name;
                model
                    .iter_mut()
                    .find(|(n, _)| n == name)
                    .expect("modelled")
                    .1 = order;
            }
            None
        }
        StageOp::Rename(i) => {
            let mut changed = stored.clone();
            let index = *i % changed.stages.len().max(1);
            let stage = changed.stages.get_mut(index)?;
            stage.algorithm.push('!');
            Some(pipelines::update(conn, &changed).expect("update"))
        }
        StageOp::Metrics {
            duration_nanos,
            start_nanos,
        } => {
            let mut changed = stored.clone();
            let mut run = ProcessingMetrics::default();
            run.processing_duration = Some(std::time::Duration::from_nanos(*duration_nanos));
            run.start_time = Some(
                Timestamp::parse(&format!("2025-06-01T12:00:00.{start_nanos:09}Z"))
                    .expect("rfc3339"),
            );
            changed.metrics = Some(run);
            Some(pipelines::update(conn, &changed).expect("update"))
        }
        StageOp::Unchanged => {
            let same = pipelines::update(conn, &stored).expect("update");
            assert_eq!(same, stored, "an unchanged update returns what is stored");
            Some(same)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn stage_orders_and_returned_values_match_a_model(
        initial in 0_usize..4,
        ops in prop::collection::vec(stage_op(), 1..30),
    ) {
        use pipeline_store::model::Timestamp;

        let conn = initialize_database(":memory:").expect("memory");
        let mut run = pipeline_store::model::ProcessingMetrics::default();
        run.processing_duration = Some(std::time::Duration::from_micros(1_500));
        run.start_time = Some(Timestamp::parse("2025-01-01T00:00:00.123456789Z").expect("rfc3339"));
        let new = (0..initial).fold(NewPipeline::new("staged").metrics(run), |p, i| {
            p.stage(NewStage::new(format!("s{i}"), StageType::Checksum, "sha256"))
        });
        let created = pipelines::create(&conn, &new).expect("create");
        prop_assert_eq!(&created, &pipelines::get(&conn, &created.id).expect("get").expect("exists"));
        let mut model: Vec<(String, u32)> =
            (0..initial).map(|i| (format!("s{i}"), u32::try_from(i).expect("small"))).collect();
        let mut next_name = u32::try_from(initial).expect("small");
        for op in &ops {
            let returned = apply_stage_op(&conn, &created.id, &mut model, &mut next_name, op);
            let loaded = pipelines::get(&conn, &created.id).expect("get").expect("exists");
            if let Some(returned) = returned {
                prop_assert_eq!(&returned, &loaded, "{:?}", op);
            }
            let mut expected = model.clone();
            expected.sort_by_key(|(_, o)| *o);
            let stored: Vec<(String, u32)> = loaded.stages.iter().map(|s| (s.name.clone(), s.order)).collect();
            prop_assert_eq!(&stored, &expected, "{:?}", op);
            let mut orders: Vec<u32> = stored.iter().map(|(_, o)| *o).collect();
            orders.dedup();
            prop_assert_eq!(orders.len(), stored.len(), "orders stay unique after {:?}", op);
            // Whatever get returns, update accepts unchanged.
            prop_assert_eq!(&pipelines::update(&conn, &loaded).expect("accepted"), &loaded);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_as_a_database_never_panic_nor_change_the_file(
        with_header in any::<bool>(),
        body in prop::collection::vec(any::<u8>(), 1..8192),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("input.db");
        let mut bytes = if with_header { b"SQLite format 3\0".to_vec() } else { Vec::new() };
        bytes.extend(body);
        std::fs::write(&path, &bytes).expect("write");
        let url = path.display().to_string();
        // Opening reads the file: refused, as not a database or (past a SQLite header) as a
        // damaged one.
        for result in [
            initialize_database(&url).map(drop),
            OpenOptions::new().read_only(true).open(&url).map(drop),
        ] {
            let refused = matches!(result, Err(Error::NotADatabase { .. }))
                || (with_header && matches!(result, Err(Error::Corrupt { .. })));
            prop_assert!(refused, "{:?}", result);
        }
        // These only look at the header: a SQLite header passes, anything else is refused.
        let exists = pipeline_store::database_exists(&url);
        let created = pipeline_store::create_database_if_missing(&url);
        if with_header {
            prop_assert!(matches!(exists, Ok(true)), "{:?}", exists);
            prop_assert!(matches!(created, Ok(false)), "{:?}", created);
        } else {
            prop_assert!(matches!(exists, Err(Error::NotADatabase { .. })), "{:?}", exists);
            prop_assert!(matches!(created, Err(Error::NotADatabase { .. })), "{:?}", created);
        }
        prop_assert_eq!(std::fs::read(&path).expect("read"), bytes, "the file is unchanged");
    }
}
