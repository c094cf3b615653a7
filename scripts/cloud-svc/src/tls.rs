//! rustls configurations from the PEM files of the test PKI (certs/make-pki).

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

pub fn load_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificates from {}", path.display()))?;
    if certificates.is_empty() {
        bail!("{} holds no certificate", path.display());
    }
    Ok(certificates)
}

pub fn load_private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("reading a private key from {}", path.display()))
}

fn root_store(ca: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for certificate in load_certificates(ca)? {
        roots
            .add(certificate)
            .with_context(|| format!("adding {} as a trust anchor", ca.display()))?;
    }
    Ok(roots)
}

/// A client that trusts `ca` and, if given, authenticates with a certificate and key (mutual
/// TLS, as AWS IoT requires of every MQTT client).
pub fn client_config(ca: &Path, identity: Option<(&Path, &Path)>) -> Result<Arc<ClientConfig>> {
    let builder = ClientConfig::builder().with_root_certificates(root_store(ca)?);
    let config = match identity {
        Some((certificate, key)) => builder
            .with_client_auth_cert(load_certificates(certificate)?, load_private_key(key)?)
            .context("using the client certificate")?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A server with no client authentication, as S3 presigned URLs need none.
pub fn server_config(certificate: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(load_certificates(certificate)?, load_private_key(key)?)
        .context("using the server certificate")?;
    Ok(Arc::new(config))
}
