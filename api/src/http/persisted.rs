//! Automatic persisted queries, Apollo's protocol (supported by Apollo Client, Apollo Kotlin and iOS, urql, Relay's
//! persisted-query link and others): a client sends `extensions.persistedQuery.sha256Hash` instead of the document;
//! the first time (or after this instance forgot it) Steward answers `PersistedQueryNotFound` and the client sends the
//! hash with the document, which Steward checks against the hash and keeps.
//!
//! Documents are kept per tenant (per staff member for staff): a hash never runs a document another tenant sent, so a
//! tenant cannot confirm a guess of what another's documents say (an email written into one, say) by sending its hash.
//!
//! Done here rather than with async-graphql's `ApolloPersistedQueries` extension: any extension on the schema makes
//! async-graphql resolve every field through its extension chain, a cost the hot read would pay on every field for
//! something decided once per request.

use std::sync::Arc;

use sha2::{Digest, Sha256};

/// Documents by caller and hex SHA-256 of their text; bounded by the total length of the texts.
pub struct PersistedQueries {
    documents: quick_cache::sync::Cache<String, Arc<str>, TextLength>,
}

#[derive(Clone)]
struct TextLength;

impl quick_cache::Weighter<String, Arc<str>> for TextLength {
    fn weight(&self, _: &String, text: &Arc<str>) -> u64 {
        text.len() as u64 + 64
    }
}

/// What a request's `persistedQuery` extension asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Persisted {
    /// No extension: the document is in `query` as usual.
    None,
    /// The document was found (or given and checked): run it.
    Document,
    /// The hash is unknown here: the client must send the document with it.
    NotFound,
    /// Malformed, another version, or a document that does not hash to the hash given.
    Refused(String),
}

impl PersistedQueries {
    pub fn new(text_bytes: u64) -> Self {
        PersistedQueries {
            documents: quick_cache::sync::Cache::with_weighter(
                (text_bytes / 512).max(16) as usize,
                text_bytes.max(1),
                TextLength,
            ),
        }
    }

    /// Resolves the request's persisted query: fills in `query` from the hash, or checks and keeps the document sent
    /// with its hash, among the documents of `partition` (the caller's tenant, or the staff member).
    pub fn resolve(&self, request: &mut async_graphql::Request, partition: &str) -> Persisted {
        use async_graphql::Value;
        let Some(extension) = request.extensions.get("persistedQuery") else {
            return Persisted::None;
        };
        let Value::Object(fields) = extension else {
            return Persisted::Refused("`extensions.persistedQuery` must be an object".into());
        };
        match fields.get("version") {
            Some(Value::Number(n)) if n.as_i64() == Some(1) => {}
            _ => {
                return Persisted::Refused(
                    "`extensions.persistedQuery.version` must be 1 (Apollo's automatic persisted queries)".into(),
                );
            }
        }
        let hash = match fields.get("sha256Hash") {
            Some(Value::String(h)) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                h.to_ascii_lowercase()
            }
            _ => {
                return Persisted::Refused(
                    "`extensions.persistedQuery.sha256Hash` must be the hex SHA-256 of the document".into(),
                );
            }
        };
        let key = format!("{partition}/{hash}");
        if request.query.is_empty() {
            return match self.documents.get(&key) {
                Some(text) => {
                    request.query = text.to_string();
                    Persisted::Document
                }
                None => Persisted::NotFound,
            };
        }
        if hex::encode(Sha256::digest(request.query.as_bytes())) != hash {
            return Persisted::Refused("the document does not hash to `sha256Hash`".into());
        }
        self.documents
            .insert(key, Arc::from(request.query.as_str()));
        Persisted::Document
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, hash: &str) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(query);
        request.extensions.insert(
            "persistedQuery".into(),
            async_graphql::Value::from_json(
                serde_json::json!({ "version": 1, "sha256Hash": hash }),
            )
            .unwrap(),
        );
        request
    }

    #[test]
    fn a_hash_stands_for_the_document_once_it_was_sent() {
        let store = PersistedQueries::new(1 << 20);
        let text = "{ viewer { subject } }";
        let hash = hex::encode(Sha256::digest(text));
        assert_eq!(
            store.resolve(&mut request("", &hash), "t1"),
            Persisted::NotFound
        );
        assert!(matches!(
            store.resolve(&mut request("{ other }", &hash), "t1"),
            Persisted::Refused(_)
        ));
        assert_eq!(
            store.resolve(&mut request(text, &hash), "t1"),
            Persisted::Document
        );
        let mut again = request("", &hash.to_uppercase());
        assert_eq!(store.resolve(&mut again, "t1"), Persisted::Document);
        assert_eq!(again.query, text);
        // Another caller's documents are not found by their hash.
        assert_eq!(
            store.resolve(&mut request("", &hash), "t2"),
            Persisted::NotFound
        );
        assert_eq!(
            store.resolve(&mut async_graphql::Request::new(text), "t1"),
            Persisted::None
        );
        assert!(matches!(
            store.resolve(&mut request("", "abc"), "t1"),
            Persisted::Refused(_)
        ));
    }
}
