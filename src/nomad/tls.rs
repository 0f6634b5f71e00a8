//! The TLS settings of a cluster turned into a `rustls::ClientConfig` for reqwest.
//!
//! Owns trust (a custom CA file and/or directory, else the system roots), the client
//! certificate for mTLS, `tls_server_name` (verify the server's certificate against a fixed
//! name, as Nomad's `server.<region>.nomad` certificates need) and `skip_verify`. Uses the
//! `ring` provider explicitly so no process-wide default has to be installed. Never opens a
//! connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::config::Tls;

/// Why the TLS settings cannot be used. Names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("both client_cert and client_key must be provided")]
    HalfClientAuth,
    #[error("tls_server_name {name:?} is not a valid DNS name or IP address")]
    ServerName { name: String },
    #[error("no trusted CA certificates: set ca_file or ca_path, or install system roots")]
    NoRoots,
    #[error("TLS configuration rejected: {0}")]
    Rustls(String),
}

/// Builds the client configuration. `https` says whether the address needs TLS at all; for a
/// plain `http://` address the system roots are not loaded (reqwest still needs a config).
pub fn client_config(tls: &Tls, https: bool) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = server_verifier(tls, https, &provider)?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => builder
            .with_client_auth_cert(read_certs(cert, "client_cert")?, read_key(key)?)
            .map_err(|e| TlsError::Rustls(e.to_string()))?,
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(TlsError::HalfClientAuth),
    };
    // Offer HTTP/2 so that many concurrent blocking queries share one connection (Nomad limits
    // connections per client address); HTTP/1.1 remains the fallback.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn server_verifier(
    tls: &Tls,
    https: bool,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
    if tls.skip_verify {
        tracing::warn!("TLS server certificate verification is disabled (skip_verify)");
        let algorithms = provider.signature_verification_algorithms;
        return Ok(Arc::new(Unverified {
            algorithms,
            accept: true,
        }));
    }
    let roots = roots(tls, https)?;
    if roots.is_empty() {
        // Only for a plain `http://` address without a CA: TLS never happens (redirects are
        // not followed), and webpki refuses an empty trust store.
        let algorithms = provider.signature_verification_algorithms;
        return Ok(Arc::new(Unverified {
            algorithms,
            accept: false,
        }));
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    match &tls.server_name {
        None => Ok(webpki),
        Some(name) => {
            let name = ServerName::try_from(name.clone())
                .map_err(|_| TlsError::ServerName { name: name.clone() })?;
            Ok(Arc::new(FixedName {
                inner: webpki,
                name,
            }))
        }
    }
}

/// The trust anchors: the configured CA file and directory together, or, when neither is set,
/// the system's roots.
fn roots(tls: &Tls, https: bool) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    if tls.ca_file.is_none() && tls.ca_path.is_none() {
        if https {
            add_system_roots(&mut store)?;
        }
        return Ok(store);
    }
    let mut files: Vec<PathBuf> = tls.ca_file.iter().cloned().collect();
    if let Some(dir) = &tls.ca_path {
        files.extend(pem_files_in(dir)?);
    }
    for file in files {
        for cert in read_certs(&file, "CA certificate")? {
            store
                .add(cert)
                .map_err(|e| file_error("CA certificate", &file, e))?;
        }
    }
    Ok(store)
}

/// Every regular file of a CA directory, like the `nomad` CLI's `-ca-path`; sorted so that
/// errors come out in a stable order.
fn pem_files_in(dir: &Path) -> Result<Vec<PathBuf>, TlsError> {
    let entries = std::fs::read_dir(dir).map_err(|e| file_error("ca_path", dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| file_error("ca_path", dir, e))?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn add_system_roots(store: &mut RootCertStore) -> Result<(), TlsError> {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::warn!(error = %err, "cannot load some system CA certificates");
    }
    let (added, ignored) = store.add_parsable_certificates(found.certs);
    tracing::debug!(added, ignored, "loaded system CA certificates");
    if store.is_empty() {
        return Err(TlsError::NoRoots);
    }
    Ok(())
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(what, path, e))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error("client_key", path, e))
}

fn file_error(what: &'static str, path: &Path, err: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        what,
        path: path.to_owned(),
        reason: err.to_string(),
    }
}

/// Verifies the chain as usual but checks the certificate's names against a configured name
/// instead of the address's host: the address is often an IP or a load balancer, while Nomad's
/// certificates name `server.<region>.nomad`.
#[derive(Debug)]
struct FixedName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A verifier without trust anchors. With `accept` (`skip_verify`) it takes any certificate but
/// still checks the handshake signatures, so the session is at least bound to the key the server
/// presented; without, it refuses every server (a plain `http://` client has nothing to trust).
#[derive(Debug)]
struct Unverified {
    algorithms: WebPkiSupportedAlgorithms,
    accept: bool,
}

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.accept {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "no trusted CA for a plain http:// address".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_ca(dir: &Path, name: &str) -> PathBuf {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("self-signed");
        let path = dir.join(name);
        std::fs::write(&path, cert.pem()).expect("write CA");
        path
    }

    #[test]
    fn custom_ca_file_and_directory_are_loaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_dir = dir.path().join("cas");
        std::fs::create_dir(&ca_dir).expect("mkdir");
        let file = write_ca(dir.path(), "ca.pem");
        write_ca(&ca_dir, "a.pem");
        write_ca(&ca_dir, "b.pem");
        let tls = Tls {
            ca_file: Some(file),
            ca_path: Some(ca_dir),
            ..Tls::default()
        };
        assert_eq!(roots(&tls, true).expect("roots").len(), 3);
        let config = client_config(&tls, true).expect("config");
        assert_eq!(config.alpn_protocols[0], b"h2");
    }

    #[test]
    fn a_file_without_certificates_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not a certificate\n").expect("write");
        let tls = Tls {
            ca_file: Some(path.clone()),
            ..Tls::default()
        };
        let err = client_config(&tls, true).expect_err("no certs");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        let missing = Tls {
            ca_file: Some(dir.path().join("nope.pem")),
            ..Tls::default()
        };
        assert!(matches!(
            client_config(&missing, true),
            Err(TlsError::File { .. })
        ));
    }

    #[test]
    fn client_cert_needs_its_key_and_server_name_must_be_valid() {
        let half = Tls {
            client_cert: Some("/c.pem".into()),
            ..Tls::default()
        };
        assert!(matches!(
            client_config(&half, false),
            Err(TlsError::HalfClientAuth)
        ));
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = write_ca(dir.path(), "ca.pem");
        let bad_name = Tls {
            ca_file: Some(ca),
            server_name: Some("not a name".into()),
            ..Tls::default()
        };
        assert!(matches!(
            client_config(&bad_name, true),
            Err(TlsError::ServerName { .. })
        ));
    }

    #[test]
    fn plain_http_needs_no_roots_and_skip_verify_needs_none() {
        assert!(client_config(&Tls::default(), false).is_ok());
        let skip = Tls {
            skip_verify: true,
            ..Tls::default()
        };
        assert!(client_config(&skip, true).is_ok());
    }
}
