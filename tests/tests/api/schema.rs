//! The checked-in `schema.graphql` is exactly what the code serves. Regenerate it with
//! `cargo run -- schema > schema.graphql`.

#[test]
fn schema_graphql_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    let checked_in = std::fs::read_to_string(&path).expect("schema.graphql at the repository root");
    let generated = steward::schema::sdl();
    assert!(
        checked_in == generated,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql` and commit it"
    );
}
