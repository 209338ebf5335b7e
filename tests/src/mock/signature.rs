//! Duo's request-signature check, written from Duo's documentation and independently of the daemon's signer,
//! so that a signing bug in the daemon shows up as a 401 here.
//!
//! Canonical form version 2: date, METHOD, lower-case host without port, path, and the parameters sorted by key,
//! each `key=value` percent-encoded keeping only `A-Za-z0-9-._~` (upper-case hex, space as `%20`), joined by `&`;
//! the five lines joined by `\n`. Signature: hex HMAC-SHA512 (or HMAC-SHA1) with the skey, sent as
//! `Authorization: Basic base64(ikey:hexsig)`.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use super::dates;

/// Everything but `A-Za-z0-9-._~` is escaped.
const DUO_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Which HMAC a request was signed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SigAlg {
    /// HMAC-SHA512 (the current default).
    Sha512,
    /// HMAC-SHA1 (older clients).
    Sha1,
}

/// Why a request's credentials were refused; each maps to one of Duo's 401 answers.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SigError {
    /// A header the signature needs is absent or not text.
    #[error("missing or unreadable {0} header")]
    MissingHeader(&'static str),
    /// The Authorization header is not `Basic base64(ikey:hexsig)`.
    #[error("malformed Authorization header")]
    Malformed,
    /// The integration key is not the mock's.
    #[error("unknown integration key")]
    WrongIkey,
    /// The HMAC does not match the request.
    #[error("signature does not match the request")]
    BadSignature,
    /// The date is unparseable or too far from the mock's clock.
    #[error("request timestamp is invalid")]
    BadTimestamp,
}

impl SigError {
    /// Duo's error code for this refusal (40105 for the clock, 40101 for everything else).
    pub(crate) fn code(&self) -> u32 {
        match self {
            SigError::BadTimestamp => 40105,
            _ => 40101,
        }
    }

    /// Duo's message for this refusal.
    pub(crate) fn duo_message(&self) -> &'static str {
        match self {
            SigError::BadTimestamp => "Request timestamp is invalid",
            _ => "Invalid signature in request credentials",
        }
    }
}

/// A form-encoded string that is not valid after decoding.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("parameter {0:?} is not valid UTF-8 once percent-decoded")]
pub(crate) struct FormError(pub(crate) String);

/// Decode `application/x-www-form-urlencoded` text (or a query string): `+` is a space, `%XX` a byte.
pub(crate) fn parse_form(raw: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    let mut out = Vec::new();
    for part in raw.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match part.iter().position(|&b| b == b'=') {
            Some(i) => (&part[..i], &part[i + 1..]),
            None => (part, &part[..0]),
        };
        out.push((decode_component(k)?, decode_component(v)?));
    }
    Ok(out)
}

fn decode_component(raw: &[u8]) -> Result<String, FormError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Vec<u8> = percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).map_err(|_| FormError(String::from_utf8_lossy(raw).into_owned()))
}

/// Duo's canonical encoding of decoded parameters: sorted by key (then value), `k=v` joined by `&`.
pub(crate) fn canonical_params(params: &[(String, String)]) -> String {
    let mut enc: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| {
            (
                utf8_percent_encode(k, DUO_ESCAPE).to_string(),
                utf8_percent_encode(v, DUO_ESCAPE).to_string(),
            )
        })
        .collect();
    enc.sort();
    enc.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The five-line canonical string a signature covers.
pub(crate) fn canonical_string(
    date: &str,
    method: &str,
    host: &str,
    path: &str,
    params: &[(String, String)],
) -> String {
    format!(
        "{date}\n{}\n{}\n{path}\n{}",
        method.to_ascii_uppercase(),
        host.to_ascii_lowercase(),
        canonical_params(params)
    )
}

/// The Host header's host part, lower-cased, without a port (`[v6]` literals keep their brackets).
pub(crate) fn host_without_port(host: &str) -> String {
    let h = host.trim();
    let bare = if h.starts_with('[') {
        h.find(']').map_or(h, |i| &h[..=i])
    } else {
        match h.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => h,
        }
    };
    bare.to_ascii_lowercase()
}

/// The keys the verifier checks against, and the mock's clock.
pub(crate) struct Verifier<'a> {
    /// The integration key a request must name.
    pub ikey: &'a str,
    /// The secret key the HMAC is keyed with.
    pub skey: &'a str,
    /// The mock's "now", seconds since the epoch (time offset applied).
    pub now: i64,
    /// The largest accepted distance, in seconds, between the request's date and `now`.
    pub max_skew: i64,
}

impl Verifier<'_> {
    /// Check the signature of a request with these headers, method, path and decoded parameters.
    pub(crate) fn verify(
        &self,
        headers: &HeaderMap,
        method: &str,
        path: &str,
        params: &[(String, String)],
    ) -> Result<SigAlg, SigError> {
        let header = |name: &'static str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(SigError::MissingHeader(name))
        };
        let auth = header("authorization")?;
        let date = header("x-duo-date")?;
        let host = header("host")?;
        let b64 = auth
            .strip_prefix("Basic ")
            .or_else(|| auth.strip_prefix("basic "))
            .ok_or(SigError::Malformed)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| SigError::Malformed)?;
        let decoded = String::from_utf8(decoded).map_err(|_| SigError::Malformed)?;
        let (ikey, hexsig) = decoded.split_once(':').ok_or(SigError::Malformed)?;
        if ikey != self.ikey {
            return Err(SigError::WrongIkey);
        }
        let sig = hex::decode(hexsig).map_err(|_| SigError::BadSignature)?;
        let canon = canonical_string(date, method, &host_without_port(host), path, params);
        let alg = match sig.len() {
            64 => {
                let mut mac = Hmac::<sha2::Sha512>::new_from_slice(self.skey.as_bytes())
                    .map_err(|_| SigError::BadSignature)?;
                mac.update(canon.as_bytes());
                mac.verify_slice(&sig).map_err(|_| SigError::BadSignature)?;
                SigAlg::Sha512
            }
            20 => {
                let mut mac = Hmac::<sha1::Sha1>::new_from_slice(self.skey.as_bytes())
                    .map_err(|_| SigError::BadSignature)?;
                mac.update(canon.as_bytes());
                mac.verify_slice(&sig).map_err(|_| SigError::BadSignature)?;
                SigAlg::Sha1
            }
            _ => return Err(SigError::BadSignature),
        };
        let when = dates::parse_rfc2822(date).ok_or(SigError::BadTimestamp)?;
        if when.abs_diff(self.now) > self.max_skew.unsigned_abs() {
            return Err(SigError::BadTimestamp);
        }
        Ok(alg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const IKEY: &str = "DIXYZV6YM8IFYVWBINCA";
    const SKEY: &str = "yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo";
    const DATE: &str = "Mon, 23 Nov 2026 06:30:00 +0000";
    const DATE_SECS: i64 = 1_795_415_400;
    const HOST: &str = "api-abcd1234.duosecurity.com";
    const O3_LINE5: &str = "client_supports_verified_push=1&failmode=closed&hostname=bastion-1.example.com&ipaddr=192.0.2.10&text_prompt=1&username=J%C3%B6rg%20O%27Neil%2B~%2A";
    const O3_SHA512: &str = "568bf3030062fd2e50f0b0a91504f11d377ba9f7feefa5ceef87be6d3c55db5e635d3c76595e0676954f7f67dae1fff2544864ce2c15d46be1b67b5667962405";
    const O3_SHA1: &str = "a3fec5670a9be22a599ce4d5fc108afc2233fbc5";
    const O4_LINE5: &str = "async=1&factor=prompt&hostname=bastion-1.example.com&ipaddr=192.0.2.10&prompt=verified_push1&pushinfo=Server%2BIP%3D192.0.2.2%26Command%3Decho%2520hi%253B%2520id&txid=verified-push-txid&username=alice";
    const O4_SHA512: &str = "b7b7f59333c9515d19d8c9638e76ec80fcb0225f1878632b3fa053f56fed8200652ee66b35091188740fc268ac65e6870bf554f2f296c0b58ed6cb946c4a0710";
    const O1_SHA512: &str = "c3eec132a55b609eeadb27edbd90a8dca957cfdaeadff117c3bdb16edd18b1ab7da44f8d4c9df6b6d94b2bf23a135c76e5f0760c8066fb950a7c01441b998d19";

    fn verifier(now: i64) -> Verifier<'static> {
        Verifier {
            ikey: IKEY,
            skey: SKEY,
            now,
            max_skew: 300,
        }
    }

    fn headers(ikey: &str, sig: &str, host: &str, date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{ikey}:{sig}"));
        let put = |h: &mut HeaderMap, k: &'static str, v: String| {
            h.insert(k, HeaderValue::from_str(&v).unwrap());
        };
        put(&mut h, "authorization", format!("Basic {basic}"));
        put(&mut h, "x-duo-date", date.to_string());
        put(&mut h, "host", host.to_string());
        h
    }

    fn verify_post(body: &str, sig: &str, path: &str) -> Result<SigAlg, SigError> {
        let params = parse_form(body.as_bytes()).unwrap();
        verifier(DATE_SECS).verify(
            &headers(IKEY, sig, &format!("{HOST}:443"), DATE),
            "POST",
            path,
            &params,
        )
    }

    #[test]
    fn o3_preauth_with_unicode_sha512_and_sha1() {
        assert_eq!(
            verify_post(O3_LINE5, O3_SHA512, "/auth/v2/preauth"),
            Ok(SigAlg::Sha512)
        );
        assert_eq!(
            verify_post(O3_LINE5, O3_SHA1, "/auth/v2/preauth"),
            Ok(SigAlg::Sha1)
        );
        // The same values form-encoded differently (space as '+', '*' and '~' raw, other order) sign the same.
        let other = "username=J%C3%B6rg+O'Neil%2B~*&ipaddr=192.0.2.10&hostname=bastion-1.example.com&text_prompt=1&failmode=closed&client_supports_verified_push=1";
        assert_eq!(
            verify_post(other, O3_SHA512, "/auth/v2/preauth"),
            Ok(SigAlg::Sha512)
        );
        let params = parse_form(other.as_bytes()).unwrap();
        assert_eq!(canonical_params(&params), O3_LINE5);
        assert!(params.contains(&("username".into(), "Jörg O'Neil+~*".into())));
    }

    #[test]
    fn o4_auth_with_double_encoded_pushinfo() {
        assert_eq!(
            verify_post(O4_LINE5, O4_SHA512, "/auth/v2/auth"),
            Ok(SigAlg::Sha512)
        );
        let params = parse_form(O4_LINE5.as_bytes()).unwrap();
        assert!(params.contains(&(
            "pushinfo".into(),
            "Server+IP=192.0.2.2&Command=echo%20hi%3B%20id".into()
        )));
    }

    #[test]
    fn o1_check_has_an_empty_fifth_line() {
        assert_eq!(
            canonical_string(
                DATE,
                "get",
                "API-abcd1234.duosecurity.com",
                "/auth/v2/check",
                &[]
            ),
            format!("{DATE}\nGET\n{HOST}\n/auth/v2/check\n")
        );
        let h = headers(IKEY, O1_SHA512, HOST, DATE);
        assert_eq!(
            verifier(DATE_SECS).verify(&h, "GET", "/auth/v2/check", &[]),
            Ok(SigAlg::Sha512)
        );
    }

    #[test]
    fn refuses_what_duo_refuses() {
        // A changed parameter, path or method.
        let tampered = O3_LINE5.replace("closed", "open");
        assert_eq!(
            verify_post(&tampered, O3_SHA512, "/auth/v2/preauth"),
            Err(SigError::BadSignature)
        );
        assert_eq!(
            verify_post(O3_LINE5, O3_SHA512, "/auth/v2/auth"),
            Err(SigError::BadSignature)
        );
        // A literal '+' sent unescaped is a space to the server: the daemon must send %2B.
        let raw_plus = O3_LINE5.replace("%2B", "+");
        assert_eq!(
            verify_post(&raw_plus, O3_SHA512, "/auth/v2/preauth"),
            Err(SigError::BadSignature)
        );
        // Wrong host, ikey, skey, truncated or non-hex signature.
        let params = parse_form(O3_LINE5.as_bytes()).unwrap();
        let v = verifier(DATE_SECS);
        let h = headers(IKEY, O3_SHA512, "api-other.duosecurity.com", DATE);
        assert_eq!(
            v.verify(&h, "POST", "/auth/v2/preauth", &params),
            Err(SigError::BadSignature)
        );
        let h = headers("DIWRONGWRONGWRONGWRO", O3_SHA512, HOST, DATE);
        assert_eq!(
            v.verify(&h, "POST", "/auth/v2/preauth", &params),
            Err(SigError::WrongIkey)
        );
        let other = Verifier {
            skey: "wrongwrongwrongwrongwrongwrongwrongwrong",
            ..verifier(DATE_SECS)
        };
        let h = headers(IKEY, O3_SHA512, HOST, DATE);
        assert_eq!(
            other.verify(&h, "POST", "/auth/v2/preauth", &params),
            Err(SigError::BadSignature)
        );
        for sig in [&O3_SHA512[..100], "zz", ""] {
            let h = headers(IKEY, sig, HOST, DATE);
            assert_eq!(
                v.verify(&h, "POST", "/auth/v2/preauth", &params),
                Err(SigError::BadSignature)
            );
        }
        // Missing or malformed headers.
        let mut h = headers(IKEY, O3_SHA512, HOST, DATE);
        h.remove("x-duo-date");
        assert_eq!(
            v.verify(&h, "POST", "/auth/v2/preauth", &params),
            Err(SigError::MissingHeader("x-duo-date"))
        );
        let mut h = headers(IKEY, O3_SHA512, HOST, DATE);
        h.insert("authorization", HeaderValue::from_static("Bearer abc"));
        assert_eq!(
            v.verify(&h, "POST", "/auth/v2/preauth", &params),
            Err(SigError::Malformed)
        );
        h.insert("authorization", HeaderValue::from_static("Basic !!!"));
        assert_eq!(
            v.verify(&h, "POST", "/auth/v2/preauth", &params),
            Err(SigError::Malformed)
        );
        h.remove("authorization");
        assert_eq!(
            v.verify(&h, "POST", "/auth/v2/preauth", &params),
            Err(SigError::MissingHeader("authorization"))
        );
    }

    #[test]
    fn clock_skew_is_bounded() {
        let params = parse_form(O3_LINE5.as_bytes()).unwrap();
        let h = headers(IKEY, O3_SHA512, HOST, DATE);
        for (now, ok) in [
            (DATE_SECS + 300, true),
            (DATE_SECS - 300, true),
            (DATE_SECS + 301, false),
            (DATE_SECS - 301, false),
        ] {
            let r = verifier(now).verify(&h, "POST", "/auth/v2/preauth", &params);
            assert_eq!(r.is_ok(), ok, "now = date {:+}", now - DATE_SECS);
        }
        assert_eq!(
            verifier(0)
                .verify(&h, "POST", "/auth/v2/preauth", &params)
                .map_err(|e| e.code()),
            Err(40105)
        );
    }

    #[test]
    fn host_port_and_form_edge_cases() {
        assert_eq!(host_without_port("LocalHost:4443"), "localhost");
        assert_eq!(host_without_port("127.0.0.1"), "127.0.0.1");
        assert_eq!(host_without_port("[::1]:443"), "[::1]");
        assert_eq!(
            parse_form(b"a&b=&&c=%41=B").unwrap(),
            vec![
                ("a".into(), "".into()),
                ("b".into(), "".into()),
                ("c".into(), "A=B".into())
            ]
        );
        assert!(parse_form(b"username=%ff").is_err());
        assert_eq!(parse_form(b"").unwrap(), vec![]);
    }
}
