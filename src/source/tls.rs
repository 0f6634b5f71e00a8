//! Trust for HTTPS Git servers: the system roots plus the source's `ca_file`, as a rustls
//! configuration (ring provider) handed to gix's reqwest backend. gix's own `http.sslCAInfo`
//! is ignored by that backend, hence this.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The client configuration for one source; an error text names the file at fault.
pub(super) fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    tracing::debug!(added, "loaded system CA certificates for Git");
    if let Some(path) = ca_file {
        let shown = path.display();
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("cannot read ca_file {shown}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("ca_file {shown} holds no PEM certificate"));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("ca_file {shown}: {e}"))?;
        }
    }
    if roots.is_empty() {
        return Err("no trusted CA certificates: install system roots or set ca_file".to_owned());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration rejected: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}
