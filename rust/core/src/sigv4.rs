//! AWS Signature Version 4 for S3 requests: the `Authorization` header, so the core can
//! GET objects of `s3://` references with the credentials Python resolved (env, or a
//! boto3 session for profiles/SSO) without a presigned URL per object; and presigned
//! URLs (query-string auth), which the server's S3 blob store hands to clients.
//!
//! S3 flavour: the path is signed as sent (already percent-encoded once, not twice),
//! the payload hash is sent as `x-amz-content-sha256` (presigned URLs: `UNSIGNED-PAYLOAD`).
//! Proven with AWS's published vectors below and against botocore (headers:
//! `tests/references/test_engine.py`; presigned URLs: `tests/server/test_s3_presign.py`).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// What a request is signed with (an access key pair, a session token for temporary
/// credentials), and where (region, service).
#[derive(Clone, Debug)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    pub region: String,
    pub service: String,
}

/// SHA-256 of the empty body, the payload hash of every GET.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// HMAC-SHA256 (RFC 2104) over sha2, which the core already uses.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

use crate::digest::hex;

/// `20150830T123600Z` for a Unix time (UTC; civil date from days, no calendar crate).
pub fn amz_date(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Percent-encode as SigV4 wants: everything but `A-Za-z0-9-_.~` (and `/` if `keep_slash`).
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hexval = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The canonical query string: each name and value decoded, re-encoded, sorted.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(k), false), uri_encode(&percent_decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// A request to sign: `path` as sent (percent-encoded), `query` without `?`, `headers`
/// with `host` among them.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub payload_sha256: &'a str,
}

/// The canonical request and the `SignedHeaders` list of `req`.
pub fn canonical_request(req: &Request<'_>) -> (String, String) {
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    headers.sort();
    let mut merged: Vec<(String, String)> = Vec::new();
    for (k, v) in headers {
        match merged.last_mut() {
            Some((lk, lv)) if *lk == k => {
                lv.push(',');
                lv.push_str(&v);
            }
            _ => merged.push((k, v)),
        }
    }
    let canonical_headers = merged.iter().fold(String::new(), |mut acc, (k, v)| {
        let _ = writeln!(acc, "{k}:{v}");
        acc
    });
    let signed = merged.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let path = if req.path.is_empty() { "/" } else { req.path };
    let text = format!(
        "{}\n{path}\n{}\n{canonical_headers}\n{signed}\n{}",
        req.method,
        canonical_query(req.query),
        req.payload_sha256
    );
    (text, signed)
}

/// The signing key for a day (`yyyymmdd`): HMACs of the date, region, service, request.
pub fn signing_key(secret: &str, day: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac_sha256(format!("AWS4{secret}").as_bytes(), day.as_bytes());
    let k = hmac_sha256(&k, region.as_bytes());
    let k = hmac_sha256(&k, service.as_bytes());
    hmac_sha256(&k, b"aws4_request")
}

/// The `Authorization` header for `req` at `amz_date` (which `req` must carry as
/// `x-amz-date`).
pub fn authorization(creds: &Credentials, req: &Request<'_>, amz_date: &str) -> String {
    let day = &amz_date[..8];
    let (canonical, signed) = canonical_request(req);
    let scope = format!("{day}/{}/{}/aws4_request", creds.region, creds.service);
    let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
    let key = signing_key(&creds.secret_key, day, &creds.region, &creds.service);
    let signature = hex(&hmac_sha256(&key, to_sign.as_bytes()));
    format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}", creds.access_key)
}

/// The headers to add to a GET of `url` (`scheme://host[:port]/path?query`) carrying
/// `headers` (e.g. Range, If-Match): x-amz-date, x-amz-content-sha256, the session
/// token if any, and Authorization, signed at `unix` seconds.
pub fn sign_get(creds: &Credentials, url: &str, headers: &[(String, String)], unix: u64) -> Vec<(String, String)> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (authority, path_query) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = default_port_stripped(url, host);
    let date = amz_date(unix);
    let mut add = vec![
        ("x-amz-date".to_string(), date.clone()),
        ("x-amz-content-sha256".to_string(), EMPTY_SHA256.to_string()),
    ];
    if let Some(token) = creds.session_token.as_deref().filter(|t| !t.is_empty()) {
        add.push(("x-amz-security-token".to_string(), token.to_string()));
    }
    let mut all: Vec<(String, String)> = vec![("host".to_string(), host.to_string())];
    all.extend(headers.iter().cloned());
    all.extend(add.iter().cloned());
    let req = Request { method: "GET", path, query, headers: &all, payload_sha256: EMPTY_SHA256 };
    add.push(("Authorization".to_string(), authorization(creds, &req, &date)));
    add
}

/// One request to presign: `path` is the object's path on the endpoint (`/bucket/key`
/// or `/key`, not encoded), `query` extra parameters (`partNumber`, `uploadId`),
/// `headers` those the caller must send as signed (`content-md5`, `if-none-match`...).
#[derive(Clone, Debug)]
pub struct Presign {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
}

/// A presigned URL (query-string auth, `UNSIGNED-PAYLOAD`) for `req` on `base`
/// (`scheme://host[:port][/path prefix]`), valid `expires` seconds from `unix`. An
/// endpoint that checks signatures refuses any change to the method, path, query or
/// signed headers, and any use after the expiry.
pub fn presign(creds: &Credentials, base: &str, req: &Presign, expires: u64, unix: u64) -> String {
    let date = amz_date(unix);
    presign_at(creds, base, req, expires, &date, &signing_key(&creds.secret_key, &date[..8], &creds.region, &creds.service))
}

/// `presign` for many requests at once (one signing key, derived once): the server signs
/// thousands of URLs per commit.
pub fn presign_batch(creds: &Credentials, base: &str, reqs: &[Presign], expires: u64, unix: u64) -> Vec<String> {
    let date = amz_date(unix);
    let key = signing_key(&creds.secret_key, &date[..8], &creds.region, &creds.service);
    reqs.iter().map(|r| presign_at(creds, base, r, expires, &date, &key)).collect()
}

fn presign_at(creds: &Credentials, base: &str, req: &Presign, expires: u64, date: &str, key: &[u8; 32]) -> String {
    let base = base.trim_end_matches('/');
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let (authority, prefix) = rest.find('/').map_or((rest, ""), |i| (&rest[..i], &rest[i..]));
    let host = default_port_stripped(base, authority);
    let path = uri_encode(&format!("{prefix}/{}", req.path.trim_start_matches('/')), true);
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.split_whitespace().collect::<Vec<_>>().join(" ")))
        .collect();
    headers.push(("host".to_string(), host.to_string()));
    headers.sort();
    let signed = headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(";");
    let scope = format!("{}/{}/{}/aws4_request", &date[..8], creds.region, creds.service);
    let mut params: Vec<(String, String)> = req.query.clone();
    params.push(("X-Amz-Algorithm".into(), "AWS4-HMAC-SHA256".into()));
    params.push(("X-Amz-Credential".into(), format!("{}/{scope}", creds.access_key)));
    params.push(("X-Amz-Date".into(), date.to_string()));
    params.push(("X-Amz-Expires".into(), expires.to_string()));
    params.push(("X-Amz-SignedHeaders".into(), signed.clone()));
    if let Some(token) = creds.session_token.as_deref().filter(|t| !t.is_empty()) {
        params.push(("X-Amz-Security-Token".into(), token.to_string()));
    }
    let mut encoded: Vec<(String, String)> =
        params.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
    encoded.sort();
    let query = encoded.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let canonical_headers = headers.iter().fold(String::new(), |mut acc, (k, v)| {
        let _ = writeln!(acc, "{k}:{v}");
        acc
    });
    let canonical = format!("{}\n{path}\n{query}\n{canonical_headers}\n{signed}\nUNSIGNED-PAYLOAD", req.method);
    let to_sign = format!("AWS4-HMAC-SHA256\n{date}\n{scope}\n{}", hex(&Sha256::digest(canonical.as_bytes())));
    let signature = hex(&hmac_sha256(key, to_sign.as_bytes()));
    format!("{scheme}://{authority}{path}?{query}&X-Amz-Signature={signature}")
}

/// The Host header a client sends: the port only when it is not the scheme's default.
fn default_port_stripped<'a>(url: &str, host: &'a str) -> &'a str {
    let default = if url.starts_with("https://") { ":443" } else { ":80" };
    host.strip_suffix(default).unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn suite() -> Credentials {
        Credentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
            region: "us-east-1".into(),
            service: "service".into(),
        }
    }

    fn s3_docs() -> Credentials {
        Credentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
            region: "us-east-1".into(),
            service: "s3".into(),
        }
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn dates_are_utc_civil() {
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
        assert_eq!(amz_date(951_782_400), "20000229T000000Z");
    }

    /// AWS SigV4 test suite: get-vanilla and post-vanilla (service "service").
    #[test]
    fn aws_suite_vanilla_vectors() {
        let headers = h(&[("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]);
        for (method, want) in [
            ("GET", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            ("POST", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        ] {
            let req = Request { method, path: "/", query: "", headers: &headers, payload_sha256: EMPTY_SHA256 };
            let auth = authorization(&suite(), &req, "20150830T123600Z");
            assert_eq!(
                auth,
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                     SignedHeaders=host;x-amz-date, Signature={want}"
                )
            );
        }
        let req = Request { method: "GET", path: "/", query: "", headers: &headers, payload_sha256: EMPTY_SHA256 };
        let (canonical, _) = canonical_request(&req);
        let string_hash = hex(&Sha256::digest(canonical.as_bytes()));
        assert_eq!(string_hash, "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    }

    /// The S3 docs' "Signature Calculations for the Authorization Header" examples.
    #[test]
    fn s3_docs_get_object_and_list_vectors() {
        let get = h(&[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("Range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let req = Request { method: "GET", path: "/test.txt", query: "", headers: &get, payload_sha256: EMPTY_SHA256 };
        let auth = authorization(&s3_docs(), &req, "20130524T000000Z");
        assert!(auth.contains("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"), "{auth}");
        assert!(auth.ends_with("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"), "{auth}");

        let list = h(&[
            ("Host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let req = Request { method: "GET", path: "/", query: "max-keys=2&prefix=J", headers: &list, payload_sha256: EMPTY_SHA256 };
        let auth = authorization(&s3_docs(), &req, "20130524T000000Z");
        assert!(auth.ends_with("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"), "{auth}");
    }

    #[test]
    fn sign_get_builds_the_documented_request() {
        // The same GET object example, through the URL-based entry point.
        let out = sign_get(
            &s3_docs(),
            "https://examplebucket.s3.amazonaws.com/test.txt",
            &h(&[("Range", "bytes=0-9")]),
            1_369_353_600,
        );
        let auth = &out.iter().find(|(k, _)| k == "Authorization").expect("signed").1;
        assert!(auth.ends_with("Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"), "{auth}");
    }

    /// The S3 docs' "Example: presigned URL" (GET examplebucket/test.txt, 86400 s).
    #[test]
    fn s3_docs_presigned_url_vector() {
        let req = Presign { method: "GET".into(), path: "/test.txt".into(), query: vec![], headers: vec![] };
        let url = presign(&s3_docs(), "https://examplebucket.s3.amazonaws.com", &req, 86_400, 1_369_353_600);
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
        let batch = presign_batch(&s3_docs(), "https://examplebucket.s3.amazonaws.com/", &[req.clone(), req], 86_400, 1_369_353_600);
        assert_eq!(batch, vec![url.clone(), url]);
    }

    /// A path-style PUT of one part on a custom endpoint: the key is encoded once, the
    /// signed headers are lowercased and sorted, the default port is not in the Host.
    #[test]
    fn presigned_part_put_signs_its_headers_and_query() {
        let req = Presign {
            method: "PUT".into(),
            path: "/bkt/p1/md5/k ä".into(),
            query: vec![("partNumber".into(), "3".into()), ("uploadId".into(), "a/b+c".into())],
            headers: vec![("Content-MD5".into(), "1B2M2Y8AsgTpgAmY7PhCfg==".into()), ("If-None-Match".into(), "*".into())],
        };
        let url = presign(&s3_docs(), "http://127.0.0.1:80", &req, 900, 1_369_353_600);
        assert!(url.starts_with("http://127.0.0.1:80/bkt/p1/md5/k%20%C3%A4?X-Amz-Algorithm="), "{url}");
        assert!(url.contains("X-Amz-SignedHeaders=content-md5%3Bhost%3Bif-none-match&"), "{url}");
        assert!(url.contains("&partNumber=3&uploadId=a%2Fb%2Bc&X-Amz-Signature="), "{url}");
        let token = Credentials { session_token: Some("tok/en".into()), ..s3_docs() };
        assert!(presign(&token, "http://127.0.0.1:80", &req, 900, 1_369_353_600).contains("X-Amz-Security-Token=tok%2Fen"));
    }

    #[test]
    fn query_is_canonicalised() {
        assert_eq!(canonical_query("versionId=a%2Bb&acl"), "acl=&versionId=a%2Bb");
        assert_eq!(canonical_query("b=2&a=x y"), "a=x%20y&b=2");
        assert_eq!(uri_encode("k/ä b", true), "k/%C3%A4%20b");
    }
}
