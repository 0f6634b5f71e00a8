//! `[nomad]` and `[clusters.NAME]` → [`Cluster`]: applies the `NOMAD_*` fallbacks (default
//! cluster only, file first, exactly the variables the `nomad` CLI reads), finds the token's
//! source, and checks what the CLI would reject. Reads no secret: a token is only located.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::cluster::{Cluster, Retry, Tls, UNIX_SCHEME};
use super::env::{self, Env};
use super::error::ConfigError;
use super::locate::KeyPath;
use super::notify::http_url;
use super::schema::{RawCluster, RawConfig};
use super::secret::Secret;
use super::{Ctx, DEFAULT_CLUSTER, DEFAULT_TOKEN_CREDENTIAL, check_name};

/// The `nomad` CLI's address when neither the file nor `NOMAD_ADDR` gives one.
const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";

const EMPTY: &str = "must not be empty; remove the key to leave it unset";

/// Resolves every cluster, the default one under the name `default`.
pub(super) fn clusters(
    raw: &RawConfig,
    cx: &Ctx,
) -> Result<BTreeMap<String, Arc<Cluster>>, ConfigError> {
    let default = Layer {
        raw: &raw.nomad,
        key: KeyPath::root("nomad"),
        name: DEFAULT_CLUSTER,
        env: Some(cx.env),
    };
    let mut out = BTreeMap::from([(DEFAULT_CLUSTER.to_owned(), Arc::new(default.resolve(cx)?))]);
    for (name, cluster) in &raw.clusters {
        let key = KeyPath::root("clusters").key(name);
        if name == DEFAULT_CLUSTER {
            return Err(cx.invalid(
                &key,
                "`default` is the cluster of the [nomad] table; pick another name",
            ));
        }
        check_name(name).map_err(|m| cx.invalid(&key, format!("cluster name {m}")))?;
        // Only the default cluster stands in for the `nomad` CLI, so only it reads NOMAD_*.
        let layer = Layer {
            raw: cluster,
            key,
            name,
            env: None,
        };
        out.insert(name.clone(), Arc::new(layer.resolve(cx)?));
    }
    Ok(out)
}

/// Where a value came from, so that an error names the key or the variable to fix.
enum Origin {
    File(KeyPath),
    Env(&'static str),
}

struct Setting<T> {
    value: T,
    origin: Origin,
}

impl Ctx<'_> {
    fn fail(&self, origin: &Origin, message: String) -> ConfigError {
        match origin {
            Origin::File(key) => self.invalid(key, message),
            Origin::Env(var) => ConfigError::Env { var, message },
        }
    }
}

/// One cluster table, plus the environment when it is the default cluster.
struct Layer<'a> {
    raw: &'a RawCluster,
    key: KeyPath,
    name: &'a str,
    env: Option<&'a Env>,
}

impl Layer<'_> {
    fn resolve(&self, cx: &Ctx) -> Result<Cluster, ConfigError> {
        let raw = self.raw;
        let address = self.address(cx)?;
        if address.scheme() == UNIX_SCHEME {
            self.refuse_tls(cx)?;
        }
        Ok(Cluster {
            name: self.name.to_owned(),
            address,
            token: self.token(cx)?,
            region: self.string(cx, "region", raw.region.as_ref(), env::NOMAD_REGION)?,
            namespace: self.string(
                cx,
                "namespace",
                raw.namespace.as_ref(),
                env::NOMAD_NAMESPACE,
            )?,
            tls: self.tls(cx)?,
            request_timeout: self.positive(cx, "request_timeout", raw.request_timeout)?,
            connect_timeout: self.positive(cx, "connect_timeout", raw.connect_timeout)?,
            retry: self.retry(cx)?,
            max_response_bytes: self.response_bytes(cx)?,
            blocking_wait: self.blocking_wait(cx)?,
            ui_url: raw
                .ui_url
                .as_deref()
                .map(|u| http_url(u).map_err(|m| cx.invalid(&self.key.key("ui_url"), m)))
                .transpose()?,
        })
    }

    /// At least 64 KiB (an error text or a small job list must fit), at most 1 GiB.
    fn response_bytes(&self, cx: &Ctx) -> Result<usize, ConfigError> {
        const RANGE: std::ops::RangeInclusive<u64> = 64 * 1024..=1024 * 1024 * 1024;
        let value = self.raw.max_response_bytes;
        if !RANGE.contains(&value) {
            let message = format!(
                "must be between {} and {} bytes",
                RANGE.start(),
                RANGE.end()
            );
            return Err(cx.invalid(&self.key.key("max_response_bytes"), message));
        }
        Ok(usize::try_from(value).unwrap_or(usize::MAX))
    }

    /// Nomad serves at most 5 minutes of a blocking query's wait; a longer one would only
    /// stretch the client's timeout past the server's.
    fn blocking_wait(&self, cx: &Ctx) -> Result<Duration, ConfigError> {
        let wait = self.positive(cx, "blocking_wait", self.raw.blocking_wait)?;
        if wait > Duration::from_secs(300) {
            return Err(cx.invalid(&self.key.key("blocking_wait"), "must be at most 5m"));
        }
        Ok(wait)
    }

    fn env_var(&self, var: &'static str) -> Option<Setting<String>> {
        let value = self.env?.get(var)?.to_owned();
        Some(Setting {
            value,
            origin: Origin::Env(var),
        })
    }

    /// A string key, else its variable; an empty string in the file is a mistake, not "unset".
    fn string(
        &self,
        cx: &Ctx,
        field: &str,
        file: Option<&String>,
        var: &'static str,
    ) -> Result<Option<String>, ConfigError> {
        match file {
            Some(value) if value.trim().is_empty() => Err(cx.invalid(&self.key.key(field), EMPTY)),
            Some(value) => Ok(Some(value.clone())),
            None => Ok(self.env_var(var).map(|s| s.value)),
        }
    }

    /// A path key (relative to the config file's directory), else its variable (relative to
    /// the working directory, as the CLI reads it).
    fn path(
        &self,
        cx: &Ctx,
        field: &str,
        file: Option<&PathBuf>,
        var: &'static str,
    ) -> Result<Option<Setting<PathBuf>>, ConfigError> {
        let Some(path) = file else {
            return Ok(self.env_var(var).map(|s| Setting {
                value: PathBuf::from(s.value),
                origin: s.origin,
            }));
        };
        let key = self.key.key(field);
        if path.as_os_str().is_empty() {
            return Err(cx.invalid(&key, EMPTY));
        }
        Ok(Some(Setting {
            value: cx.file_path(path),
            origin: Origin::File(key),
        }))
    }

    fn address(&self, cx: &Ctx) -> Result<url::Url, ConfigError> {
        let setting = match (&self.raw.address, self.env_var(env::NOMAD_ADDR)) {
            (Some(value), _) => Setting {
                value: value.clone(),
                origin: Origin::File(self.key.key("address")),
            },
            (None, Some(from_env)) => from_env,
            (None, None) if self.env.is_some() => Setting {
                value: DEFAULT_ADDRESS.to_owned(),
                origin: Origin::Env(env::NOMAD_ADDR),
            },
            (None, None) => {
                let example = "e.g. address = \"https://nomad.example.com:4646\"";
                return Err(cx.invalid(
                    &self.key.key("address"),
                    format!("missing: only [nomad] has a default; {example}"),
                ));
            }
        };
        parse_address(&setting.value).map_err(|m| cx.fail(&setting.origin, m))
    }

    fn token(&self, cx: &Ctx) -> Result<Option<Secret>, ConfigError> {
        let credential_key = self.key.key("token_credential");
        match (&self.raw.token_file, &self.raw.token_credential) {
            (Some(_), Some(_)) => Err(cx.invalid(
                &credential_key,
                "set token_file or token_credential, not both",
            )),
            (Some(path), None) => {
                if path.as_os_str().is_empty() {
                    return Err(cx.invalid(&self.key.key("token_file"), EMPTY));
                }
                Ok(Some(Secret::file(cx.file_path(path))))
            }
            (None, Some(name)) => credential(cx, &credential_key, name, "token_file").map(Some),
            (None, None) => Ok(self.implicit_token()),
        }
    }

    /// Default cluster only: `NOMAD_TOKEN`, else the credential `nomad-token` if systemd
    /// provides one, so a unit with `LoadCredential=nomad-token:...` needs no token key at all.
    fn implicit_token(&self) -> Option<Secret> {
        let env = self.env?;
        if let Some(token) = env.get(env::NOMAD_TOKEN) {
            return Some(Secret::value(token));
        }
        let path = Path::new(env.get(env::CREDENTIALS_DIRECTORY)?).join(DEFAULT_TOKEN_CREDENTIAL);
        path.is_file().then(|| Secret::file(path))
    }

    fn tls(&self, cx: &Ctx) -> Result<Tls, ConfigError> {
        let raw = self.raw;
        let cert = self.path(
            cx,
            "client_cert",
            raw.client_cert.as_ref(),
            env::NOMAD_CLIENT_CERT,
        )?;
        let key = self.path(
            cx,
            "client_key",
            raw.client_key.as_ref(),
            env::NOMAD_CLIENT_KEY,
        )?;
        self.check_pair(cx, cert.as_ref(), key.as_ref())?;
        let value = |s: Option<Setting<PathBuf>>| s.map(|s| s.value);
        Ok(Tls {
            ca_file: value(self.path(cx, "ca_file", raw.ca_file.as_ref(), env::NOMAD_CACERT)?),
            ca_path: value(self.path(cx, "ca_path", raw.ca_path.as_ref(), env::NOMAD_CAPATH)?),
            client_cert: value(cert),
            client_key: value(key),
            server_name: self.string(
                cx,
                "tls_server_name",
                raw.tls_server_name.as_ref(),
                env::NOMAD_TLS_SERVER_NAME,
            )?,
            skip_verify: self.skip_verify()?,
        })
    }

    /// The Task API socket serves plain HTTP (Nomad's own client only ever sends `http://` over
    /// it), so a TLS setting beside a `unix://` address is a mistake to point out rather than
    /// to drop silently: it says the operator expected a verified server.
    fn refuse_tls(&self, cx: &Ctx) -> Result<(), ConfigError> {
        let raw = self.raw;
        let keys = [
            ("ca_file", raw.ca_file.is_some(), env::NOMAD_CACERT),
            ("ca_path", raw.ca_path.is_some(), env::NOMAD_CAPATH),
            (
                "client_cert",
                raw.client_cert.is_some(),
                env::NOMAD_CLIENT_CERT,
            ),
            (
                "client_key",
                raw.client_key.is_some(),
                env::NOMAD_CLIENT_KEY,
            ),
            (
                "tls_server_name",
                raw.tls_server_name.is_some(),
                env::NOMAD_TLS_SERVER_NAME,
            ),
        ];
        let mut set = keys.iter().find_map(|&(field, in_file, var)| {
            if in_file {
                Some(Origin::File(self.key.key(field)))
            } else {
                self.env_var(var).map(|s| s.origin)
            }
        });
        if set.is_none() && self.skip_verify()? {
            set = Some(match raw.skip_verify {
                Some(_) => Origin::File(self.key.key("skip_verify")),
                None => Origin::Env(env::NOMAD_SKIP_VERIFY),
            });
        }
        match set {
            Some(origin) => Err(cx.fail(
                &origin,
                "a unix:// address is Nomad's Task API socket, which is plain HTTP: remove the \
                 TLS setting, or use an https:// address"
                    .to_owned(),
            )),
            None => Ok(()),
        }
    }

    /// The CLI's rule: a client certificate is useless without its key and the other way round.
    fn check_pair(
        &self,
        cx: &Ctx,
        cert: Option<&Setting<PathBuf>>,
        key: Option<&Setting<PathBuf>>,
    ) -> Result<(), ConfigError> {
        let (present, missing, var) = match (cert, key) {
            (Some(cert), None) => (cert, "client_key", env::NOMAD_CLIENT_KEY),
            (None, Some(key)) => (key, "client_cert", env::NOMAD_CLIENT_CERT),
            _ => return Ok(()),
        };
        let fix = match self.env {
            Some(_) => format!("set `{}` or {var}", self.key.key(missing)),
            None => format!("set `{}`", self.key.key(missing)),
        };
        let message = format!(
            "Both client cert and client key must be provided: {missing} is missing; {fix}"
        );
        Err(cx.fail(&present.origin, message))
    }

    fn skip_verify(&self) -> Result<bool, ConfigError> {
        if let Some(skip) = self.raw.skip_verify {
            return Ok(skip);
        }
        let Some(setting) = self.env_var(env::NOMAD_SKIP_VERIFY) else {
            return Ok(false);
        };
        env::parse_go_bool(&setting.value).ok_or_else(|| ConfigError::Env {
            var: env::NOMAD_SKIP_VERIFY,
            message: format!(
                "`{}` is not a boolean: use 1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False (Go's strconv.ParseBool)",
                setting.value
            ),
        })
    }

    fn positive(&self, cx: &Ctx, field: &str, value: Duration) -> Result<Duration, ConfigError> {
        if value.is_zero() {
            return Err(cx.invalid(&self.key.key(field), "must be greater than zero"));
        }
        Ok(value)
    }

    fn retry(&self, cx: &Ctx) -> Result<Retry, ConfigError> {
        let (min_delay, max_delay) = (self.raw.retry_min_delay, self.raw.retry_max_delay);
        if min_delay > max_delay {
            let message = format!(
                "{} is longer than retry_max_delay ({})",
                humantime::format_duration(min_delay),
                humantime::format_duration(max_delay)
            );
            return Err(cx.invalid(&self.key.key("retry_min_delay"), message));
        }
        Ok(Retry {
            max_retries: self.raw.max_retries,
            min_delay,
            max_delay,
        })
    }
}

/// `token_credential = NAME` → `$CREDENTIALS_DIRECTORY/NAME`. Any cluster may use it: it is an
/// explicit request for systemd's mechanism, not a `NOMAD_*` fallback. `file_key` names the
/// key to use instead when systemd is not there (sources use it for `password_credential`).
pub(super) fn credential(
    cx: &Ctx,
    key: &KeyPath,
    name: &str,
    file_key: &str,
) -> Result<Secret, ConfigError> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(cx.invalid(
            key,
            "must be a credential name (the NAME of LoadCredential=NAME:PATH), not a path",
        ));
    }
    let Some(dir) = cx.env.get(env::CREDENTIALS_DIRECTORY) else {
        let message = format!(
            "needs $CREDENTIALS_DIRECTORY, which is not set: run drover under systemd with LoadCredential={name}:/path/to/secret, or use {file_key}"
        );
        return Err(cx.invalid(key, message));
    };
    Ok(Secret::file(Path::new(dir).join(name)))
}

/// An http(s) URL with a host, or `unix:///absolute/path` (Nomad's Task API socket, written
/// as `NOMAD_ADDR` takes it). The value is never echoed: it could carry a password.
fn parse_address(value: &str) -> Result<url::Url, String> {
    let example = "write it like \"https://nomad.example.com:4646\"";
    let url = url::Url::parse(value).map_err(|e| format!("not a valid URL ({e}); {example}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain credentials; the token goes in token_file".to_owned());
    }
    if url.scheme() == UNIX_SCHEME {
        let socket = "write it like \"unix:///secrets/api.sock\" (three slashes: an absolute path)";
        if url.host().is_some() || url.path().len() <= 1 {
            return Err(format!("names no absolute socket path; {socket}"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("must be a bare socket path; {socket}"));
        }
        return Ok(url);
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme must be http, https or unix, not `{}`; {example}",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err(format!("has no host; {example}"));
    }
    Ok(url)
}
