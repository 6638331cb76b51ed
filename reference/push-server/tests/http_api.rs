#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The provider API: every status code, with its JSON error body snapshotted.

mod common;

use common::*;

fn describe(name: &str, response: &HttpResponse) -> String {
    let mut out = format!("## {name}\nstatus: {}\n", response.status);
    for header in [
        "content-type",
        "www-authenticate",
        "retry-after",
        "ttl",
        "allow",
    ] {
        if let Some(value) = response.header(header) {
            out.push_str(&format!("{header}: {value}\n"));
        }
    }
    if !response.body.is_empty() {
        out.push_str(&format!("body: {}\n", response.body));
    }
    out
}

#[tokio::test]
async fn every_status_code_and_error_body() {
    let mut settings = settings();
    settings.rate_per_sec = 1;
    settings.rate_burst = 2;
    settings.max_devices = 2;
    let server = server(settings).await;
    let (token, secret) = register(&server).await;
    let body = payload("acct");
    let mut report = String::new();

    //= spec/provider-api.md#PROV-9
    //# The server MUST answer an accepted push `201 Created` with a `Location` header naming
    //# the push message resource, `/v1/message/<device-token>/<id>`
    let created = push(
        &server,
        &token,
        "TTL: 60\r\nTopic: acct1\r\nUrgency: low\r\n",
        &body,
    )
    .await;
    assert_eq!(created.status, 201);
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/message/{token}/1").as_str())
    );
    assert_eq!(created.header("ttl"), Some("60"));
    //= spec/provider-api.md#PROV-4
    //# and MUST return the TTL it applied in the `TTL` header of the `201`
    //# response.
    let lowered = push(&server, &token, "TTL: 999999999\r\n", &body).await;
    assert_eq!(lowered.status, 201);
    assert_eq!(lowered.header("ttl"), Some("2592000"));

    //= spec/provider-api.md#PROV-12
    //# A request over the limit MUST be answered
    //# `429` with error `rate-limited` and a `Retry-After` header (seconds), and MUST NOT be stored.
    let limited = push(&server, &token, "TTL: 60\r\n", &body).await;
    report.push_str(&describe("rate limited", &limited));
    assert_eq!(limited.status, 429);

    let cases: Vec<(&str, String, Vec<u8>)> = vec![
        (
            "missing TTL",
            push_request(&token, "", &body),
            body.clone().into_bytes(),
        ),
        (
            "bad TTL",
            push_request(&token, "TTL: -5\r\n", &body),
            body.clone().into_bytes(),
        ),
        (
            "bad topic",
            push_request(&token, "TTL: 5\r\nTopic: has space\r\n", &body),
            body.clone().into_bytes(),
        ),
        (
            "bad urgency",
            push_request(&token, "TTL: 5\r\nUrgency: asap\r\n", &body),
            body.clone().into_bytes(),
        ),
        (
            "bad payload",
            push_request(&token, "TTL: 5\r\n", "{\"aps\":{\"m\":[\"XYZ\"]}}"),
            b"{\"aps\":{\"m\":[\"XYZ\"]}}".to_vec(),
        ),
        (
            "bad content type",
            push_request(&token, "TTL: 5\r\n", &body).replace("application/json", "text/plain"),
            body.clone().into_bytes(),
        ),
        (
            "two TTL fields",
            push_request(&token, "TTL: 5\r\nTTL: 5\r\n", &body),
            body.clone().into_bytes(),
        ),
        (
            "empty topic",
            push_request(&token, "TTL: 5\r\nTopic:\r\n", &body),
            body.clone().into_bytes(),
        ),
        (
            "two topics",
            push_request(&token, "TTL: 5\r\nTopic: a\r\nTopic: b\r\n", &body),
            body.clone().into_bytes(),
        ),
        (
            "two urgencies",
            push_request(&token, "TTL: 5\r\nUrgency: low\r\nUrgency: low\r\n", &body),
            body.clone().into_bytes(),
        ),
        (
            "two content types",
            push_request(
                &token,
                "TTL: 5\r\nContent-Type: application/json\r\n",
                &body,
            ),
            body.clone().into_bytes(),
        ),
        (
            "two bearer tokens",
            push_request(
                &token,
                &format!("TTL: 5\r\nAuthorization: Bearer {PROVIDER}\r\n"),
                &body,
            ),
            body.clone().into_bytes(),
        ),
        (
            "bad device token",
            push_request("NOT-A-TOKEN", "TTL: 5\r\n", &body),
            body.clone().into_bytes(),
        ),
        (
            "no bearer",
            push_request(&token, "TTL: 5\r\n", &body).replace(PROVIDER, "wrong"),
            body.clone().into_bytes(),
        ),
        (
            "unknown device",
            push_request(&"a".repeat(64), "TTL: 5\r\n", &body),
            body.clone().into_bytes(),
        ),
        (
            "announced too large",
            format!(
                "POST /v1/push/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {PROVIDER}\r\nContent-Type: application/json\r\nTTL: 5\r\nContent-Length: 4097\r\n\r\n"
            ),
            vec![b' '; 4097],
        ),
        (
            "chunked too large",
            format!(
                "POST /v1/push/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {PROVIDER}\r\nContent-Type: application/json\r\nTTL: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            ),
            {
                let mut chunked = b"1388\r\n".to_vec();
                chunked.extend(vec![b' '; 5000]);
                chunked.extend(b"\r\n0\r\n\r\n");
                chunked
            },
        ),
        (
            "wrong method",
            format!("GET /v1/push/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
            vec![],
        ),
        (
            "message resource is not readable",
            format!(
                "GET /v1/message/{token}/1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {PROVIDER}\r\n\r\n"
            ),
            vec![],
        ),
        (
            "no such resource",
            "GET /nowhere HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_owned(),
            vec![],
        ),
    ];
    //= spec/provider-api.md#PROV-14
    //# The server MUST use these error codes with these statuses
    //= spec/provider-api.md#PROV-5
    //# A malformed topic MUST be answered `400` with error `bad-topic`.
    //= spec/provider-api.md#PROV-6
    //# A malformed urgency MUST be answered `400` with error `bad-urgency`.
    //= spec/provider-api.md#PROV-7
    //# A body larger than 4096
    //# octets MUST be answered `413` with error `payload-too-large`
    //= spec/provider-api.md#PROV-8
    //# The server MUST answer a payload that is not JSON or
    //# lacks this shape `400` with error `bad-payload`, and a request with another media type `400` with
    //# error `bad-content-type`.
    //= spec/provider-api.md#PROV-2
    //# A missing, malformed or unknown token MUST be answered `401` with a
    //# `WWW-Authenticate: Bearer` header and an error body
    //= spec/provider-api.md#PROV-10
    //# A push to a device token that was never registered MUST be answered `404` with
    //# error `unknown-device`.
    //= spec/provider-api.md#PROV-25
    //# it MUST NOT reveal
    //# a notification to a provider other than through the device channel.
    //= spec/provider-api.md#PROV-28
    //# A request with two
    //# or more field lines of one of them, even with equal values, MUST be answered `400` with the error
    //# code of that field: `bad-ttl`, `bad-topic`, `bad-urgency` or `bad-content-type`.
    //= spec/provider-api.md#PROV-5
    //# An empty `Topic` field is malformed
    for (name, request, body) in &cases {
        let response = http(server.http_addr, request, body).await;
        //= spec/provider-api.md#PROV-13
        //# Every response with a status of 400 or above MUST carry `Content-Type:
        //# application/json`
        assert!(response.status >= 400, "{name}: {response:?}");
        assert!(response.status < 500, "{name}: {response:?}");
        assert_eq!(
            response.header("content-type"),
            Some("application/json"),
            "{name}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(parsed["code"], response.status, "{name}");
        report.push_str(&describe(name, &response));
    }

    //= spec/provider-api.md#PROV-17
    //# The server MUST cap the number of registered devices (configurable; one
    //# million by default) and MUST answer a registration over the cap `503` with error
    //# `registration-limit`.
    // Registration limit: two devices at most, one exists.
    let (second, _) = register(&server).await;
    let refused = http(
        server.http_addr,
        &format!("POST /v1/devices HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {REGISTRATION}\r\nContent-Length: 0\r\n\r\n"),
        b"",
    )
    .await;
    report.push_str(&describe("registration limit", &refused));
    assert_eq!(refused.status, 503);

    // Unregistration: wrong secret, then the real one, then pushes get 410.
    let delete = |secret: &str| {
        format!(
            "DELETE /v1/devices/{second} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {secret}\r\n\r\n"
        )
    };
    //= spec/provider-api.md#PROV-16
    //# a wrong or missing secret MUST be answered `401`.
    let wrong = http(server.http_addr, &delete(&secret), b"").await;
    report.push_str(&describe("unregister with another device's secret", &wrong));
    assert_eq!(wrong.status, 401);
    let _ = second;
    server.shutdown().await;
    insta::assert_snapshot!(report);
}

#[tokio::test]
async fn unregistered_device_gets_410() {
    let server = server(settings()).await;
    let (token, secret) = register(&server).await;
    let request = format!(
        "DELETE /v1/devices/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {secret}\r\n\r\n"
    );
    let deleted = http(server.http_addr, &request, b"").await;
    assert_eq!(deleted.status, 204);
    //= spec/provider-api.md#PROV-11
    //# A push to a device token that was registered and then unregistered MUST
    //# be answered `410` with error `unregistered`.
    //= spec/provider-api.md#PROV-16
    //# On success the
    //# server MUST answer `204`
    let gone = push(&server, &token, "TTL: 5\r\n", &payload("a")).await;
    insta::assert_snapshot!(describe("push after unregistration", &gone));
    assert_eq!(gone.status, 410);
    server.shutdown().await;
}

#[tokio::test]
async fn registration_answers_token_secret_and_location() {
    let server = server(settings()).await;
    let response = http(
        server.http_addr,
        &format!("POST /v1/devices HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {REGISTRATION}\r\nContent-Length: 0\r\n\r\n"),
        b"",
    )
    .await;
    //= spec/provider-api.md#PROV-15
    //# The server MUST answer `201` with a `Location`
    //# header `/v1/devices/<device-token>` and a JSON body
    //# `{"token":"<device-token>","secret":"<secret>","push":"/v1/push/<device-token>"}`. The token MUST
    //# be 64 lowercase hexadecimal characters and the secret 64 lowercase hexadecimal characters
    assert_eq!(response.status, 201);
    let body: serde_json::Value = serde_json::from_str(&response.body).unwrap();
    let token = body["token"].as_str().unwrap();
    let secret = body["secret"].as_str().unwrap();
    let lower_hex = |s: &str| {
        s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    assert!(lower_hex(token) && lower_hex(secret) && token != secret);
    assert_eq!(
        response.header("location"),
        Some(format!("/v1/devices/{token}").as_str())
    );
    assert_eq!(body["push"], format!("/v1/push/{token}"));
    // Without the registration token: 401.
    let refused = http(
        server.http_addr,
        "POST /v1/devices HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"",
    )
    .await;
    assert_eq!(refused.status, 401);
    server.shutdown().await;
}

/// Sends `head` and reads the answer while the connection stays open on the client's side.
async fn answer_to_unfinished(
    server: &mailpush_push_server::RunningServer,
    head: &[u8],
) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.http_addr)
        .await
        .unwrap();
    // The server may answer and close before it has taken every octet.
    let _ = stream.write_all(head).await;
    let mut raw = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut raw),
    )
    .await;
    assert!(
        read.is_ok(),
        "the server must answer, not wait for the rest of the head"
    );
    drop(stream);
    parse_response(&raw)
}

#[tokio::test]
async fn oversize_headers_are_refused() {
    let server = server(settings()).await;
    let token = "a".repeat(64);
    //= spec/provider-api.md#PROV-3
    //# The server MUST bound the size of the request line and headers (16 KiB in
    //# total by default)
    //= spec/provider-api.md#PROV-30
    //# A request whose head exceeds the bound of [PROV-3](#PROV-3) MUST be answered
    //# `431` with error `headers-too-large`, whichever part of the head is long: one header field, many
    //# of them, or the request line (a long request line gets `431`, not `414`
    let cases = [
        (
            "one long field",
            format!(
                "POST /v1/push/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Filler: {}\r\n\r\n",
                "x".repeat(20 * 1024)
            ),
        ),
        (
            "a long request line",
            format!(
                "POST /v1/push/{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                "a".repeat(20 * 1024)
            ),
        ),
        (
            "many small fields",
            format!(
                "POST /v1/push/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{}\r\n",
                "X-A: b\r\n".repeat(3000)
            ),
        ),
        (
            "more fields than allowed",
            format!(
                "POST /v1/push/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{}\r\n",
                "X-A: b\r\n".repeat(101)
            ),
        ),
        //= spec/provider-api.md#PROV-30
        //# the server MUST answer as soon as it holds more of an unfinished head
        //# than the bound, without waiting for the rest
        (
            "a head that stops just past the bound",
            format!(
                "POST /v1/push/{token} HTTP/1.1\r\nHost: t\r\nX-Filler: {}",
                "x".repeat(16 * 1024)
            ),
        ),
    ];
    for (name, head) in cases {
        let response = answer_to_unfinished(&server, head.as_bytes()).await;
        assert_eq!(response.status, 431, "{name}: {response:?}");
    }
    // A head just within the bound is served.
    let filler = 16 * 1024 - push_request(&token, "TTL: 5\r\nX-F: \r\n", &payload("a")).len();
    let within = push(
        &server,
        &token,
        &format!("TTL: 5\r\nX-F: {}\r\n", "x".repeat(filler)),
        &payload("a"),
    )
    .await;
    assert_eq!(within.status, 404, "{within:?}");
    // And it keeps serving.
    let after = push(&server, &token, "TTL: 5\r\n", &payload("a")).await;
    assert_eq!(after.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn media_type_parameters_and_case_are_ignored() {
    let server = server(settings()).await;
    let (token, _) = register(&server).await;
    let body = payload("acct");
    //= spec/provider-api.md#PROV-29
    //# The server MUST compare the type and subtype of `Content-Type` without regard
    //# to case and MUST ignore its parameters (RFC 9110 §8.3.1): `application/json`, `Application/JSON`
    //# and `application/json; charset=utf-8` are accepted alike, `text/json` and
    //# `application/json-seq` are not.
    for (media_type, status) in [
        ("Application/JSON", 201),
        ("application/json; charset=utf-8", 201),
        ("APPLICATION/json;charset=\"UTF-8\";x=y", 201),
        ("text/json", 400),
        ("application/json-seq", 400),
        ("application/jsonx", 400),
    ] {
        let request =
            push_request(&token, "TTL: 5\r\n", &body).replace("application/json", media_type);
        let response = http(server.http_addr, &request, body.as_bytes()).await;
        assert_eq!(response.status, status, "{media_type}: {response:?}");
        if status == 400 {
            assert!(response.body.contains("bad-content-type"), "{response:?}");
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn registration_needs_credentials_and_an_empty_body() {
    let mut settings = settings();
    settings.max_devices = 1;
    let server = server(settings).await;
    let registration = |auth: &str, extra: &str| {
        format!("POST /v1/devices HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{auth}{extra}\r\n")
    };
    let auth = format!("Authorization: Bearer {REGISTRATION}\r\n");
    //= spec/provider-api.md#PROV-31
    //# A registration whose `Authorization` is missing, malformed or
    //# names no registration token configured on the server MUST be answered `401` with error
    //# `unauthorized` and a `WWW-Authenticate: Bearer` header
    for bad in [
        "",
        "Authorization: Bearer wrong\r\n",
        &format!("Authorization: Basic {REGISTRATION}\r\n"),
        &format!("Authorization: Bearer {PROVIDER}\r\n"),
    ] {
        let refused = http(
            server.http_addr,
            &registration(bad, "Content-Length: 0\r\n"),
            b"",
        )
        .await;
        assert_eq!(refused.status, 401, "{bad:?}: {refused:?}");
        assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
        assert!(refused.body.contains("\"unauthorized\""));
    }
    //= spec/provider-api.md#PROV-32
    //# The server MUST
    //# answer a registration with a body `400` with error `bad-request`: without reading the body when
    //# `Content-Length` announces one, and otherwise at its first octet.
    // Announced: answered although the body never comes.
    let announced = answer_to_unfinished(
        &server,
        registration(&auth, "Content-Length: 5\r\n").as_bytes(),
    )
    .await;
    assert_eq!(announced.status, 400, "{announced:?}");
    assert!(announced.body.contains("bad-request"), "{announced:?}");
    // Chunked: refused at its first octet although the body goes on.
    let chunked = answer_to_unfinished(
        &server,
        format!(
            "{}5\r\nab",
            registration(&auth, "Transfer-Encoding: chunked\r\n")
        )
        .as_bytes(),
    )
    .await;
    assert_eq!(chunked.status, 400, "{chunked:?}");
    // The refusals registered nothing: the one device the cap allows still fits, with an empty
    // chunked body.
    let accepted = http(
        server.http_addr,
        &registration(&auth, "Transfer-Encoding: chunked\r\n"),
        b"0\r\n\r\n",
    )
    .await;
    assert_eq!(accepted.status, 201, "{accepted:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn unregistered_devices_do_not_count_towards_the_cap() {
    let mut settings = settings();
    settings.max_devices = 2;
    let server = server(settings).await;
    let (first, secret) = register(&server).await;
    let (_second, _) = register(&server).await;
    let full = http(
        server.http_addr,
        &format!("POST /v1/devices HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {REGISTRATION}\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!(full.status, 503);
    let deleted = http(
        server.http_addr,
        &format!("DELETE /v1/devices/{first} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {secret}\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!(deleted.status, 204);
    //= spec/provider-api.md#PROV-33
    //# The cap of [PROV-17](#PROV-17) counts the devices that are registered
    //# and not unregistered: tokens remembered after their unregistration ([PROV-11](#PROV-11)) MUST
    //# NOT count towards it, so that a device that unregisters makes room for another.
    let (third, _) = register(&server).await;
    assert_ne!(third, first);
    // The unregistered token is still remembered (PROV-11).
    let gone = push(&server, &first, "TTL: 5\r\n", &payload("a")).await;
    assert_eq!(gone.status, 410);
    server.shutdown().await;
}

/// Requests with several faults get the first in the order of PROV-34.
#[tokio::test]
async fn the_first_fault_is_answered() {
    let server = server(settings()).await;
    let (token, secret) = register(&server).await;
    let unknown = "b".repeat(64);
    let bad_json = "{";
    //= spec/provider-api.md#PROV-34
    //# When a request has
    //# more than one fault, the server MUST answer the first of them in this order:
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "no credentials before a bad token",
            push_request("NOT-A-TOKEN", "", bad_json).replace(PROVIDER, "wrong"),
            bad_json,
            "unauthorized",
        ),
        ("a bad token before a missing TTL", push_request("NOT-A-TOKEN", "", bad_json), bad_json, "bad-request"),
        ("a missing TTL before a bad topic", push_request(&token, "Topic: no way\r\n", bad_json), bad_json, "missing-ttl"),
        ("a bad topic before a bad urgency", push_request(&token, "TTL: 1\r\nTopic: =\r\nUrgency: now\r\n", bad_json), bad_json, "bad-topic"),
        (
            "a bad urgency before a bad content type",
            push_request(&token, "TTL: 1\r\nUrgency: now\r\n", bad_json).replace("application/json", "text/plain"),
            bad_json,
            "bad-urgency",
        ),
        ("a bad payload before an unknown device", push_request(&unknown, "TTL: 1\r\n", bad_json), bad_json, "bad-payload"),
        (
            "a wrong method before credentials",
            format!("GET /v1/push/{token} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
            "",
            "method-not-allowed",
        ),
        (
            "an unknown token before the secret",
            format!("DELETE /v1/devices/{unknown} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"),
            "",
            "unknown-device",
        ),
        (
            "registration credentials before the body",
            "POST /v1/devices HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\n".to_owned(),
            "{}",
            "unauthorized",
        ),
    ];
    for (name, request, body, error) in cases {
        let response = http(server.http_addr, &request, body.as_bytes()).await;
        assert!(
            response.body.contains(&format!("\"error\":\"{error}\"")),
            "{name}: {response:?}"
        );
    }
    let _ = secret;
    server.shutdown().await;
}

#[tokio::test]
async fn resources_and_methods() {
    let server = server(settings()).await;
    let token = "a".repeat(64);
    //= spec/provider-api.md#PROV-35
    //# A path that is none of these
    //# (nor a push message resource on a server that serves those, [PROV-25](#PROV-25)) MUST be
    //# answered `404` with error `not-found`; a path that is one of them with another method MUST be
    //# answered `405` with error `method-not-allowed` and an `Allow` header naming the method of the
    //# table.
    let cases = [
        ("GET", format!("/v1/push/{token}"), 405, Some("POST")),
        ("PUT", "/v1/devices".to_owned(), 405, Some("POST")),
        ("POST", format!("/v1/devices/{token}"), 405, Some("DELETE")),
        ("POST", "/metrics".to_owned(), 405, Some("GET")),
        ("POST", format!("/v1/push/{token}/x"), 404, None),
        ("DELETE", format!("/v1/devices/{token}/x"), 404, None),
        ("POST", "/v1/push".to_owned(), 404, None),
        ("GET", "/".to_owned(), 404, None),
        ("GET", format!("/v1/message/{token}/1"), 404, None),
    ];
    for (method, path, status, allow) in cases {
        let response = http(
            server.http_addr,
            &format!("{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
            b"",
        )
        .await;
        assert_eq!(response.status, status, "{method} {path}: {response:?}");
        assert_eq!(response.header("allow"), allow, "{method} {path}");
    }
    // The query is not part of the path.
    let metrics = http(
        server.http_addr,
        &format!("GET /metrics?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer {PROVIDER}\r\n\r\n"),
        b"",
    )
    .await;
    assert_eq!(metrics.status, 200, "{metrics:?}");
    server.shutdown().await;
}
