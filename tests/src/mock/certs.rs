//! The mock's TLS identity: a CA (whose PEM the daemon gets as `cafile`) and a leaf certificate, good or
//! deliberately broken, for the server. The CA is made fresh at every start, or kept in a directory
//! (`MockOptions::ca_dir`) so that a mock restarted on it is still trusted by a daemon that read `ca.pem` before.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Which certificate the mock presents, to test the daemon's certificate checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CertKind {
    /// A leaf for `localhost` and 127.0.0.1, signed by the CA in `ca_file`.
    #[default]
    Good,
    /// Signed by the CA but for `wrong-name.example` only: the host name check must fail.
    WrongName,
    /// Signed by the CA for the right names, but valid only in 2000: the validity check must fail.
    Expired,
    /// Self-signed for the right names: the CA in `ca_file` did not sign it (an untrusted issuer).
    SelfSigned,
    /// Signed by the CA, `CN=localhost` and no subjectAltName at all (as old or TLS-inspecting
    /// proxies' certificates are): the name check must fail and say why.
    CnOnly,
    /// The CA's own certificate presented as the server's (duo_unix's test mock does this): a CA
    /// certificate used as an end entity must be refused.
    CaAsLeaf,
}

/// Why the mock could not make its certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen refused the parameters or the key.
    #[error("mock Duo: cannot generate the test certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate or key.
    #[error("mock Duo: TLS server configuration rejected the test certificate: {0}")]
    Tls(#[from] rustls::Error),
    /// The CA directory could not be read or written.
    #[error("mock Duo: CA directory {path}: {source}")]
    CaDir {
        /// The file that failed.
        path: String,
        /// The OS's words.
        #[source]
        source: io::Error,
    },
}

/// The server side of TLS and the CA a client should trust.
pub(crate) struct ServerIdentity {
    /// Ready-made rustls configuration (ring provider, HTTP/1.1 ALPN).
    pub config: Arc<rustls::ServerConfig>,
    /// PEM of the CA written to `ca_file`.
    pub ca_pem: String,
}

fn leaf_params(names: &[&str], with_ip: bool) -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
    if with_ip {
        p.subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
    p.distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or("mock"));
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    Ok(p)
}

/// The CA key kept in `dir/ca.key` (made, with `dir/ca.pem`, when absent), or a fresh one without a directory.
fn ca_key(dir: Option<&Path>) -> Result<(KeyPair, bool), CertError> {
    let Some(dir) = dir else {
        return Ok((KeyPair::generate()?, true));
    };
    let path = dir.join("ca.key");
    let io_err = |source| CertError::CaDir {
        path: path.display().to_string(),
        source,
    };
    match fs::read_to_string(&path) {
        Ok(pem) => Ok((KeyPair::from_pem(&pem)?, false)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_err)?;
            let key = KeyPair::generate()?;
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_err)?;
            io::Write::write_all(&mut f, key.serialize_pem().as_bytes()).map_err(io_err)?;
            Ok((key, true))
        }
        Err(e) => Err(io_err(e)),
    }
}

/// Make (or, with `ca_dir`, reuse) the CA, the leaf of `kind`, and the rustls server configuration presenting it.
/// With `ca_dir`, `ca.pem` there is written once: a restarted mock signs its new leaf with the same CA key and
/// name, so a client still trusting the first `ca.pem` verifies it.
pub(crate) fn make_identity(
    kind: CertKind,
    ca_dir: Option<&Path>,
) -> Result<ServerIdentity, CertError> {
    let (ca_key, fresh) = ca_key(ca_dir)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "duo-authd mock Duo test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = ca_params.self_signed(&ca_key)?;

    let leaf_key = KeyPair::generate()?;
    let leaf = match kind {
        CertKind::Good => leaf_params(&["localhost"], true)?.signed_by(&leaf_key, &ca, &ca_key)?,
        CertKind::WrongName => {
            leaf_params(&["wrong-name.example"], false)?.signed_by(&leaf_key, &ca, &ca_key)?
        }
        CertKind::Expired => {
            let mut p = leaf_params(&["localhost"], true)?;
            p.not_before = rcgen::date_time_ymd(2000, 1, 1);
            p.not_after = rcgen::date_time_ymd(2000, 12, 31);
            p.signed_by(&leaf_key, &ca, &ca_key)?
        }
        CertKind::SelfSigned => leaf_params(&["localhost"], true)?.self_signed(&leaf_key)?,
        CertKind::CnOnly => {
            let mut p = leaf_params(&["localhost"], false)?;
            p.subject_alt_names.clear();
            p.signed_by(&leaf_key, &ca, &ca_key)?
        }
        // Signed again only to have a value of the same type; the CA's own is what is presented.
        CertKind::CaAsLeaf => leaf_params(&["localhost"], true)?.self_signed(&leaf_key)?,
    };
    let (leaf_der, leaf_key) = if kind == CertKind::CaAsLeaf {
        (ca.der().clone(), ca_key)
    } else {
        (leaf.der().clone(), leaf_key)
    };

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf_der], key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let mut ca_pem = ca.pem();
    if let Some(dir) = ca_dir {
        let path = dir.join("ca.pem");
        let io_err = |source| CertError::CaDir {
            path: path.display().to_string(),
            source,
        };
        if fresh || !path.exists() {
            fs::write(&path, &ca_pem).map_err(io_err)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).map_err(io_err)?;
        } else {
            ca_pem = fs::read_to_string(&path).map_err(io_err)?;
        }
    }
    Ok(ServerIdentity {
        config: Arc::new(config),
        ca_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_builds() {
        for kind in [
            CertKind::Good,
            CertKind::WrongName,
            CertKind::Expired,
            CertKind::SelfSigned,
            CertKind::CnOnly,
            CertKind::CaAsLeaf,
        ] {
            let id = make_identity(kind, None).unwrap();
            assert!(
                id.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"),
                "{kind:?}"
            );
        }
    }
}
