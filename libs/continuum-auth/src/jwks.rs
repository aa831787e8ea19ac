//! Reading a JWKS (the identity provider's public signing keys) from a URL.
//!
//! `https://` is verified against the Mozilla roots (webpki-roots) plus an optional private CA
//! (`CONTINUUM_AUTH_JWKS_CA_FILE`); plain `http://` is refused except on loopback (a local identity
//! provider in development). One GET with HTTP/1.1 (hyper), a 10 s deadline, a 1 MiB body limit and status
//! 200 required. The refresh loop lives with the verifier (`token.rs`); this module only fetches.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;

/// Longest a fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest key set accepted.
pub const MAX_BYTES: usize = 1 << 20;

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks a JWKS URL without fetching it: `https://host/...`, or `http://` on loopback only.
pub fn check_url(url: &str) -> anyhow::Result<http::Uri> {
    let uri: http::Uri =
        url.parse().with_context(|| format!("CONTINUUM_AUTH_JWKS_URL is not a URL: {url}"))?;
    let host = uri.host().context("the JWKS URL has no host")?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        Some("http") => {
            bail!("the JWKS URL must use https (plain http is allowed on loopback only)")
        }
        _ => bail!("the JWKS URL must start with https://"),
    }
}

fn tls_config(ca_file: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading the JWKS CA file {}", path.display()))?;
        let mut added = 0;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots
                .add(cert.context("a certificate in the JWKS CA file")?)
                .context("adding the JWKS CA")?;
            added += 1;
        }
        anyhow::ensure!(added > 0, "the JWKS CA file {} holds no certificate", path.display());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

async fn get<S>(io: S, uri: &http::Uri) -> anyhow::Result<String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .context("HTTP handshake with the JWKS host")?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "JWKS connection ended");
        }
    });
    let authority = uri.authority().context("the JWKS URL has no host")?.as_str().to_owned();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let req = http::Request::get(path)
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, "application/json")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .context("building the JWKS request")?;
    let resp = sender.send_request(req).await.context("requesting the JWKS")?;
    let status = resp.status();
    anyhow::ensure!(status == http::StatusCode::OK, "the JWKS URL answered HTTP {status}");
    let body = http_body_util::Limited::new(resp.into_body(), MAX_BYTES)
        .collect()
        .await
        .map_err(|e| anyhow::anyhow!("reading the JWKS body: {e}"))?
        .to_bytes();
    String::from_utf8(body.to_vec()).context("the JWKS is not UTF-8")
}

/// Fetches the key set at `url` (see the module notes for what is accepted).
pub async fn fetch(url: &str, ca_file: Option<&Path>) -> anyhow::Result<String> {
    let uri = check_url(url)?;
    let host = uri
        .host()
        .context("the JWKS URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let work = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .with_context(|| format!("connecting to the JWKS host {host}:{port}"))?;
        if https {
            let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(ca_file)?));
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .context("the JWKS host name")?;
            let tls = connector.connect(name, tcp).await.context("TLS with the JWKS host")?;
            get(tls, &uri).await
        } else {
            get(tcp, &uri).await
        }
    };
    tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .map_err(|_| anyhow::anyhow!("the JWKS URL did not answer within {FETCH_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_except_on_loopback() {
        assert!(check_url("https://idp.example.org/.well-known/jwks.json").is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(check_url("http://localhost/jwks").is_ok());
        assert!(check_url("http://[::1]:9000/jwks").is_ok());
        assert!(check_url("http://idp.example.org/jwks").is_err());
        assert!(check_url("ftp://idp.example.org/jwks").is_err());
        assert!(check_url("not a url").is_err());
    }
}
