//! Test PKI: a CA, a server certificate and a client certificate made with rcgen, written as
//! PEM files (drover reads files, like the `nomad` CLI), and the simulator's rustls server
//! configuration requiring a client certificate from that CA.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// One certificate authority and the files signed by it.
pub struct Pki {
    _dir: tempfile::TempDir,
    pub ca_file: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    ca_der: CertificateDer<'static>,
    server_der: CertificateDer<'static>,
    server_key: Vec<u8>,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, rcgen::Certificate) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).expect("CA cert");
    (params, key, cert)
}

fn leaf(
    names: &[&str],
    purpose: ExtendedKeyUsagePurpose,
    issuer: &Issuer<'_, KeyPair>,
) -> (rcgen::Certificate, KeyPair) {
    let key = KeyPair::generate().expect("leaf key");
    let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
    let mut params = CertificateParams::new(names).expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, "drover test");
    params.extended_key_usages = vec![purpose];
    (params.signed_by(&key, issuer).expect("leaf cert"), key)
}

impl Pki {
    /// A CA, a server certificate for `server_names` (DNS names or IPs) and a client certificate.
    pub fn new(server_names: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (params, key, ca_cert) = ca("drover test CA");
        let issuer = Issuer::new(params, key);
        let (server, server_key) = leaf(server_names, ExtendedKeyUsagePurpose::ServerAuth, &issuer);
        let (client, client_key) = leaf(&[], ExtendedKeyUsagePurpose::ClientAuth, &issuer);
        let write = |name: &str, pem: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, pem).expect("write PEM");
            path
        };
        let ca_file = write("ca.pem", ca_cert.pem());
        let client_cert = write("client.pem", client.pem());
        let client_key = write("client-key.pem", client_key.serialize_pem());
        Self {
            ca_file,
            client_cert,
            client_key,
            ca_der: ca_cert.der().clone(),
            server_der: server.der().clone(),
            server_key: server_key.serialize_der(),
            _dir: dir,
        }
    }

    /// The simulator's TLS configuration: this server certificate, and a client certificate
    /// signed by this CA required in the handshake (Nomad's `verify_https_client = true`).
    pub fn server_config(&self) -> rustls::ServerConfig {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("CA root");
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .expect("client verifier");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.server_der.clone(), self.ca_der.clone()], key)
            .expect("server config")
    }
}
