//! Field errors the way the GraphQL spec answers them (section 6.4.4, "Handling Field Errors"): an errored field is
//! present as `null`, with its error at its path; a non-null field's error makes its nearest nullable ancestor `null`.
//!
//! async-graphql leaves an errored field out of its object and turns an object whose selected fields all errored into
//! `null` (inside a non-null list too), which clients generated from the schema (Apollo iOS and Kotlin, Relay) fail
//! on. [`complete`] reshapes the answer after execution from the errors' paths, the document's selections and the
//! schema's field types. A response without errors is not touched, so the hot read pays nothing.

use std::collections::HashMap;
use std::sync::LazyLock;

use async_graphql::parser::types::{
    BaseType, DocumentOperations, ExecutableDocument, Field, OperationType, Selection,
    SelectionSet, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, PathSegment, Response, Value};

/// The declared type of every field of every object and interface type, by type and field name.
pub struct FieldTypes {
    types: HashMap<String, HashMap<String, Type>>,
}

/// The served schema's field types, read once from its SDL.
static SERVED: LazyLock<FieldTypes> =
    LazyLock::new(|| FieldTypes::from_sdl(&super::sdl()).expect("the schema's own SDL parses"));

/// Reshapes `response` for the operation of `document` that ran (named `operation`, if the request named one).
pub fn complete(response: &mut Response, document: &ExecutableDocument, operation: Option<&str>) {
    SERVED.complete(response, document, operation)
}

impl FieldTypes {
    pub fn from_sdl(sdl: &str) -> Result<Self, async_graphql::parser::Error> {
        let document = async_graphql::parser::parse_schema(sdl)?;
        let mut types = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let fields = match definition.node.kind {
                TypeKind::Object(object) => object.fields,
                TypeKind::Interface(interface) => interface.fields,
                _ => continue,
            };
            let fields = fields
                .into_iter()
                .map(|f| (f.node.name.node.to_string(), f.node.ty.node))
                .collect();
            types.insert(definition.node.name.node.to_string(), fields);
        }
        Ok(FieldTypes { types })
    }

    fn field(&self, parent: &str, name: &str) -> Option<&Type> {
        self.types.get(parent)?.get(name)
    }

    pub fn complete(
        &self,
        response: &mut Response,
        document: &ExecutableDocument,
        operation: Option<&str>,
    ) {
        if response.errors.is_empty() {
            return;
        }
        let operation = match (&document.operations, operation) {
            (DocumentOperations::Single(op), _) => op,
            (DocumentOperations::Multiple(ops), Some(name)) => match ops.get(name) {
                Some(op) => op,
                None => return,
            },
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
                ops.values().next().expect("one operation")
            }
            _ => return,
        };
        let root = match operation.node.ty {
            OperationType::Query => "Query",
            OperationType::Mutation => "Mutation",
            OperationType::Subscription => return,
        };
        let mut nulls: Vec<(&[PathSegment], Vec<String>)> = Vec::new();
        for error in &response.errors {
            let Some((nullable, order)) = self.positions(
                document,
                root,
                &operation.node.selection_set.node,
                &error.path,
            ) else {
                continue;
            };
            match nullable.iter().rposition(|n| *n) {
                // The errored field itself: put back where the document selected it.
                Some(at) if at + 1 == nullable.len() => nulls.push((&error.path[..=at], order)),
                Some(at) => nulls.push((&error.path[..=at], Vec::new())),
                // Nothing on the way up may be null: the whole answer is.
                None => {
                    response.data = Value::Null;
                    return;
                }
            }
        }
        // Deepest first: a parent nulled by a non-null child's error stays null whatever was filled in below it.
        nulls.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
        for (path, order) in nulls {
            set_null(&mut response.data, path, &order);
        }
    }

    /// For each step of a field error's path, whether that position may be `null`, and the response keys the document
    /// selects beside the errored field, in order; `None` for a path this cannot follow (an introspection field, an
    /// unknown type), which is then left as it is.
    fn positions(
        &self,
        document: &ExecutableDocument,
        root: &str,
        selection: &SelectionSet,
        path: &[PathSegment],
    ) -> Option<(Vec<bool>, Vec<String>)> {
        if path.is_empty() {
            return None;
        }
        let mut sets = vec![selection];
        let mut parent = root.to_owned();
        let mut current: Option<&Type> = None;
        let mut nullable = Vec::with_capacity(path.len());
        let mut order = Vec::new();
        for segment in path {
            match segment {
                PathSegment::Field(key) => {
                    order.clear();
                    for set in &sets {
                        keys_in_order(document, set, 0, &mut order);
                    }
                    let mut found = Vec::new();
                    for set in &sets {
                        collect(document, set, key, None, 0, &mut found);
                    }
                    let (field, condition) = *found.first()?;
                    let name = field.name.node.as_str();
                    if name.starts_with("__") {
                        return None;
                    }
                    let ty = condition
                        .and_then(|on| self.field(on, name))
                        .or_else(|| self.field(&parent, name))?;
                    nullable.push(ty.nullable);
                    parent = named(ty).to_owned();
                    current = Some(ty);
                    sets = found.iter().map(|(f, _)| &f.selection_set.node).collect();
                }
                PathSegment::Index(_) => {
                    let BaseType::List(item) = &current?.base else {
                        return None;
                    };
                    nullable.push(item.nullable);
                    current = Some(item);
                }
            }
        }
        Some((nullable, order))
    }
}

fn named(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(item) => named(item),
    }
}

/// The fields of `set` answering under `key`, through fragments, with the type condition they were selected under.
fn collect<'a>(
    document: &'a ExecutableDocument,
    set: &'a SelectionSet,
    key: &str,
    condition: Option<&'a str>,
    depth: usize,
    found: &mut Vec<(&'a Field, Option<&'a str>)>,
) {
    // Validation refuses fragment cycles; the bound only keeps a bug from recursing for ever.
    if depth > 32 {
        return;
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(field) if field.node.response_key().node.as_str() == key => {
                found.push((&field.node, condition));
            }
            Selection::Field(_) => {}
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    let on = fragment.node.type_condition.node.on.node.as_str();
                    collect(
                        document,
                        &fragment.node.selection_set.node,
                        key,
                        Some(on),
                        depth + 1,
                        found,
                    );
                }
            }
            Selection::InlineFragment(inline) => {
                let on = inline
                    .node
                    .type_condition
                    .as_ref()
                    .map(|c| c.node.on.node.as_str())
                    .or(condition);
                collect(
                    document,
                    &inline.node.selection_set.node,
                    key,
                    on,
                    depth + 1,
                    found,
                );
            }
        }
    }
}

/// The response keys `set` selects, in document order, through fragments, each once.
fn keys_in_order(
    document: &ExecutableDocument,
    set: &SelectionSet,
    depth: usize,
    out: &mut Vec<String>,
) {
    if depth > 32 {
        return;
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let key = field.node.response_key().node.as_str();
                if !out.iter().any(|k| k == key) {
                    out.push(key.to_owned());
                }
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) {
                    keys_in_order(document, &fragment.node.selection_set.node, depth + 1, out);
                }
            }
            Selection::InlineFragment(inline) => {
                keys_in_order(document, &inline.node.selection_set.node, depth + 1, out);
            }
        }
    }
}

/// Makes the value at `path` `null`, turning the objects on the way that async-graphql answered as `null` (all their
/// selected fields errored) back into objects. A key put back goes where `order` (the selection's keys) has it.
fn set_null(data: &mut Value, path: &[PathSegment], order: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = data;
    for segment in parents {
        at = match segment {
            PathSegment::Field(key) => {
                if matches!(at, Value::Null) {
                    *at = Value::Object(Default::default());
                }
                let Value::Object(map) = at else {
                    return;
                };
                map.entry(Name::new(key)).or_insert(Value::Null)
            }
            PathSegment::Index(index) => {
                let Value::List(items) = at else {
                    return;
                };
                let Some(item) = items.get_mut(*index) else {
                    return;
                };
                item
            }
        };
    }
    match last {
        PathSegment::Field(key) => {
            if matches!(at, Value::Null) {
                *at = Value::Object(Default::default());
            }
            if let Value::Object(map) = at {
                map.insert(Name::new(key), Value::Null);
                let rank = |k: &Name| {
                    order
                        .iter()
                        .position(|o| o == k.as_str())
                        .unwrap_or(usize::MAX)
                };
                map.sort_by(|a, _, b, _| rank(a).cmp(&rank(b)));
            }
        }
        PathSegment::Index(index) => {
            if let Value::List(items) = at
                && let Some(item) = items.get_mut(*index)
            {
                *item = Value::Null;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::ServerError;

    const SDL: &str = "type Query { a: A! b: [B!]! c: [B] }\n\
                       type A { x: String y: Int! z: A }\n\
                       type B { v: String w: String! }";

    fn run(query: &str, data: serde_json::Value, paths: &[&[PathSegment]]) -> serde_json::Value {
        let types = FieldTypes::from_sdl(SDL).unwrap();
        let document = async_graphql::parser::parse_query(query).unwrap();
        let mut response = Response::new(Value::from_json(data).unwrap());
        response.errors = paths
            .iter()
            .map(|p| {
                let mut e = ServerError::new("no", None);
                e.path = p.to_vec();
                e
            })
            .collect();
        types.complete(&mut response, &document, None);
        response.data.into_json().unwrap()
    }

    fn f(s: &str) -> PathSegment {
        PathSegment::Field(s.into())
    }

    #[test]
    fn a_nullable_field_that_errored_is_null() {
        let out = run(
            "{ a { x y } }",
            serde_json::json!({"a": {"y": 1}}),
            &[&[f("a"), f("x")]],
        );
        assert_eq!(out, serde_json::json!({"a": {"y": 1, "x": null}}));
    }

    #[test]
    fn an_object_whose_fields_all_errored_is_still_an_object() {
        let out = run(
            "{ b { v } c { v } }",
            serde_json::json!({"b": [null, {"v": "ok"}], "c": [null]}),
            &[
                &[f("b"), PathSegment::Index(0), f("v")],
                &[f("c"), PathSegment::Index(0), f("v")],
            ],
        );
        assert_eq!(
            out,
            serde_json::json!({"b": [{"v": null}, {"v": "ok"}], "c": [{"v": null}]})
        );
    }

    #[test]
    fn a_non_null_error_nulls_the_nearest_nullable_position() {
        // `w: String!` in `[B]`: the item goes.
        let out = run(
            "{ c { v w } }",
            serde_json::json!({"c": [{"v": "1"}, {"v": "2", "w": "2"}]}),
            &[&[f("c"), PathSegment::Index(0), f("w")]],
        );
        assert_eq!(out, serde_json::json!({"c": [null, {"v": "2", "w": "2"}]}));
        // `w: String!` in `[B!]!` under a non-null root field: nothing on the way may be null, so the data is.
        let out = run(
            "{ b { w } }",
            serde_json::json!({"b": [null]}),
            &[&[f("b"), PathSegment::Index(0), f("w")]],
        );
        assert_eq!(out, serde_json::Value::Null);
        // Through an alias, a fragment and a nullable parent.
        let out = run(
            "{ first: a { ...F } } fragment F on A { z { y x } }",
            serde_json::json!({"first": {"z": {"x": "kept?"}}}),
            &[&[f("first"), f("z"), f("y")]],
        );
        assert_eq!(out, serde_json::json!({"first": {"z": null}}));
    }

    #[test]
    fn a_null_put_back_keeps_the_selection_order() {
        let types = FieldTypes::from_sdl(SDL).unwrap();
        let document =
            async_graphql::parser::parse_query("{ a { y x ...F } } fragment F on A { z { y } }")
                .unwrap();
        let mut response =
            Response::new(Value::from_json(serde_json::json!({"a": {"y": 1, "z": null}})).unwrap());
        let mut error = ServerError::new("no", None);
        error.path = vec![f("a"), f("x")];
        response.errors = vec![error];
        types.complete(&mut response, &document, None);
        let Value::Object(root) = &response.data else {
            panic!()
        };
        let Value::Object(a) = &root["a"] else {
            panic!()
        };
        let keys: Vec<&str> = a.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            keys,
            ["y", "x", "z"],
            "in the document's order, not appended"
        );
    }

    #[test]
    fn errors_without_a_path_change_nothing() {
        let out = run("{ a { x } }", serde_json::json!({"a": {"x": "1"}}), &[&[]]);
        assert_eq!(out, serde_json::json!({"a": {"x": "1"}}));
    }

    #[test]
    fn the_served_schema_is_read() {
        assert!(SERVED.field("DataSubject", "externalId").is_some());
        assert!(SERVED.field("PersonalData", "value").unwrap().nullable);
    }
}
