//! TLS for both connection kinds, with libpq's `sslmode` semantics. One rustls `ClientConfig` is built
//! per DSN (when it is parsed) and every connection made from that DSN — replication, COPY and the
//! tokio-postgres SQL clients — handshakes with it, so all of them verify the server the same way.
//!
//! - `allow`/`prefer`/`require` encrypt without checking the certificate, unless a root certificate
//!   file exists (`sslrootcert`, or libpq's default `~/.postgresql/root.crt`); then, as in libpq, the
//!   chain is checked against it (`require` then behaves like `verify-ca`).
//! - `verify-ca` checks the chain against `sslrootcert` (`system`: the operating system's roots).
//! - `verify-full` also checks that the certificate names the host (`host`, never `hostaddr`).
//! - `sslcert`/`sslkey` (PEM) are offered when the server asks for a client certificate.
//!
//! Invariant: no mode that names a verification ever connects without it; a missing or unreadable
//! certificate file is a configuration error before any connection is tried.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::dsn_text::DsnError;
use crate::SslMode;

/// How much of the server's certificate is checked.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Nothing: encryption only.
    Nothing,
    /// The chain up to a trusted root (`verify-ca`).
    Chain,
    /// The chain and that the certificate names the host (`verify-full`).
    ChainAndName,
}

/// The TLS side of a DSN: the config every connection uses and what it checks (for messages).
#[derive(Clone, Debug)]
pub struct TlsPolicy {
    /// What is verified.
    pub verify: Verify,
    /// Where the trusted roots come from (`sslrootcert=/path`, `the system's trusted roots`).
    pub roots: String,
    pub(crate) config: Arc<rustls::ClientConfig>,
}

/// The TLS settings of a DSN, as given (paths not yet read).
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsFiles {
    pub root: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
    pub sni: bool,
}

fn home_file(name: &str) -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".postgresql").join(name))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Build the policy for `mode`; `None` for `disable`. `raw` is the DSN text, for error messages.
pub(crate) fn build(mode: SslMode, files: &TlsFiles, raw: &str) -> Result<Option<TlsPolicy>, DsnError> {
    if mode == SslMode::Disable {
        return Ok(None);
    }
    let err = |part: String, problem: String, fix: &str| DsnError::new(raw, part, problem, fix);
    let verifying_mode = matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
    let (roots, desc): (Option<RootCertStore>, String) = match files.root.as_deref() {
        Some("system") => {
            if mode != SslMode::VerifyFull {
                return Err(err(
                    format!("sslmode \"{}\"", mode.as_str()),
                    "may not be used with sslrootcert=system (as in libpq: any public CA could vouch for \
                     any host, so only the host name check makes system roots meaningful)"
                        .into(),
                    "use sslmode=verify-full with sslrootcert=system, or point sslrootcert at your CA's file",
                ));
            }
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            let (_added, _ignored) = store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err(err(
                    "sslrootcert \"system\"".into(),
                    "found no trusted root certificates on this machine".into(),
                    "install the CA bundle (Debian/Ubuntu: apt-get install ca-certificates) or set \
                     sslrootcert to a CA file",
                ));
            }
            (Some(store), "the system's trusted roots".into())
        }
        Some(path) => {
            let store =
                load_roots(Path::new(path)).map_err(|p| err(format!("sslrootcert {path:?}"), p, ROOT_FIX))?;
            (Some(store), format!("sslrootcert={path}"))
        }
        None => match home_file("root.crt").filter(|p| p.exists()) {
            Some(p) => {
                let shown = p.display().to_string();
                let store = load_roots(&p)
                    .map_err(|e| err(format!("sslrootcert {shown:?} (default)"), e, ROOT_FIX))?;
                (Some(store), format!("sslrootcert={shown}"))
            }
            None if verifying_mode => {
                return Err(err(
                    format!("sslmode \"{}\"", mode.as_str()),
                    "verifies the server certificate but no root certificate is given (no sslrootcert, \
                     and ~/.postgresql/root.crt does not exist)"
                        .into(),
                    "set sslrootcert=/path/to/ca.crt (the CA that signed the server certificate), or \
                     sslrootcert=system with sslmode=verify-full, or sslmode=require to encrypt without \
                     verifying",
                ))
            }
            None => (None, String::new()),
        },
    };
    let provider = provider();
    let verify = match (&roots, mode) {
        (None, _) => Verify::Nothing,
        (Some(_), SslMode::VerifyFull) => Verify::ChainAndName,
        (Some(_), _) => Verify::Chain,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        None => Arc::new(AcceptAnyCert(provider.clone())),
        Some(store) => Arc::new(WebPki {
            roots: Arc::new(store),
            provider: provider.clone(),
            check_name: verify == Verify::ChainAndName,
        }),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match client_identity(files, raw)? {
        Some((certs, key)) => builder.with_client_auth_cert(certs, key).map_err(|e| {
            err(
                format!(
                    "sslkey {:?}",
                    files.key.clone().unwrap_or_else(|| "~/.postgresql/postgresql.key".into())
                ),
                format!("does not belong to sslcert or cannot be used: {e}"),
                "give the private key that matches the client certificate",
            )
        })?,
        None => builder.with_no_client_auth(),
    };
    config.enable_sni = files.sni;
    Ok(Some(TlsPolicy { verify, roots: desc, config: Arc::new(config) }))
}

const ROOT_FIX: &str = "point sslrootcert at a readable PEM file holding the CA certificate that signed the \
                        server certificate";

fn load_roots(path: &Path) -> Result<RootCertStore, String> {
    let certs = read_certs(path)?;
    let mut store = RootCertStore::empty();
    for c in certs {
        store.add(c).map_err(|e| format!("holds a certificate that cannot be a trust anchor: {e}"))?;
    }
    Ok(store)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| format!("cannot be read: {e}"))?;
    let certs: Vec<_> = iter.collect::<Result<_, _>>().map_err(|e| format!("is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate and key: `sslcert`/`sslkey`, else libpq's defaults in `~/.postgresql/` when
/// the certificate file exists there.
fn client_identity(files: &TlsFiles, raw: &str) -> Result<Option<Identity>, DsnError> {
    let cert_path = match &files.cert {
        Some(p) => PathBuf::from(p),
        None => match home_file("postgresql.crt").filter(|p| p.exists()) {
            Some(p) => p,
            None => return Ok(None),
        },
    };
    let key_path = match &files.key {
        Some(p) => PathBuf::from(p),
        None => home_file("postgresql.key").unwrap_or_else(|| PathBuf::from("postgresql.key")),
    };
    let shown = |p: &Path| p.display().to_string();
    let certs = read_certs(&cert_path).map_err(|e| {
        DsnError::new(
            raw,
            format_args!("sslcert {:?}", shown(&cert_path)),
            e,
            "point sslcert at the PEM client certificate",
        )
    })?;
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| {
        let problem = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "holds no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1); encrypted keys (sslpassword) \
                 are not supported"
                    .to_string()
            }
            e => format!("cannot be read: {e}"),
        };
        DsnError::new(
            raw,
            format_args!("sslkey {:?}", shown(&key_path)),
            problem,
            "point sslkey at the client certificate's private key in PEM (decrypt one with `openssl pkey -in \
             key.pem -out key.plain.pem`)",
        )
    })?;
    Ok(Some((certs, key)))
}

/// What went wrong verifying the server, and the fix, for a rustls handshake error.
pub(crate) fn explain(e: &rustls::Error, policy: &TlsPolicy, host: &str) -> (String, String) {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => (
            format!("the server's certificate is not signed by a CA in {}", policy.roots),
            "point sslrootcert at the CA certificate that signed the server's certificate (ask the DBA for \
             it), or use sslmode=require to encrypt without verifying"
                .into(),
        ),
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => (
            format!(
                "the server's certificate does not name host {host:?} (sslmode=verify-full checks the host \
                 name against the certificate's subjectAltName)"
            ),
            "connect with a host name the certificate lists (use hostaddr=IP to pick the address while host= \
             names it), or use sslmode=verify-ca to check only the CA"
                .into(),
        ),
        E::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. } | CertificateError::NotValidYet,
        )
        | E::InvalidCertificate(CertificateError::NotValidYetContext { .. }) => (
            format!("the server's certificate is outside its validity period ({e})"),
            "renew the server certificate, or check this machine's clock".into(),
        ),
        E::AlertReceived(a) => (
            format!("the server refused the TLS handshake ({a:?}); it may require a client certificate"),
            "give sslcert and sslkey of a certificate signed by a CA the server trusts (its ssl_ca_file)".into(),
        ),
        other => (format!("the TLS handshake failed: {other}"), "check the server's ssl settings and certificate".into()),
    }
}

/// Chain (and optionally name) verification against a root store.
#[derive(Debug)]
struct WebPki {
    roots: Arc<RootCertStore>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    check_name: bool,
}

impl ServerCertVerifier for WebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        if self.check_name {
            rustls::client::verify_server_name(&cert, server_name)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Encrypt without verifying (libpq `require` without a root file); the handshake signatures are
/// still checked so the session key is bound to the certificate presented.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
