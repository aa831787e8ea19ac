//! Reading a JWKS (the identity provider's public signing keys) from a URL.
//!
//! `https://` is verified against the Mozilla roots (webpki-roots) plus an optional private CA
//! (`CONTINUUM_AUTH_JWKS_CA_FILE`); plain `http://` is refused except on loopback (a local identity
//! provider in development). One GET through reqwest (with our own rustls configuration: the ring provider
//! and those roots), no redirects followed, a 10 s deadline, a 1 MiB body limit and status 200 required.
//! The refresh loop lives with the verifier (`token.rs`); this module only fetches.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
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

/// Fetches the key set at `url` (see the module notes for what is accepted).
pub async fn fetch(url: &str, ca_file: Option<&Path>) -> anyhow::Result<String> {
    check_url(url)?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls_config(ca_file)?)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .build()
        .context("building the JWKS client")?;
    let mut resp = client
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("requesting the JWKS: {}", without_url(&e)))?;
    let status = resp.status();
    anyhow::ensure!(status == reqwest::StatusCode::OK, "the JWKS URL answered HTTP {status}");
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| anyhow::anyhow!("reading the JWKS body: {}", without_url(&e)))?
    {
        anyhow::ensure!(
            body.len() + chunk.len() <= MAX_BYTES,
            "the JWKS is larger than {MAX_BYTES} bytes"
        );
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).context("the JWKS is not UTF-8")
}

/// A reqwest error's text without the URL (query strings can carry secrets).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        format!("no answer within {FETCH_TIMEOUT:?}")
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "transfer failed".to_owned()
    };
    match std::error::Error::source(e) {
        Some(cause) => format!("{kind} ({cause})"),
        None => kind,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A loopback HTTP server answering every request with `response` (raw HTTP/1.1); its base URL.
    async fn serve(response: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let response = response.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = socket.write_all(&response).await;
                });
            }
        });
        format!("http://{addr}")
    }

    fn http(status: &str, headers: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[tokio::test]
    async fn fetches_a_key_set_and_refuses_what_is_not_one() {
        let keys = br#"{"keys":[]}"#;
        let ok = serve(http("200 OK", "content-type: application/json\r\n", keys)).await;
        assert_eq!(fetch(&format!("{ok}/jwks"), None).await.unwrap(), r#"{"keys":[]}"#);

        let missing = serve(http("404 Not Found", "", b"")).await;
        let err = fetch(&format!("{missing}/jwks"), None).await.unwrap_err();
        assert!(err.to_string().contains("404"), "{err}");

        // A redirect is not followed (it could lead off loopback or to plain http).
        let moved = serve(http("302 Found", "location: http://example.org/jwks\r\n", b"")).await;
        let err = fetch(&format!("{moved}/jwks"), None).await.unwrap_err();
        assert!(err.to_string().contains("302"), "{err}");

        let huge = serve(http("200 OK", "", &vec![b' '; MAX_BYTES + 1])).await;
        let err = fetch(&format!("{huge}/jwks"), None).await.unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
    }

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
