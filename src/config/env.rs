//! The environment as an input: the `NOMAD_*` variables the `nomad` CLI honours and systemd's
//! `CREDENTIALS_DIRECTORY`. Captured once (or built by tests) and passed to
//! [`super::Config::parse`], so no code path reads or mutates the process environment behind
//! the caller's back.

use std::collections::BTreeMap;
use std::fmt;

pub const NOMAD_ADDR: &str = "NOMAD_ADDR";
pub const NOMAD_TOKEN: &str = "NOMAD_TOKEN";
pub const NOMAD_REGION: &str = "NOMAD_REGION";
pub const NOMAD_NAMESPACE: &str = "NOMAD_NAMESPACE";
pub const NOMAD_CACERT: &str = "NOMAD_CACERT";
pub const NOMAD_CAPATH: &str = "NOMAD_CAPATH";
pub const NOMAD_CLIENT_CERT: &str = "NOMAD_CLIENT_CERT";
pub const NOMAD_CLIENT_KEY: &str = "NOMAD_CLIENT_KEY";
pub const NOMAD_TLS_SERVER_NAME: &str = "NOMAD_TLS_SERVER_NAME";
pub const NOMAD_SKIP_VERIFY: &str = "NOMAD_SKIP_VERIFY";
/// Set by systemd to the directory holding `LoadCredential=` files.
pub const CREDENTIALS_DIRECTORY: &str = "CREDENTIALS_DIRECTORY";

/// Every variable drover reads; nothing else is captured from the process.
pub const VARS: &[&str] = &[
    NOMAD_ADDR,
    NOMAD_TOKEN,
    NOMAD_REGION,
    NOMAD_NAMESPACE,
    NOMAD_CACERT,
    NOMAD_CAPATH,
    NOMAD_CLIENT_CERT,
    NOMAD_CLIENT_KEY,
    NOMAD_TLS_SERVER_NAME,
    NOMAD_SKIP_VERIFY,
    CREDENTIALS_DIRECTORY,
];

/// A snapshot of the variables in [`VARS`]. Its `Debug` shows names only (`NOMAD_TOKEN` is a
/// secret).
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    /// The current process's values of [`VARS`]. A value that is not UTF-8 counts as unset:
    /// none of these variables can meaningfully hold one.
    pub fn from_process() -> Self {
        VARS.iter()
            .filter_map(|name| std::env::var(name).ok().map(|v| (*name, v)))
            .collect()
    }

    /// Adds or replaces one variable (for tests and embedding).
    pub fn with(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The value of `name`; an empty value counts as unset, as in the Nomad CLI.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Env {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let vars = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self { vars }
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

/// Go's `strconv.ParseBool`, which the Nomad CLI applies to `NOMAD_SKIP_VERIFY`.
pub(super) fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}
