//! TLS for `SSL_GET`, through rustls.
//!
//! keepalived's `SSL_GET` never verifies the server's certificate: it
//! creates its OpenSSL context without `SSL_CTX_set_verify`, so the
//! default `SSL_VERIFY_NONE` applies even when a CA file is configured
//! (`check/check_ssl.c`). The default configuration here does the same:
//! [`NoCertificateVerification`] accepts any certificate chain, while the
//! handshake signatures are still checked (that part is protocol, not
//! trust). Pass your own `rustls::ClientConfig` to verify.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

/// Accepts any server certificate, as keepalived's `SSL_GET` does.
#[derive(Debug)]
pub struct NoCertificateVerification(Arc<CryptoProvider>);

impl NoCertificateVerification {
    /// A verifier checking handshake signatures with `provider`'s algorithms.
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        NoCertificateVerification(provider)
    }
}

impl ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// keepalived's client configuration: TLS 1.2 and 1.3 with rustls' ring
/// provider, no certificate verification, no client certificate.
pub fn keepalived_client_config() -> Result<Arc<ClientConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoCertificateVerification::new(provider)))
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// The server name for a connection: the virtual host with `enable_sni`
/// (sent as SNI when it is a DNS name), else the address (no SNI is sent
/// for an address).
pub(crate) fn server_name(vhost: Option<&str>, enable_sni: bool, dst: std::net::IpAddr) -> ServerName<'static> {
    if enable_sni {
        if let Some(h) = vhost {
            // A Host may carry a port; SNI never does.
            let host = match h.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => name,
                _ => h,
            };
            if let Ok(n) = ServerName::try_from(host.to_owned()) {
                return n;
            }
        }
    }
    ServerName::IpAddress(dst.into())
}
