//! Mutual TLS for the gRPC connections between metal-api and its agents.
//!
//! When TLS is enabled, metal-api requires a client certificate that chains to a configured CA,
//! and agents verify the server certificate against a CA and present their own certificate.
//! The functions here read and check the PEM material up front, so that a missing or broken
//! file is reported with its path when the process starts, not as an obscure handshake error
//! later:
//!
//! - [`server_tls_config`] / [`server_tls_config_from_pem`]: server certificate (chain), its
//!   private key and the CA that client certificates must chain to; a client certificate is
//!   required.
//! - [`server_tls_config_optional_client_ca`]: the same with the client CA optional; without
//!   one, plain server-side TLS (droptailer's server, which metal-stack runs that way).
//! - [`client_tls_config`] / [`client_tls_config_from_pem`]: the CA the server certificate
//!   must chain to, the client certificate (chain), its private key and the domain name the
//!   server certificate must be valid for. The PEM variant serves metal-hammer, which receives
//!   its certificates inline from pixie.
//!
//! TLS is done by rustls with the `ring` crypto provider.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// What a piece of PEM material is for; part of every [`TlsError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PemKind {
    /// The server's certificate, optionally followed by intermediate certificates.
    ServerCertificate,
    /// The private key of the server certificate.
    ServerKey,
    /// The CA certificates that client certificates must chain to.
    ClientCa,
    /// The CA certificates that the server certificate must chain to.
    ServerCa,
    /// The client's certificate, optionally followed by intermediate certificates.
    ClientCertificate,
    /// The private key of the client certificate.
    ClientKey,
}

impl fmt::Display for PemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PemKind::ServerCertificate => "server certificate",
            PemKind::ServerKey => "server private key",
            PemKind::ClientCa => "client CA certificate",
            PemKind::ServerCa => "server CA certificate",
            PemKind::ClientCertificate => "client certificate",
            PemKind::ClientKey => "client private key",
        })
    }
}

/// Where a piece of PEM material came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PemOrigin {
    /// Read from this file.
    File(PathBuf),
    /// Given in memory.
    Inline,
}

impl fmt::Display for PemOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemOrigin::File(path) => write!(f, "file {}", path.display()),
            PemOrigin::Inline => f.write_str("(inline PEM)"),
        }
    }
}

/// A TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {kind} file {}: {source}", path.display())]
    Read {
        kind: PemKind,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// PEM material is malformed or does not contain what it should.
    #[error("{kind} {origin}: {reason}")]
    Invalid {
        kind: PemKind,
        origin: PemOrigin,
        reason: String,
    },
}

/// Builds the server TLS configuration from PEM files: the server certificate (chain), its
/// private key, and the CA certificates that client certificates must chain to. Clients
/// without a valid certificate are refused during the handshake.
///
/// Also makes sure a process-wide rustls crypto provider is installed (see
/// [`install_crypto_provider`]).
pub fn server_tls_config(
    cert: impl AsRef<Path>,
    key: impl AsRef<Path>,
    client_ca: impl AsRef<Path>,
) -> Result<ServerTlsConfig, TlsError> {
    let cert = PemInput::read(PemKind::ServerCertificate, cert.as_ref())?;
    let key = PemInput::read(PemKind::ServerKey, key.as_ref())?;
    let client_ca = PemInput::read(PemKind::ClientCa, client_ca.as_ref())?;
    build_server(&cert, &key, &client_ca)
}

/// Like [`server_tls_config`] when `client_ca` is given; without it the server presents its
/// certificate and asks clients for none.
pub fn server_tls_config_optional_client_ca(
    cert: impl AsRef<Path>,
    key: impl AsRef<Path>,
    client_ca: Option<&Path>,
) -> Result<ServerTlsConfig, TlsError> {
    match client_ca {
        Some(ca) => server_tls_config(cert, key, ca),
        None => {
            let cert = PemInput::read(PemKind::ServerCertificate, cert.as_ref())?;
            let key = PemInput::read(PemKind::ServerKey, key.as_ref())?;
            let identity = identity(&cert, &key)?;
            install_crypto_provider();
            Ok(ServerTlsConfig::new().identity(identity))
        }
    }
}

/// Like [`server_tls_config`], with the PEM material given in memory.
pub fn server_tls_config_from_pem(
    cert: &[u8],
    key: &[u8],
    client_ca: &[u8],
) -> Result<ServerTlsConfig, TlsError> {
    build_server(
        &PemInput::inline(PemKind::ServerCertificate, cert),
        &PemInput::inline(PemKind::ServerKey, key),
        &PemInput::inline(PemKind::ClientCa, client_ca),
    )
}

/// Builds the client TLS configuration from PEM files: the CA certificates the server
/// certificate must chain to, the client certificate (chain) and its private key. The server
/// certificate must be valid for `domain_name` (a DNS name or an IP address), whatever host
/// the endpoint URI names.
pub fn client_tls_config(
    ca: impl AsRef<Path>,
    cert: impl AsRef<Path>,
    key: impl AsRef<Path>,
    domain_name: impl Into<String>,
) -> Result<ClientTlsConfig, TlsError> {
    let ca = PemInput::read(PemKind::ServerCa, ca.as_ref())?;
    let cert = PemInput::read(PemKind::ClientCertificate, cert.as_ref())?;
    let key = PemInput::read(PemKind::ClientKey, key.as_ref())?;
    build_client(&ca, &cert, &key, domain_name.into())
}

/// Like [`client_tls_config`], with the PEM material given in memory (metal-hammer gets it
/// from its MetalConfig).
pub fn client_tls_config_from_pem(
    ca: &[u8],
    cert: &[u8],
    key: &[u8],
    domain_name: impl Into<String>,
) -> Result<ClientTlsConfig, TlsError> {
    build_client(
        &PemInput::inline(PemKind::ServerCa, ca),
        &PemInput::inline(PemKind::ClientCertificate, cert),
        &PemInput::inline(PemKind::ClientKey, key),
        domain_name.into(),
    )
}

/// Installs rustls' `ring` crypto provider as the process-wide default unless a default is
/// installed already. The TLS server needs a process-wide provider, and rustls cannot pick one
/// by itself when several providers are compiled into a binary. Idempotent.
pub fn install_crypto_provider() {
    if CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine: a provider is installed either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// PEM bytes with the description used in error messages.
struct PemInput {
    kind: PemKind,
    origin: PemOrigin,
    pem: Vec<u8>,
}

impl PemInput {
    fn read(kind: PemKind, path: &Path) -> Result<Self, TlsError> {
        let pem = std::fs::read(path).map_err(|source| TlsError::Read {
            kind,
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Self {
            kind,
            origin: PemOrigin::File(path.to_path_buf()),
            pem,
        })
    }

    fn inline(kind: PemKind, pem: &[u8]) -> Self {
        Self {
            kind,
            origin: PemOrigin::Inline,
            pem: pem.to_vec(),
        }
    }

    fn invalid(&self, reason: impl Into<String>) -> TlsError {
        TlsError::Invalid {
            kind: self.kind,
            origin: self.origin.clone(),
            reason: reason.into(),
        }
    }

    /// Checks that the input holds at least one well-formed PEM certificate.
    fn check_certificates(&self) -> Result<(), TlsError> {
        let mut count = 0usize;
        for cert in CertificateDer::pem_slice_iter(&self.pem) {
            cert.map_err(|e| self.invalid(format!("malformed PEM certificate: {e}")))?;
            count += 1;
        }
        if count == 0 {
            return Err(self.invalid("no PEM certificate found"));
        }
        Ok(())
    }

    /// Checks that the input holds a well-formed private key of a type rustls can sign with.
    fn check_private_key(&self) -> Result<(), TlsError> {
        let key = PrivateKeyDer::from_pem_slice(&self.pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => self.invalid("no PEM private key found"),
            e => self.invalid(format!("malformed PEM private key: {e}")),
        })?;
        rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| self.invalid(format!("unusable private key: {e}")))?;
        Ok(())
    }

    fn certificate(&self) -> Result<Certificate, TlsError> {
        self.check_certificates()?;
        Ok(Certificate::from_pem(&self.pem))
    }
}

fn identity(cert: &PemInput, key: &PemInput) -> Result<Identity, TlsError> {
    cert.check_certificates()?;
    key.check_private_key()?;
    Ok(Identity::from_pem(&cert.pem, &key.pem))
}

fn build_server(
    cert: &PemInput,
    key: &PemInput,
    client_ca: &PemInput,
) -> Result<ServerTlsConfig, TlsError> {
    let identity = identity(cert, key)?;
    let client_ca = client_ca.certificate()?;
    install_crypto_provider();
    Ok(ServerTlsConfig::new()
        .identity(identity)
        .client_ca_root(client_ca)
        .client_auth_optional(false))
}

fn build_client(
    ca: &PemInput,
    cert: &PemInput,
    key: &PemInput,
    domain_name: String,
) -> Result<ClientTlsConfig, TlsError> {
    let ca = ca.certificate()?;
    let identity = identity(cert, key)?;
    Ok(ClientTlsConfig::new()
        .ca_certificate(ca)
        .identity(identity)
        .domain_name(domain_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn missing_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed();
        std::fs::write(dir.path().join("tls.crt"), &cert).unwrap();
        std::fs::write(dir.path().join("tls.key"), &key).unwrap();
        let missing = dir.path().join("ca.crt");
        let err = server_tls_config(
            dir.path().join("tls.crt"),
            dir.path().join("tls.key"),
            &missing,
        )
        .unwrap_err();
        match &err {
            TlsError::Read { kind, path, .. } => {
                assert_eq!(*kind, PemKind::ClientCa);
                assert_eq!(path, &missing);
            }
            other => panic!("unexpected error {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains("client CA certificate"), "{message}");
        assert!(
            message.contains(&missing.display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn key_file_without_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, _) = self_signed();
        let cert_path = dir.path().join("client.crt");
        std::fs::write(&cert_path, &cert).unwrap();
        // The certificate file given as the key: readable, but holds no private key.
        let err = client_tls_config(&cert_path, &cert_path, &cert_path, "localhost").unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("client private key file "), "{message}");
        assert!(message.contains("no PEM private key found"), "{message}");
        assert!(
            message.contains(&cert_path.display().to_string()),
            "{message}"
        );
    }

    #[test]
    fn certificate_without_pem_is_rejected() {
        let (_, key) = self_signed();
        let err =
            server_tls_config_from_pem(b"not a certificate", key.as_bytes(), b"").unwrap_err();
        assert_eq!(
            err.to_string(),
            "server certificate (inline PEM): no PEM certificate found"
        );
    }

    #[test]
    fn empty_ca_is_rejected() {
        let (cert, key) = self_signed();
        let err = server_tls_config_from_pem(cert.as_bytes(), key.as_bytes(), b"").unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::Invalid {
                    kind: PemKind::ClientCa,
                    origin: PemOrigin::Inline,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn valid_material_is_accepted() {
        let (cert, key) = self_signed();
        server_tls_config_from_pem(cert.as_bytes(), key.as_bytes(), cert.as_bytes()).unwrap();
        client_tls_config_from_pem(
            cert.as_bytes(),
            cert.as_bytes(),
            key.as_bytes(),
            "localhost",
        )
        .unwrap();
        assert!(CryptoProvider::get_default().is_some());
    }
}
