//! How the gateway's certificate is checked: the platform's certificate
//! store, a CA bundle, or (for rehearsals against a throw-away gateway)
//! any certificate.

use crate::TransportError;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;

/// How the gateway's certificate is checked.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    /// The certificate authorities this computer trusts (its platform
    /// store, as a browser would): a gateway with a public certificate.
    System,
    /// Only the certificates in this PEM file (one or a bundle).
    CaFile(std::path::PathBuf),
    /// Only the certificates in this PEM text: a loadgen agent gets its
    /// controller's CA this way, as the file is on another machine.
    CaPem(String),
    /// Any certificate: for rehearsals against a throw-away gateway only.
    Insecure,
}

/// A TLS client configuration trusting `trust`, TLS 1.3 only as the gateway.
pub fn client_config(trust: &Trust) -> Result<rustls::ClientConfig, TransportError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    Ok(match trust {
        Trust::System => builder
            .with_root_certificates(system_roots()?)
            .with_no_client_auth(),
        Trust::CaFile(path) => builder
            .with_root_certificates(read_roots(path)?)
            .with_no_client_auth(),
        Trust::CaPem(pem) => builder
            .with_root_certificates(roots_of(
                CertificateDer::pem_slice_iter(pem.as_bytes()).collect(),
                "the controller's CA".into(),
            )?)
            .with_no_client_auth(),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth(),
    })
}

fn system_roots() -> Result<rustls::RootCertStore, TransportError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_string(), ToString::to_string);
        return Err(TransportError::CaFile(
            "the system's certificate store".into(),
            format!("{why}; give --ca FILE"),
        ));
    }
    Ok(roots)
}

fn read_roots(path: &Path) -> Result<rustls::RootCertStore, TransportError> {
    let shown = path.display().to_string();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| TransportError::CaFile(shown.clone(), e.to_string()))?
        .collect();
    roots_of(certs, shown)
}

/// The certificates read from a PEM source named `shown`, as roots.
fn roots_of(
    certs: Result<Vec<CertificateDer<'static>>, rustls::pki_types::pem::Error>,
    shown: String,
) -> Result<rustls::RootCertStore, TransportError> {
    let certs = certs.map_err(|e| TransportError::CaFile(shown.clone(), e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(TransportError::CaFile(
            shown,
            "no usable certificate".into(),
        ));
    }
    Ok(roots)
}

/// `--insecure`: accepts any certificate but still checks the handshake
/// signatures, so the connection is encrypted, only not authenticated.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
