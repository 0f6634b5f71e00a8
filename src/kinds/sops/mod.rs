//! SOPS files: one Nomad variable kept encrypted in Git, as the `sops` tool writes it with age
//! recipients, read offline and decrypted in memory. Owns the SOPS document format (values,
//! key paths, the MAC), the age data key, and the variable file built on it. Never reads a
//! file or the environment by itself, never calls Nomad, never logs, and never puts a
//! decrypted value or the data key in an error or a `Debug` output.
//!
//! # Format
//! A SOPS-encrypted YAML file (JSON when its name ends in `.json`), encrypted with `sops
//! --encrypt --age <recipient>`. Its clear keys name the variable; `items` holds the values:
//!
//! ```yaml
//! path_unencrypted: nomad/jobs/api      # sops leaves keys ending in `_unencrypted` in clear
//! namespace_unencrypted: prod           # optional; `default` without it
//! items:
//!   db_password: hunter2                # encrypted by sops, like every item
//!   api_key: ""
//! sops: { ... }                         # written by sops: age recipients, lastmodified, mac
//! ```
//!
//! An item is a string in the variable: a string stays itself, a number or boolean becomes its
//! text as `sops --decrypt --output-type json` prints it (`8080`, `1.5`, `true`), `null` an
//! empty string. An item holding a map or a list is refused (Nomad variables are flat), and
//! so is any other top-level key (a typo never goes unnoticed). The path and namespace follow
//! Nomad's rules, and the items (keys and values) must fit Nomad's 64 KiB: checked offline as
//! far as the ciphertext tells (it is as long as the plaintext), and exactly once decrypted.
//!
//! Decryption itself takes any SOPS YAML or JSON document ([`parse`], [`decrypt_tree`]): nested
//! maps, lists, numbers, booleans, empty strings (which sops leaves in clear), `null`,
//! comments (not part of the MAC, so skipped) and values in clear under a key ending in the
//! file's `unencrypted_suffix` (or outside its `encrypted_suffix`). Only age recipients are
//! used; regular-expression rules and key groups (Shamir) are refused.
//!
//! # How a file is checked (`sops.go`, `cmd/sops/common/common.go`)
//! The data key opens every value with AES-256-GCM, its authenticated data the value's key
//! path. The MAC is SHA-512 over every scalar in file order (the plaintext of encrypted ones,
//! the clear ones as SOPS writes them), upper-case hex, stored encrypted with `lastmodified`
//! as authenticated data; a file whose MAC does not match is refused as a whole.

mod cipher;
mod keys;
mod tree;

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value as Json};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use self::cipher::{Enc, TypeError};
use self::tree::{Entry, Node, Value};
use super::variable::{self, MAX_SIZE, Part};
use super::{KindError, Spec};
use crate::render::Position;

pub use keys::Identities;

/// A SOPS document of any shape, read and checked offline: every value where SOPS encrypts is
/// an `ENC[...]` value (or an empty string or `null`, which SOPS leaves as they are).
#[derive(Clone, Debug)]
pub struct Document {
    path: String,
    data: Vec<Field>,
    meta: Meta,
}

/// A variable file (the format above), read offline.
#[derive(Clone, Debug)]
pub struct SopsFile {
    document: Document,
    var_path: String,
    namespace: Option<String>,
}

#[derive(Clone, Debug)]
struct Field {
    key: String,
    at: Position,
    data: Data,
}

/// A document's values, sorted into what the data key opens and what is in clear.
#[derive(Clone, Debug)]
enum Data {
    Map(Vec<Field>),
    List(Vec<Data>),
    /// A scalar in clear: under an `_unencrypted` key, or an empty string or `null`.
    Clear(Value),
    Sealed(Enc),
}

/// The `sops` block, as far as drover uses it (`stores/metadata.go`).
#[derive(Clone, Debug)]
struct Meta {
    /// Each age recipient and the armored age file holding the data key for it.
    age: Vec<(String, String)>,
    mac: Enc,
    /// `lastmodified` as the MAC's authenticated data.
    mac_aad: String,
    rule: Rule,
    mac_only_encrypted: bool,
}

/// Which values SOPS encrypts: all but those under a key ending in the suffix, or only those
/// under a key ending in it (`shouldBeEncrypted` in `sops.go`).
#[derive(Clone, Debug)]
enum Rule {
    Unencrypted(String),
    Encrypted(String),
}

impl Rule {
    fn encrypts(&self, path: &[&str]) -> bool {
        match self {
            Rule::Unencrypted(suffix) => !path.iter().any(|k| k.ends_with(suffix.as_str())),
            Rule::Encrypted(suffix) => path.iter().any(|k| k.ends_with(suffix.as_str())),
        }
    }
}

/// What can go wrong decrypting a SOPS file (or reading the identities for it). Never holds a
/// decrypted value or the data key: a value is named by its key path only.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error(
        "{file}: none of the age identities decrypts it: it is encrypted for {recipients:?}, the identities are for {identities:?}"
    )]
    NoIdentity {
        file: String,
        recipients: Vec<String>,
        identities: Vec<String>,
    },
    #[error("the age identity file does not parse: {problem}")]
    Identities { problem: String },
    #[error("{file}: the age data key for {recipient} does not open: {problem}")]
    DataKey {
        file: String,
        recipient: String,
        problem: String,
    },
    #[error(
        "{file}: the value at `{key}` does not decrypt: its ciphertext, nonce or tag was changed, or it was moved from another key"
    )]
    Tampered { file: String, key: String },
    #[error(
        "{file}: MAC mismatch: the file was changed after it was encrypted (a value in clear, a key, the order, or `lastmodified`)"
    )]
    MacMismatch { file: String },
    #[error("{file}: the value at `{key}` has the type `{kind}`, which SOPS does not write")]
    UnknownType {
        file: String,
        key: String,
        kind: String,
    },
    #[error("{file}: the value at `{key}` does not read as its type `{kind}`")]
    Mistyped {
        file: String,
        key: String,
        kind: String,
    },
    #[error(
        "{file}: variable {var_path:?}: its items are {size} bytes (keys and values) once decrypted, over Nomad's limit of {limit} bytes (64 KiB)"
    )]
    TooLarge {
        file: String,
        var_path: String,
        size: usize,
        limit: usize,
    },
    #[error("{file}: `items.{item}` holds a map or a list: a Nomad variable's items are strings")]
    NotFlat { file: String, item: String },
    #[error("{file}: {problems}")]
    Variable { file: String, problems: String },
}

/// Reads any SOPS document offline (no key): YAML, or JSON when `path` ends in `.json`.
pub fn parse(path: &str, text: &str) -> Result<Document, Vec<KindError>> {
    let error = |at: Option<Position>, message: String| KindError {
        path: path.to_owned(),
        position: at,
        message,
    };
    let entries = tree::parse(text).map_err(|e| vec![error(e.at, e.message)])?;
    let mut errors = Vec::new();
    let (sops, entries): (Vec<Entry>, Vec<Entry>) =
        entries.into_iter().partition(|e| e.key == "sops");
    let meta = match sops.into_iter().next() {
        Some(sops) => read_meta(&sops.node, &mut |at, m| errors.push(error(at, m))),
        None => {
            let message = "no `sops` block: not a SOPS file (encrypt it with `sops --encrypt --age <recipient>`)";
            errors.push(error(None, message.into()));
            None
        }
    };
    let Some(meta) = meta else {
        return Err(errors);
    };
    let data = sort_fields(entries, &meta.rule, &mut Vec::new(), &mut |at, m| {
        errors.push(error(Some(at), m))
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Document {
        path: path.to_owned(),
        data,
        meta,
    })
}

fn read_meta(node: &Node, error: &mut dyn FnMut(Option<Position>, String)) -> Option<Meta> {
    let Value::Map(entries) = &node.value else {
        error(Some(node.at), "`sops` must be a map".into());
        return None;
    };
    let get = |key: &str| entries.iter().find(|e| e.key == key);
    let text = |entry: &Entry| match &entry.node.value {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    };
    let mut ok = true;
    let mut required = |key: &str, error: &mut dyn FnMut(Option<Position>, String)| {
        let value = get(key).and_then(text);
        if value.is_none() {
            let at = get(key).map(|e| e.at).or(Some(node.at));
            error(at, format!("`sops.{key}` is missing or not a string"));
            ok = false;
        }
        value
    };
    let lastmodified = required("lastmodified", error);
    let mac = required("mac", error);
    required("version", error);
    let mac_aad = lastmodified.and_then(|t| {
        let aad = cipher::mac_aad(&t);
        if aad.is_none() {
            let at = get("lastmodified").map(|e| e.node.at);
            error(at, "`sops.lastmodified` is not an RFC 3339 time".into());
        }
        aad
    });
    let mac = mac.and_then(|m| {
        let enc = Enc::parse(&m);
        if enc.is_none() {
            let at = get("mac").map(|e| e.node.at);
            error(
                at,
                "`sops.mac` is not an `ENC[AES256_GCM,...]` value".into(),
            );
        }
        enc
    });
    for refused in [
        "key_groups",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ] {
        if let Some(entry) = get(refused) {
            let message = format!(
                "`sops.{refused}` is not supported: encrypt with age recipients and the default `_unencrypted` suffix"
            );
            error(Some(entry.at), message);
            ok = false;
        }
    }
    let rule = match (get("unencrypted_suffix"), get("encrypted_suffix")) {
        (Some(_), Some(entry)) => {
            let message =
                "`sops.unencrypted_suffix` and `sops.encrypted_suffix` exclude each other";
            error(Some(entry.at), message.into());
            ok = false;
            None
        }
        (Some(entry), None) => text(entry).map(Rule::Unencrypted),
        (None, Some(entry)) => text(entry).map(Rule::Encrypted),
        (None, None) => Some(Rule::Unencrypted("_unencrypted".into())),
    };
    let mac_only_encrypted = match get("mac_only_encrypted").map(|e| &e.node.value) {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            let at = get("mac_only_encrypted").map(|e| e.node.at);
            error(at, "`sops.mac_only_encrypted` must be a boolean".into());
            ok = false;
            false
        }
    };
    let age = read_age(get("age"), node.at, error);
    match (ok, mac, mac_aad, rule, age) {
        (true, Some(mac), Some(mac_aad), Some(rule), Some(age)) => Some(Meta {
            age,
            mac,
            mac_aad,
            rule,
            mac_only_encrypted,
        }),
        _ => None,
    }
}

/// The `age` list: at least one entry with `recipient` and `enc` (`stores/metadata.go`).
fn read_age(
    entry: Option<&Entry>,
    at: Position,
    error: &mut dyn FnMut(Option<Position>, String),
) -> Option<Vec<(String, String)>> {
    let no_age =
        "the `sops` block names no age recipient (`sops.age`): drover decrypts with age keys only";
    let Some(entry) = entry else {
        error(Some(at), no_age.into());
        return None;
    };
    let Value::List(stanzas) = &entry.node.value else {
        error(Some(entry.at), "`sops.age` must be a list".into());
        return None;
    };
    let mut age = Vec::new();
    for stanza in stanzas {
        let field = |key: &str| match &stanza.value {
            Value::Map(fields) => {
                fields
                    .iter()
                    .find(|f| f.key == key)
                    .and_then(|f| match &f.node.value {
                        Value::Str(s) if !s.is_empty() => Some(s.clone()),
                        _ => None,
                    })
            }
            _ => None,
        };
        match (field("recipient"), field("enc")) {
            (Some(recipient), Some(enc)) => age.push((recipient, enc)),
            _ => {
                let message = "an entry of `sops.age` needs a `recipient` and an `enc`";
                error(Some(stanza.at), message.into());
                return None;
            }
        }
    }
    if age.is_empty() {
        error(Some(entry.at), no_age.into());
        return None;
    }
    Some(age)
}

/// The document's values, checked against what SOPS would have encrypted: there, a string
/// must be `ENC[...]` (or empty), and no other scalar but `null` may stand.
fn sort_fields(
    entries: Vec<Entry>,
    rule: &Rule,
    path: &mut Vec<String>,
    error: &mut dyn FnMut(Position, String),
) -> Vec<Field> {
    entries
        .into_iter()
        .map(|entry| {
            path.push(entry.key.clone());
            let data = sort(entry.node, rule, path, error);
            path.pop();
            Field {
                key: entry.key,
                at: entry.at,
                data,
            }
        })
        .collect()
}

fn sort(
    node: Node,
    rule: &Rule,
    path: &mut Vec<String>,
    error: &mut dyn FnMut(Position, String),
) -> Data {
    match node.value {
        Value::Map(entries) => Data::Map(sort_fields(entries, rule, path, error)),
        Value::List(items) => Data::List(
            items
                .into_iter()
                .map(|item| sort(item, rule, path, error))
                .collect(),
        ),
        value => {
            let keys: Vec<&str> = path.iter().map(String::as_str).collect();
            if !rule.encrypts(&keys) {
                return Data::Clear(value);
            }
            match value {
                Value::Str(text) if text.is_empty() => Data::Clear(Value::Str(text)),
                Value::Null => Data::Clear(Value::Null),
                Value::Str(text) => match Enc::parse(&text) {
                    Some(enc) => Data::Sealed(enc),
                    None => {
                        let message = format!(
                            "`{}` is not an `ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]` value: encrypt the file with sops",
                            path.join(".")
                        );
                        error(node.at, message);
                        Data::Clear(Value::Null)
                    }
                },
                _ => {
                    let message = format!(
                        "`{}` is in clear where sops encrypts: encrypt the file with sops",
                        path.join(".")
                    );
                    error(node.at, message);
                    Data::Clear(Value::Null)
                }
            }
        }
    }
}

/// The top-level keys of a variable file besides `sops`.
const KEYS: [&str; 3] = ["path_unencrypted", "namespace_unencrypted", "items"];

/// Reads a variable file offline (no key): the SOPS document ([`parse`]), its keys, the
/// variable's path and namespace with Nomad's rules, every item encrypted and flat, and the
/// size as far as the ciphertext tells. `source_namespace` as for a plain variable file
/// ([`super::parse`]). Every problem found is returned.
pub fn read(
    path: &str,
    text: &str,
    source_namespace: Option<&str>,
) -> Result<SopsFile, Vec<KindError>> {
    let document = parse(path, text)?;
    let mut errors = Vec::new();
    let mut error = |at: Option<Position>, message: String| {
        errors.push(KindError {
            path: path.to_owned(),
            position: at,
            message,
        })
    };
    let get = |key: &str| document.data.iter().find(|f| f.key == key);
    for field in &document.data {
        if !KEYS.contains(&field.key.as_str()) {
            let hint = match field.key.as_str() {
                "path" | "namespace" => {
                    format!(": sops encrypts it; name it `{}_unencrypted`", field.key)
                }
                _ => String::new(),
            };
            let message = format!(
                "unknown key `{}`{hint}; a SOPS variable file holds `path_unencrypted`, `namespace_unencrypted` and `items`",
                field.key
            );
            error(Some(field.at), message);
        }
    }
    let clear_text = |key: &str, error: &mut dyn FnMut(Option<Position>, String)| {
        let field = get(key)?;
        match &field.data {
            Data::Clear(Value::Str(s)) => Some(s.clone()),
            _ => {
                error(Some(field.at), format!("`{key}` must be a string in clear"));
                None
            }
        }
    };
    let var_path = clear_text("path_unencrypted", &mut error);
    let namespace = clear_text("namespace_unencrypted", &mut error);
    if get("path_unencrypted").is_none() {
        let message = "no `path_unencrypted`: the file must name the variable's path";
        error(None, message.into());
    }
    // Each item stands in with as many bytes as its plaintext has at least: a string and an
    // integer are as long as their ciphertext, a float may print shorter.
    let mut placeholders = BTreeMap::new();
    let mut keys = BTreeMap::new();
    match get("items").map(|f| (f.at, &f.data)) {
        Some((_, Data::Map(items))) => {
            for item in items {
                keys.insert(item.key.clone(), item.at);
                let least = match &item.data {
                    Data::Sealed(enc) if enc.kind == "float" => 1,
                    Data::Sealed(enc) => enc.data.len(),
                    Data::Clear(Value::Null) => 0,
                    Data::Clear(Value::Str(s)) if s.is_empty() => 0,
                    Data::Clear(_) => {
                        let message = format!(
                            "`items.{}` is in clear: every item must be encrypted by sops",
                            item.key
                        );
                        error(Some(item.at), message);
                        continue;
                    }
                    Data::Map(_) | Data::List(_) => {
                        let message = format!(
                            "`items.{}` holds a map or a list: a Nomad variable's items are strings",
                            item.key
                        );
                        error(Some(item.at), message);
                        continue;
                    }
                };
                placeholders.insert(item.key.clone(), "x".repeat(least));
            }
        }
        Some((at, _)) => error(Some(at), "`items` must be a map".into()),
        None => {}
    }
    let position = |key: &str| get(key).map(|f| f.at);
    let (path_at, namespace_at, items_at) = (
        position("path_unencrypted"),
        position("namespace_unencrypted"),
        position("items"),
    );
    let locate = |part: Part| match part {
        Part::Path => path_at,
        Part::Namespace => namespace_at,
        Part::Items => items_at,
        Part::Key(key) => keys.get(key).copied(),
    };
    let namespaces = (namespace.as_deref(), source_namespace);
    if let Some(var_path) = &var_path
        && let Err(problems) = variable::build(path, var_path, namespaces, placeholders, &locate)
    {
        errors.extend(problems);
    }
    match var_path {
        Some(var_path) if errors.is_empty() => Ok(SopsFile {
            document,
            var_path,
            namespace: namespace.or_else(|| source_namespace.map(str::to_owned)),
        }),
        _ => {
            errors.sort_by_key(|e| e.position);
            Err(errors)
        }
    }
}

/// The age recipients the file is encrypted for, in the file's order.
pub fn recipients(file: &SopsFile) -> Vec<String> {
    file.document
        .meta
        .age
        .iter()
        .map(|(r, _)| r.clone())
        .collect()
}

/// Decrypts a whole document to what `sops --decrypt --output-type json` prints (keys in the
/// file's order), after checking its MAC.
pub fn decrypt_tree(document: &Document, identities: &Identities) -> Result<Json, SopsError> {
    let file = document.path.as_str();
    let key = identities.data_key(file, &document.meta.age)?;
    let mut mac = Sha512::new();
    if document.meta.mac_only_encrypted {
        // `MACOnlyEncryptedInitialization` in `sops.go`: SHA-256 of "sops", so that the two
        // kinds of MAC never match each other.
        mac.update(Sha256::digest(b"sops"));
    }
    let mut walk = Walk {
        file,
        key: &key,
        mac: &mut mac,
        mac_only_encrypted: document.meta.mac_only_encrypted,
        path: Vec::new(),
        shown: Vec::new(),
    };
    let mut tree = walk.fields(&document.data)?;
    let computed = crate::render::hex(&mac.finalize()).to_ascii_uppercase();
    let stored = document.meta.mac.open(&key, &document.meta.mac_aad);
    let matches = stored.is_some_and(|stored| bool::from(stored.ct_eq(computed.as_bytes())));
    if !matches {
        wipe(&mut tree);
        return Err(SopsError::MacMismatch { file: file.into() });
    }
    Ok(tree)
}

/// Decrypts a variable file to its [`Spec`], through [`super::variable`].
pub fn decrypt(file: &SopsFile, identities: &Identities) -> Result<Spec, SopsError> {
    let path = file.document.path.as_str();
    let mut tree = decrypt_tree(&file.document, identities)?;
    let items = items(path, &mut tree);
    wipe(&mut tree);
    let items = items?;
    let size = variable::size(&items);
    if size > MAX_SIZE {
        return Err(SopsError::TooLarge {
            file: path.into(),
            var_path: file.var_path.clone(),
            size,
            limit: MAX_SIZE,
        });
    }
    super::variable(path, &file.var_path, file.namespace.as_deref(), items).map_err(|errors| {
        SopsError::Variable {
            file: path.into(),
            problems: errors
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        }
    })
}

/// The decrypted items as strings, moved out of `tree`.
fn items(file: &str, tree: &mut Json) -> Result<BTreeMap<String, String>, SopsError> {
    let Some(Json::Object(items)) = tree.get_mut("items") else {
        return Ok(BTreeMap::new());
    };
    let mut strings = BTreeMap::new();
    for (key, value) in items.iter_mut() {
        let text = match value.take() {
            Json::String(s) => s,
            Json::Null => String::new(),
            Json::Bool(b) => b.to_string(),
            Json::Number(n) => n.to_string(),
            Json::Object(_) | Json::Array(_) => {
                return Err(SopsError::NotFlat {
                    file: file.into(),
                    item: key.clone(),
                });
            }
        };
        strings.insert(key.clone(), text);
    }
    Ok(strings)
}

/// Overwrites every string of a decrypted tree before it is dropped.
fn wipe(tree: &mut Json) {
    match tree {
        Json::String(s) => s.zeroize(),
        Json::Array(items) => items.iter_mut().for_each(wipe),
        Json::Object(map) => map.values_mut().for_each(wipe),
        Json::Null | Json::Bool(_) | Json::Number(_) => {}
    }
}

/// One pass over a document: decrypts each value and feeds the MAC in file order.
struct Walk<'a> {
    file: &'a str,
    key: &'a cipher::DataKey,
    mac: &'a mut Sha512,
    mac_only_encrypted: bool,
    /// The keys above the value, for its authenticated data.
    path: Vec<&'a str>,
    /// The same with list indices, to name the value in an error.
    shown: Vec<String>,
}

impl<'a> Walk<'a> {
    fn fields(&mut self, fields: &'a [Field]) -> Result<Json, SopsError> {
        let mut map = Map::new();
        for field in fields {
            self.path.push(&field.key);
            self.shown.push(field.key.clone());
            let value = self.data(&field.data);
            self.path.pop();
            self.shown.pop();
            match value {
                Ok(value) => {
                    map.insert(field.key.clone(), value);
                }
                Err(e) => {
                    wipe(&mut Json::Object(map));
                    return Err(e);
                }
            }
        }
        Ok(Json::Object(map))
    }

    fn data(&mut self, data: &'a Data) -> Result<Json, SopsError> {
        match data {
            Data::Map(fields) => self.fields(fields),
            Data::List(items) => {
                let mut list = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    if let Some(last) = self.shown.last_mut() {
                        last.push_str(&format!("[{index}]"));
                    }
                    let value = self.data(item);
                    if let Some(last) = self.shown.last_mut() {
                        last.truncate(last.rfind('[').unwrap_or(last.len()));
                    }
                    match value {
                        Ok(value) => list.push(value),
                        Err(e) => {
                            wipe(&mut Json::Array(list));
                            return Err(e);
                        }
                    }
                }
                Ok(Json::Array(list))
            }
            Data::Clear(value) => {
                if !self.mac_only_encrypted {
                    self.mac.update(cipher::mac_bytes(value));
                }
                Ok(json(value))
            }
            Data::Sealed(enc) => {
                let key = || self.shown.join(".");
                let plaintext = enc
                    .open(self.key, &cipher::aad(&self.path))
                    .ok_or_else(|| SopsError::Tampered {
                        file: self.file.into(),
                        key: key(),
                    })?;
                let value = cipher::typed(&enc.kind, &plaintext).map_err(|e| {
                    let (file, key, kind) = (self.file.into(), key(), enc.kind.clone());
                    match e {
                        TypeError::Unknown => SopsError::UnknownType { file, key, kind },
                        TypeError::Malformed => SopsError::Mistyped { file, key, kind },
                    }
                })?;
                self.mac.update(cipher::mac_bytes(&value));
                Ok(json(&value))
            }
        }
    }
}

/// A scalar as SOPS's JSON output writes it: Go prints a float without a fraction as an
/// integer (`1.0` as `1`), and has no JSON for NaN or infinities (kept as Go's text here).
fn json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Str(s) => Json::String(s.clone()),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Json::from(*f as i64),
        Value::Float(f) => match Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None => Json::String(String::from_utf8_lossy(&cipher::mac_bytes(value)).into_owned()),
        },
        Value::Map(_) | Value::List(_) => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use age::armor::{ArmoredWriter, Format};
    use age::secrecy::ExposeSecret;
    use zeroize::Zeroizing;

    use super::cipher::tests::seal;
    use super::*;

    const LASTMODIFIED: &str = "2024-05-01T10:20:30Z";

    /// `payload` as an armored age file for `recipient`, as sops writes a data key.
    fn age_stanza(recipient: &age::x25519::Recipient, payload: &[u8]) -> String {
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
                .expect("encryptor");
        let armored = ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor).expect("armor");
        let mut writer = encryptor.wrap_output(armored).expect("writer");
        writer.write_all(payload).expect("write");
        let armored = writer.finish().expect("finish").finish().expect("finish");
        String::from_utf8(armored).expect("ASCII")
    }

    /// A SOPS YAML document of `body` whose MAC is SHA-512 over `mac_input`.
    fn document(key: &[u8; 32], body: &str, mac_input: &[&[u8]], only_encrypted: bool) -> String {
        let identity = age::x25519::Identity::generate();
        let mut mac = Sha512::new();
        if only_encrypted {
            mac.update(Sha256::digest(b"sops"));
        }
        mac_input.iter().for_each(|bytes| mac.update(bytes));
        let mac = crate::render::hex(&mac.finalize()).to_ascii_uppercase();
        let key = Zeroizing::new(*key);
        let stanza = age_stanza(&identity.to_public(), &key[..]).replace('\n', "\n        ");
        format!(
            "{body}sops:\n  age:\n    - recipient: {}\n      enc: |\n        {stanza}\n  lastmodified: \"{LASTMODIFIED}\"\n  mac: {}\n  mac_only_encrypted: {only_encrypted}\n  version: 3.11.0\n# identity: {}\n",
            identity.to_public(),
            seal(&key, LASTMODIFIED, &mac, "str"),
            identity.to_string().expose_secret(),
        )
    }

    /// The identity a [`document`] names in its last line.
    fn identity_of(text: &str) -> Identities {
        let line = text.lines().last().expect("a line");
        Identities::parse(line.trim_start_matches("# identity: ")).expect("identity")
    }

    fn body(key: &[u8; 32]) -> String {
        let key = Zeroizing::new(*key);
        format!(
            "a: {}\nb_unencrypted: 2\nc:\n  - {}\n  - null\n  - d:\n      e: {}\nf: \"\"\n",
            seal(&key, "a:", "1", "str"),
            seal(&key, "c:", "x", "str"),
            seal(&key, "c:d:e:", "True", "bool"),
        )
    }

    #[test]
    fn the_mac_covers_every_value_in_file_order() {
        let key = [9u8; 32];
        let text = document(&key, &body(&key), &[b"1", b"2", b"x", b"True"], false);
        let doc = parse("d.yaml", &text).expect("valid");
        let tree = decrypt_tree(&doc, &identity_of(&text)).expect("decrypts");
        assert_eq!(
            tree,
            serde_json::json!({"a": "1", "b_unencrypted": 2, "c": ["x", null, {"d": {"e": true}}], "f": ""})
        );
        for wrong in [
            &[&b"2"[..], b"1", b"x", b"True"][..],
            &[b"1", b"x", b"True"],
            &[b"1", b"2", b"x", b"true"],
        ] {
            let text = document(&key, &body(&key), wrong, false);
            let doc = parse("d.yaml", &text).expect("valid");
            let e = decrypt_tree(&doc, &identity_of(&text)).expect_err("another MAC");
            assert!(matches!(e, SopsError::MacMismatch { .. }), "{e:?}");
        }
        let only = document(&key, &body(&key), &[b"1", b"x", b"True"], true);
        let doc = parse("d.yaml", &only).expect("valid");
        assert!(
            decrypt_tree(&doc, &identity_of(&only)).is_ok(),
            "mac_only_encrypted leaves clear values out, after its own prefix"
        );
    }

    #[test]
    fn values_must_be_encrypted_where_sops_encrypts() {
        let key = [9u8; 32];
        let text = document(&key, "a: plain\nb: 3\nok_unencrypted: 3\n", &[], false);
        let errors: Vec<String> = parse("d.yaml", &text)
            .expect_err("in clear")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            [
                "d.yaml:1:4: `a` is not an `ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]` value: encrypt the file with sops",
                "d.yaml:2:4: `b` is in clear where sops encrypts: encrypt the file with sops",
            ]
        );
    }

    #[test]
    fn a_stanza_without_a_data_key_is_named() {
        let identity = age::x25519::Identity::generate();
        let short = [5u8; 31];
        let stanza = age_stanza(&identity.to_public(), &short);
        let ids = Identities::parse(identity.to_string().expose_secret()).expect("identity");
        let e = ids
            .data_key("d.yaml", &[("age1x".into(), stanza)])
            .expect_err("31 bytes");
        assert_eq!(
            e.to_string(),
            "d.yaml: the age data key for age1x does not open: it holds 31 bytes, not a 32-byte data key"
        );
        assert!(!format!("{e:?}").contains("5, 5"));
    }

    #[test]
    fn an_item_holding_a_map_is_named_not_shown() {
        let mut tree = serde_json::json!({"items": {"ok": 1, "deep": {"x": "hunter2"}}});
        let e = items("v.yaml", &mut tree).expect_err("a map");
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(
            e.to_string(),
            "v.yaml: `items.deep` holds a map or a list: a Nomad variable's items are strings"
        );
    }
}
