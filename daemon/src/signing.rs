//! Duo's request signature, canonical form version 2: what Duo checks before it answers anything.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::config::SignatureAlg;
use crate::secret::Secret;

/// Everything but RFC 3986's unreserved characters is escaped (space is `%20`, never `+`).
const DUO_ESCAPE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encode one key or value the way Duo does (uppercase hex).
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, DUO_ESCAPE).to_string()
}

/// The parameters as Duo signs them, also the exact query string or form body we send.
pub fn canonical_params(params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The five signed lines: date, METHOD, lower-case host (no port), path, canonical params.
pub fn canonical_request(
    date: &str,
    method: &str,
    host: &str,
    path: &str,
    params: &[(String, String)],
) -> String {
    [
        date.to_string(),
        method.to_ascii_uppercase(),
        host.to_ascii_lowercase(),
        path.to_string(),
        canonical_params(params),
    ]
    .join("\n")
}

/// Lower-case hex HMAC of the canonical request, keyed with the skey.
pub fn sign(alg: SignatureAlg, skey: &Secret, canonical: &str) -> String {
    let key = skey.expose().as_bytes();
    let data = canonical.as_bytes();
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; an empty
    // signature (Duo answers 401) is the harmless outcome if it ever did.
    match alg {
        SignatureAlg::Sha512 => Hmac::<sha2::Sha512>::new_from_slice(key)
            .map(|m| hex::encode(m.chain_update(data).finalize().into_bytes()))
            .unwrap_or_default(),
        SignatureAlg::Sha1 => Hmac::<sha1::Sha1>::new_from_slice(key)
            .map(|m| hex::encode(m.chain_update(data).finalize().into_bytes()))
            .unwrap_or_default(),
    }
}

/// The `Authorization` header value: HTTP Basic with the ikey as user and the signature as password.
pub fn authorization(ikey: &str, hexsig: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{ikey}:{hexsig}"));
    format!("Basic {token}")
}

/// `X-Duo-Date`: RFC 2822 in UTC with a numeric zone, e.g. `Mon, 23 Nov 2026 06:30:00 +0000`.
pub fn duo_date(unix_secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[(days + 4).rem_euclid(7) as usize];
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} +0000",
        MONTHS[month - 1],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Proleptic Gregorian (year, month 1..=12, day) for days since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, usize, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as usize, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors O1-O5 of /work/shared/duo-signing-vectors.md.
    const IKEY: &str = "DIXYZV6YM8IFYVWBINCA";
    const SKEY: &str = "yWHSMhWucAcp7qvuH3HWTaSaKABs8Gaddiv1NIRo";
    const HOST: &str = "api-abcd1234.duosecurity.com";
    const DATE: &str = "Mon, 23 Nov 2026 06:30:00 +0000";

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn skey() -> Secret {
        Secret::new(SKEY.into())
    }

    #[test]
    fn o1_check() {
        let c = canonical_request(DATE, "GET", HOST, "/auth/v2/check", &[]);
        assert_eq!(c, format!("{DATE}\nGET\n{HOST}\n/auth/v2/check\n"));
        let s512 = sign(SignatureAlg::Sha512, &skey(), &c);
        assert_eq!(s512, "c3eec132a55b609eeadb27edbd90a8dca957cfdaeadff117c3bdb16edd18b1ab7da44f8d4c9df6b6d94b2bf23a135c76e5f0760c8066fb950a7c01441b998d19");
        assert_eq!(
            sign(SignatureAlg::Sha1, &skey(), &c),
            "5374752694060422c968d43a47efd512fb168925"
        );
        assert_eq!(authorization(IKEY, &s512), "Basic RElYWVpWNllNOElGWVZXQklOQ0E6YzNlZWMxMzJhNTViNjA5ZWVhZGIyN2VkYmQ5MGE4ZGNhOTU3Y2ZkYWVhZGZmMTE3YzNiZGIxNmVkZDE4YjFhYjdkYTQ0ZjhkNGM5ZGY2YjZkOTRiMmJmMjNhMTM1Yzc2ZTVmMDc2MGM4MDY2ZmI5NTBhN2MwMTQ0MWI5OThkMTk=");
    }

    #[test]
    fn o2_ping() {
        let c = canonical_request(DATE, "GET", HOST, "/auth/v2/ping", &[]);
        assert_eq!(sign(SignatureAlg::Sha512, &skey(), &c), "4a90c63a6c56280f4f855a186978471a39306689e1fcefb43d029ce3534fe1b6b5dfa6f9897fa38e41b8f1cdb6717868eaf584dc9fd79c906c7cc02e548d8a06");
    }

    #[test]
    fn o3_preauth_escaping() {
        let params = p(&[
            ("username", "Jörg O'Neil+~*"),
            ("ipaddr", "192.0.2.10"),
            ("hostname", "bastion-1.example.com"),
            ("text_prompt", "1"),
            ("failmode", "closed"),
            ("client_supports_verified_push", "1"),
        ]);
        let line5 = "client_supports_verified_push=1&failmode=closed&hostname=bastion-1.example.com&ipaddr=192.0.2.10&text_prompt=1&username=J%C3%B6rg%20O%27Neil%2B~%2A";
        assert_eq!(canonical_params(&params), line5);
        // Host case and method case do not matter.
        let c = canonical_request(
            DATE,
            "post",
            "API-ABCD1234.duosecurity.com",
            "/auth/v2/preauth",
            &params,
        );
        assert_eq!(
            c,
            format!("{DATE}\nPOST\n{HOST}\n/auth/v2/preauth\n{line5}")
        );
        assert_eq!(sign(SignatureAlg::Sha512, &skey(), &c), "568bf3030062fd2e50f0b0a91504f11d377ba9f7feefa5ceef87be6d3c55db5e635d3c76595e0676954f7f67dae1fff2544864ce2c15d46be1b67b5667962405");
        assert_eq!(
            sign(SignatureAlg::Sha1, &skey(), &c),
            "a3fec5670a9be22a599ce4d5fc108afc2233fbc5"
        );
    }

    #[test]
    fn o4_auth_double_encoded_pushinfo() {
        let params = p(&[
            ("username", "alice"),
            ("factor", "prompt"),
            ("prompt", "verified_push1"),
            ("async", "1"),
            ("ipaddr", "192.0.2.10"),
            ("hostname", "bastion-1.example.com"),
            ("pushinfo", "Server+IP=192.0.2.2&Command=echo%20hi%3B%20id"),
            ("txid", "verified-push-txid"),
        ]);
        let line5 = "async=1&factor=prompt&hostname=bastion-1.example.com&ipaddr=192.0.2.10&prompt=verified_push1&pushinfo=Server%2BIP%3D192.0.2.2%26Command%3Decho%2520hi%253B%2520id&txid=verified-push-txid&username=alice";
        assert_eq!(canonical_params(&params), line5);
        let c = canonical_request(DATE, "POST", HOST, "/auth/v2/auth", &params);
        assert_eq!(sign(SignatureAlg::Sha512, &skey(), &c), "b7b7f59333c9515d19d8c9638e76ec80fcb0225f1878632b3fa053f56fed8200652ee66b35091188740fc268ac65e6870bf554f2f296c0b58ed6cb946c4a0710");
    }

    #[test]
    fn o5_auth_status() {
        let params = p(&[("txid", "45f7c92b-f45f-4862-8545-e0f58e78075a")]);
        assert_eq!(
            canonical_params(&params),
            "txid=45f7c92b-f45f-4862-8545-e0f58e78075a"
        );
        let c = canonical_request(DATE, "GET", HOST, "/auth/v2/auth_status", &params);
        assert_eq!(sign(SignatureAlg::Sha512, &skey(), &c), "3f6ff93716914fee698e837101edf28a1a388df077b2fb82ac657edcaddbb992fd667a45ab8e1d7c743fb5b1e90d8c84b6cc8eb9bd5b691671fae9e268fd079e");
    }

    // From Duo's own client library: duosecurity/duo_client_python, tests/test_client_sign.py
    // (TestQueryParameters.test_printable_ascii_characters, TestCanonicalize.test_v2, TestSign.test_hmac_sha1).
    #[test]
    fn duo_client_python_printable_ascii() {
        let params = p(&[
            ("digits", "0123456789"),
            (
                "letters",
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
            ),
            ("punctuation", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"),
            ("whitespace", "\t\n\x0b\x0c\r "),
        ]);
        assert_eq!(
            canonical_params(&params),
            "digits=0123456789&letters=abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ&punctuation=%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E_%60%7B%7C%7D~&whitespace=%09%0A%0B%0C%0D%20"
        );
    }

    #[test]
    fn duo_client_python_canonicalize_v2_and_hmac_sha1() {
        let params = p(&[
            (
                "\u{469a}\u{287b}\u{35d0}\u{8ef3}\u{6727}\u{502a}\u{0810}\u{d091}\u{c8}\u{c170}",
                "\u{0f45}\u{1a76}\u{341a}\u{654c}\u{c23f}\u{9b09}\u{abe2}\u{8343}\u{1b27}\u{60d0}",
            ),
            (
                "\u{7449}\u{7e4b}\u{ccfb}\u{59ff}\u{fe5f}\u{83b7}\u{adcc}\u{900c}\u{cfd1}\u{7813}",
                "\u{8db7}\u{5022}\u{92d3}\u{42ef}\u{207d}\u{8730}\u{acfe}\u{5617}\u{0946}\u{4e30}",
            ),
            (
                "\u{7470}\u{9314}\u{901c}\u{9eae}\u{40d8}\u{4201}\u{82d8}\u{8c70}\u{1d31}\u{a042}",
                "\u{17d9}\u{0ba8}\u{9358}\u{aadf}\u{a42a}\u{48be}\u{fb96}\u{6fe9}\u{b7ff}\u{32f3}",
            ),
            (
                "\u{c2c5}\u{2c1d}\u{2620}\u{3617}\u{96b3}F\u{8605}\u{20e8}\u{ac21}\u{5934}",
                "\u{fba9}\u{41aa}\u{bd83}\u{840b}\u{2615}\u{3e6e}\u{652d}\u{a8b5}\u{d56b}U",
            ),
        ]);
        let date = "Fri, 07 Dec 2012 17:18:00 -0000";
        let c = canonical_request(date, "PoSt", "foO.BAr52.cOm", "/Foo/BaR2/qux", &params);
        assert_eq!(c, "Fri, 07 Dec 2012 17:18:00 -0000\nPOST\nfoo.bar52.com\n/Foo/BaR2/qux\n%E4%9A%9A%E2%A1%BB%E3%97%90%E8%BB%B3%E6%9C%A7%E5%80%AA%E0%A0%90%ED%82%91%C3%88%EC%85%B0=%E0%BD%85%E1%A9%B6%E3%90%9A%E6%95%8C%EC%88%BF%E9%AC%89%EA%AF%A2%E8%8D%83%E1%AC%A7%E6%83%90&%E7%91%89%E7%B9%8B%EC%B3%BB%E5%A7%BF%EF%B9%9F%E8%8E%B7%EA%B7%8C%E9%80%8C%EC%BF%91%E7%A0%93=%E8%B6%B7%E5%80%A2%E9%8B%93%E4%8B%AF%E2%81%BD%E8%9C%B0%EA%B3%BE%E5%98%97%E0%A5%86%E4%B8%B0&%E7%91%B0%E9%8C%94%E9%80%9C%E9%BA%AE%E4%83%98%E4%88%81%E8%8B%98%E8%B1%B0%E1%B4%B1%EA%81%82=%E1%9F%99%E0%AE%A8%E9%8D%98%EA%AB%9F%EA%90%AA%E4%A2%BE%EF%AE%96%E6%BF%A9%EB%9F%BF%E3%8B%B3&%EC%8B%85%E2%B0%9D%E2%98%A0%E3%98%97%E9%9A%B3F%E8%98%85%E2%83%A8%EA%B0%A1%E5%A4%B4=%EF%AE%A9%E4%86%AA%EB%B6%83%E8%90%8B%E2%98%95%E3%B9%AE%E6%94%AD%EA%A2%B5%ED%95%ABU");
        let skey = Secret::new("gtdfxv9YgVBYcF6dl2Eq17KUQJN2PLM2ODVTkvoT".into());
        let sig = sign(SignatureAlg::Sha1, &skey, &c);
        assert_eq!(sig, "f01811cbbf9561623ab45b893096267fd46a5178");
        assert_eq!(
            authorization("test_ikey", &sig),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode("test_ikey:f01811cbbf9561623ab45b893096267fd46a5178")
            )
        );
    }

    #[test]
    fn dates() {
        assert_eq!(duo_date(1_795_415_400), DATE);
        assert_eq!(duo_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(duo_date(951_868_799), "Tue, 29 Feb 2000 23:59:59 +0000");
        assert_eq!(duo_date(-1), "Wed, 31 Dec 1969 23:59:59 +0000");
    }
}
