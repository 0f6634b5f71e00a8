//! SOPS files made by the real `sops` with keys from the real `age-keygen`, decrypted by
//! drover and compared with what `sops --decrypt` prints; tampered files, foreign recipients,
//! several keys and oversized items. Both tools are required: a missing one fails the tests.

mod common;

use std::collections::BTreeMap;

use common::sops::Dir;
use drover::kinds::sops::{self, Identities, SopsError};
use drover::kinds::{self, Spec};

fn decrypt_tree(name: &str, text: &str, ids: &Identities) -> Result<serde_json::Value, SopsError> {
    let document = sops::parse(name, text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    sops::decrypt_tree(&document, ids)
}

fn decrypt(name: &str, text: &str, ids: &Identities) -> Result<Spec, SopsError> {
    let file = sops::read(name, text, None).unwrap_or_else(|e| panic!("{name}: {e:?}"));
    sops::decrypt(&file, ids)
}

const DOCUMENT: &str = "\
# a comment at the top
name: web
password: hunter2 # an inline comment
empty: \"\"
nothing: null
port: 8080
ratio: 0.25
whole: 2.0
negative: -17
enabled: true
disabled: false
quoted: \"123\"
nested:
  deeper:
    list:
      - one
      - 2
      - 3.5
      - false
      - \"\"
      - null
      - {inner: value, n: 1}
      - [a, b]
  other: x
port_unencrypted: 9090
note_unencrypted: in clear
config_unencrypted:
  level: debug
  count: 3
  ratio: 1.5
  flags: [true, 1, x]
";

const JSON_DOCUMENT: &str = r#"{
  "name": "web",
  "password": "hunter2",
  "empty": "",
  "nothing": null,
  "port": 8080,
  "ratio": 0.25,
  "enabled": true,
  "nested": {"list": [1, "two", 3.5, false, null, {"inner": "value"}, []], "map": {}},
  "port_unencrypted": 9090,
  "big_unencrypted": 1e3,
  "config_unencrypted": {"level": "debug", "ratio": 1.5}
}"#;

#[test]
fn whole_documents_decrypt_as_sops_decrypt_prints_them() {
    let dir = Dir::new();
    let recipient = dir.key("key.txt");
    let ids = dir.identities(&["key.txt"]);
    for (name, plaintext) in [("doc.yaml", DOCUMENT), ("doc.json", JSON_DOCUMENT)] {
        let encrypted = dir.encrypt(name, plaintext, &[&recipient]);
        assert!(!encrypted.contains("hunter2"), "{name} is encrypted");
        let expected = dir
            .sops_decrypt(name, &encrypted, "key.txt")
            .expect("sops decrypts");
        let ours = decrypt_tree(name, &encrypted, &ids).expect("drover decrypts");
        assert_eq!(ours, expected, "{name}");
        let keys: Vec<&String> = ours.as_object().expect("a map").keys().collect();
        let sops_keys: Vec<&String> = expected.as_object().expect("a map").keys().collect();
        assert_eq!(keys, sops_keys, "{name}: the file's key order");
    }
}

const VARIABLE: &str = "\
path_unencrypted: nomad/jobs/api
namespace_unencrypted: prod
items:
  db_password: hunter2
  api_key: \"\"
  port: 8080
  ratio: 1.5
  tls: true
  unset: null
  \"tls.crt\": |
    -----BEGIN CERTIFICATE-----
    abc
";

fn expected_spec(path: &str, namespace: Option<&str>) -> Spec {
    let items = BTreeMap::from(
        [
            ("db_password", "hunter2"),
            ("api_key", ""),
            ("port", "8080"),
            ("ratio", "1.5"),
            ("tls", "true"),
            ("unset", ""),
            ("tls.crt", "-----BEGIN CERTIFICATE-----\nabc\n"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    kinds::variable(path, "nomad/jobs/api", namespace, items).expect("valid")
}

#[test]
fn a_variable_file_decrypts_to_its_spec() {
    let dir = Dir::new();
    let recipient = dir.key("key.txt");
    let ids = dir.identities(&["key.txt"]);
    let encrypted = dir.encrypt("api.sops.yaml", VARIABLE, &[&recipient]);
    let spec = decrypt("secrets/api.sops.yaml", &encrypted, &ids).expect("decrypts");
    assert_eq!(spec, expected_spec("secrets/api.sops.yaml", Some("prod")));
    assert_eq!(spec.key(), "variable/prod/nomad/jobs/api");

    let json = r#"{"path_unencrypted": "nomad/jobs/api", "items": {"db_password": "hunter2", "api_key": "", "port": 8080, "ratio": 1.5, "tls": true, "unset": null, "tls.crt": "-----BEGIN CERTIFICATE-----\nabc\n"}}"#;
    let encrypted = dir.encrypt("api.sops.json", json, &[&recipient]);
    let spec = decrypt("secrets/api.sops.json", &encrypted, &ids).expect("decrypts");
    assert_eq!(spec, expected_spec("secrets/api.sops.json", None));
    assert_eq!(spec.namespace.as_deref(), Some("default"));
}

#[test]
fn variable_files_are_checked_offline() {
    let dir = Dir::new();
    let recipient = dir.key("key.txt");
    let errors = |name: &str, plaintext: &str| -> Vec<String> {
        let encrypted = dir.encrypt(name, plaintext, &[&recipient]);
        match sops::read(name, &encrypted, None) {
            Ok(_) => panic!("{plaintext:?} passed"),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    };
    assert_eq!(
        errors(
            "v.yaml",
            "path_unencrypted: nomad/other\npath: x\nitems:\n  a: b\n  deep:\n    c: d\n  list: [1]\n"
        ),
        [
            "v.yaml:1:1: invalid variable path \"nomad/other\": under the reserved `nomad/`, only `nomad/jobs`, `nomad/job-templates` and `nomad/sentinel` may hold variables",
            "v.yaml:2:1: unknown key `path`: sops encrypts it; name it `path_unencrypted`; a SOPS variable file holds `path_unencrypted`, `namespace_unencrypted` and `items`",
            "v.yaml:5:5: `items.deep` holds a map or a list: a Nomad variable's items are strings",
            "v.yaml:7:5: `items.list` holds a map or a list: a Nomad variable's items are strings",
        ]
    );
    let big = format!(
        "path_unencrypted: a\nitems:\n  blob: {}\n",
        "x".repeat(65533)
    );
    assert_eq!(
        errors("big.yaml", &big),
        [
            "big.yaml:2:1: variable \"a\": its items are 65537 bytes (keys and values), over Nomad's limit of 65536 bytes (64 KiB)"
        ]
    );
    let plain = sops::read("plain.yaml", "path_unencrypted: a\nitems:\n  k: v\n", None)
        .expect_err("not SOPS");
    assert_eq!(
        plain[0].to_string(),
        "plain.yaml: no `sops` block: not a SOPS file (encrypt it with `sops --encrypt --age <recipient>`)"
    );
}

/// `text` with the first `ENC[...]` data of the value at `key` changed by one character.
fn tamper_value(text: &str, key: &str) -> String {
    let start = text
        .find(&format!("{key}: ENC[AES256_GCM,data:"))
        .expect("the value");
    let at = start + key.len() + ": ENC[AES256_GCM,data:".len();
    let old = &text[at..at + 1];
    let new = if old == "A" { "B" } else { "A" };
    format!("{}{new}{}", &text[..at], &text[at + 1..])
}

#[test]
fn a_changed_file_is_refused_as_sops_refuses_it() {
    let dir = Dir::new();
    let recipient = dir.key("key.txt");
    let ids = dir.identities(&["key.txt"]);
    let encrypted = dir.encrypt("api.yaml", VARIABLE, &[&recipient]);

    let tampered = tamper_value(&encrypted, "db_password");
    let sops_says = dir
        .sops_decrypt("api.yaml", &tampered, "key.txt")
        .expect_err("sops refuses");
    assert!(sops_says.contains("Could not decrypt value"), "{sops_says}");
    let e = decrypt("api.yaml", &tampered, &ids).expect_err("tampered");
    assert!(
        matches!(&e, SopsError::Tampered { key, .. } if key == "items.db_password"),
        "{e:?}"
    );

    let moved = encrypted.replace("nomad/jobs/api", "nomad/jobs/apx");
    let sops_says = dir
        .sops_decrypt("api.yaml", &moved, "key.txt")
        .expect_err("sops refuses");
    assert!(sops_says.contains("MAC mismatch"), "{sops_says}");
    let e = decrypt("api.yaml", &moved, &ids).expect_err("MAC");
    assert!(matches!(e, SopsError::MacMismatch { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "api.yaml: MAC mismatch: the file was changed after it was encrypted (a value in clear, a key, the order, or `lastmodified`)"
    );
}

#[test]
fn keys_and_recipients() {
    let dir = Dir::new();
    let alice = dir.key("alice.txt");
    let bob = dir.key("bob.txt");
    let carol = dir.key("carol.txt");

    let for_alice = dir.encrypt("a.yaml", VARIABLE, &[&alice]);
    let file = sops::read("a.yaml", &for_alice, None).expect("valid");
    // The file names `prod`: read by a source pinned to another namespace, it is refused before
    // any key is needed.
    let refused = sops::read("a.yaml", &for_alice, Some("staging")).expect_err("not staging's");
    assert!(
        refused[0]
            .to_string()
            .starts_with("a.yaml:2:1: variable \"nomad/jobs/api\" is in namespace \"prod\""),
        "{refused:?}"
    );
    assert_eq!(sops::recipients(&file), [alice.as_str()]);
    let e = sops::decrypt(&file, &dir.identities(&["bob.txt"])).expect_err("not for bob");
    let message = e.to_string();
    assert!(matches!(e, SopsError::NoIdentity { .. }), "{e:?}");
    assert!(
        message.contains(&alice) && message.contains(&bob),
        "{message}"
    );
    let both = dir.identities(&["bob.txt", "alice.txt"]);
    assert_eq!(
        sops::decrypt(&file, &both).expect("the second key matches"),
        expected_spec("a.yaml", Some("prod"))
    );

    let for_two = dir.encrypt("b.yaml", VARIABLE, &[&alice, &carol]);
    let file = sops::read("b.yaml", &for_two, None).expect("valid");
    assert_eq!(sops::recipients(&file), [alice.clone(), carol.clone()]);
    for key in ["alice.txt", "carol.txt"] {
        let spec = sops::decrypt(&file, &dir.identities(&[key])).expect(key);
        assert_eq!(spec, expected_spec("b.yaml", Some("prod")));
    }
}

#[test]
fn items_over_64_kib_once_decrypted_are_refused() {
    // A float's ciphertext says little about how long it prints: offline, each counts as one
    // byte, so only decryption finds these 6,000 items too large.
    let dir = Dir::new();
    let recipient = dir.key("key.txt");
    let items: String = (0..6000)
        .map(|i| format!("  k{i:04}: 0.123456789012\n"))
        .collect();
    let text = format!("path_unencrypted: nomad/jobs/big\nitems:\n{items}");
    let encrypted = dir.encrypt("big.yaml", &text, &[&recipient]);
    let file = sops::read("big.yaml", &encrypted, None).expect("fits, as far as read can tell");
    let e = sops::decrypt(&file, &dir.identities(&["key.txt"])).expect_err("too large");
    assert!(
        matches!(
            e,
            SopsError::TooLarge {
                size: 114_000,
                limit: 65_536,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "big.yaml: variable \"nomad/jobs/big\": its items are 114000 bytes (keys and values) once decrypted, over Nomad's limit of 65536 bytes (64 KiB)"
    );
}

#[test]
fn no_error_shows_a_secret() {
    let dir = Dir::new();
    let recipient = dir.key("key.txt");
    dir.key("other.txt");
    let ids = dir.identities(&["key.txt"]);
    let secret = "hunter2";
    let encrypted = dir.encrypt("api.yaml", VARIABLE, &[&recipient]);
    let key_file = std::fs::read_to_string(dir.path("key.txt")).expect("key");
    let secret_key = key_file
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("a secret key");

    let retyped = encrypted.replacen("type:str]", "type:secret]", 1);
    let mistyped = encrypted.replacen("type:str]", "type:int]", 1);
    let errors = [
        decrypt("api.yaml", &tamper_value(&encrypted, "db_password"), &ids).expect_err("tampered"),
        decrypt(
            "api.yaml",
            &encrypted.replace("nomad/jobs/api", "nomad/jobs/apx"),
            &ids,
        )
        .expect_err("MAC"),
        decrypt("api.yaml", &encrypted, &dir.identities(&["other.txt"])).expect_err("no key"),
        decrypt("api.yaml", &retyped, &ids).expect_err("unknown type"),
        decrypt("api.yaml", &mistyped, &ids).expect_err("not an int"),
        Identities::parse(&key_file.replace(secret_key, &format!("{secret_key}x")))
            .expect_err("a broken key"),
    ];
    let mut kinds = Vec::new();
    for e in errors {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains(secret), "{text}");
            assert!(!text.contains(&secret_key[15..]), "{text}");
        }
        kinds.push(std::mem::discriminant(&e));
    }
    kinds.dedup();
    assert_eq!(kinds.len(), 6, "each error is its own variant");
    assert!(!format!("{ids:?}").contains(&secret_key[15..]));
}
