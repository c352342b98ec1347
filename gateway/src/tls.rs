//! TLS 1.3 for both listeners — ALPN `h2` and `http/1.1` over TCP, `h3`
//! over QUIC — with a configured certificate or a self-signed one generated
//! into `data_dir` on first start.

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    /// The certificate could not be generated.
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

pub use clickday_config::self_signed_paths;

/// Generates the self-signed pair for `localhost` unless it already exists,
/// so clients that pinned it keep working across restarts.
pub fn ensure_self_signed(data_dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert_path, key_path) = self_signed_paths(data_dir);
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let dir = cert_path.parent().unwrap_or(data_dir);
    std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let generated = rcgen::generate_simple_self_signed(names)?;
    write_private(&key_path, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, generated.cert.pem()).map_err(|e| file_error(&cert_path, e))?;
    tracing::warn!(cert = %cert_path.display(), "generated a self-signed TLS certificate; clients must trust it explicitly");
    Ok((cert_path, key_path))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_error(path, e))?;
    file.write_all(bytes).map_err(|e| file_error(path, e))
}

/// Reads the first certificate of a PEM file (clients use it as their CA).
pub fn read_certificate(path: &Path) -> Result<CertificateDer<'static>, TlsError> {
    CertificateDer::from_pem_file(path).map_err(|e| file_error(path, e))
}

/// The certificate chain and key served on both transports.
pub struct TlsMaterial {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl TlsMaterial {
    /// Reads the PEM chain and key once, for TCP and QUIC alike.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
            .map_err(|e| file_error(cert_path, e))?
            .collect::<Result<_, _>>()
            .map_err(|e| file_error(cert_path, e))?;
        if chain.is_empty() {
            return Err(file_error(cert_path, "no certificate in file"));
        }
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| file_error(key_path, e))?;
        Ok(TlsMaterial { chain, key })
    }

    /// TLS 1.3 only, ring, offering `alpn` in order of preference.
    fn server_config(&self, alpn: &[&[u8]]) -> Result<ServerConfig, TlsError> {
        // AES-128-GCM-SHA256 first, whatever the client prefers: its key
        // schedule runs on hardware SHA-256, AES-256-GCM-SHA384's on SHA-384
        // in software. At the opening instant the gateway's handshake CPU is
        // what is scarce: measured 10-14 % less per TCP and per QUIC
        // handshake. Mini-clients are desktop PCs with AES instructions;
        // a client without them pays a little more on its side.
        let mut provider = rustls::crypto::ring::default_provider();
        provider
            .cipher_suites
            .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.ignore_client_order = true;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    /// The TCP listener's configuration: ALPN `h2` then `http/1.1`.
    pub fn tcp_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        Ok(Arc::new(self.server_config(&[b"h2", b"http/1.1"])?))
    }

    /// The QUIC listener's configuration: ALPN `h3`, and no 0-RTT. Early
    /// data can be replayed by anyone who recorded it, and a submission is
    /// ranked by its arrival: a replay must never be able to stand in for
    /// the original's place or be stamped twice, so early data is refused
    /// and every request waits for the full handshake (1-RTT; connections
    /// are opened before the opening instant anyway, so nothing is lost).
    pub fn quic_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let mut config = self.server_config(&[b"h3"])?;
        config.max_early_data_size = 0;
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{ClientConnection, ServerConnection};

    /// The suite a default rustls client (AES-256 first) ends up with.
    fn negotiated(server: Arc<ServerConfig>, cert: &Path, alpn: &[u8]) -> rustls::CipherSuite {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(read_certificate(cert).expect("certificate"))
            .expect("root");
        let mut client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
        client_config.alpn_protocols = vec![alpn.to_vec()];
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let mut client = ClientConnection::new(Arc::new(client_config), name).expect("client");
        let mut server = ServerConnection::new(server).expect("server");
        while client.is_handshaking() || server.is_handshaking() {
            let mut wire = Vec::new();
            client.write_tls(&mut wire).expect("client writes");
            server.read_tls(&mut wire.as_slice()).expect("server reads");
            server.process_new_packets().expect("server handshake");
            let mut wire = Vec::new();
            server.write_tls(&mut wire).expect("server writes");
            client.read_tls(&mut wire.as_slice()).expect("client reads");
            client.process_new_packets().expect("client handshake");
        }
        client.negotiated_cipher_suite().expect("a suite").suite()
    }

    #[test]
    fn aes_128_gcm_is_chosen_whatever_the_client_prefers() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert, key) = ensure_self_signed(dir.path()).expect("self-signed pair");
        let material = TlsMaterial::load(&cert, &key).expect("material");
        for (config, alpn) in [
            (material.tcp_config().expect("tcp"), &b"h2"[..]),
            (material.quic_config().expect("quic"), &b"h3"[..]),
        ] {
            assert_eq!(
                negotiated(config, &cert, alpn),
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
            );
        }
    }
}
