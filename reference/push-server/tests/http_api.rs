#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The provider API: every status code, with its JSON error body snapshotted.

mod common;

use common::*;

fn describe(name: &str, response: &HttpResponse) -> String {
    let mut out = format!("## {name}\nstatus: {}\n", response.status);
    for header in ["content-type", "www-authenticate", "retry-after", "ttl"] {
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
    for (name, request, body) in &cases {
        let response = http(server.http_addr, request, body).await;
        //= spec/provider-api.md#PROV-13
        //# Every response with a status of 400 or above MUST carry `Content-Type:
        //# application/json`
        assert!(response.status >= 400, "{name}: {response:?}");
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

#[test]
fn payload_shape() {
    use mailpush_push_server::http::valid_payload;
    assert!(valid_payload(br#"{"aps":{"account-id":"x","m":[]}}"#));
    assert!(valid_payload(
        br#"{"aps":{"account-id":"x","m":["0123456789abcdef0123456789abcdef"]},"extra":1}"#
    ));
    assert!(!valid_payload(br#"{"aps":{"account-id":"","m":[]}}"#));
    assert!(!valid_payload(
        br#"{"aps":{"account-id":"x","m":["0123456789ABCDEF0123456789ABCDEF"]}}"#
    ));
    assert!(!valid_payload(br#"{"aps":{"account-id":"x"}}"#));
    assert!(!valid_payload(b"not json"));
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

#[tokio::test]
async fn oversize_headers_are_refused() {
    let server = server(settings()).await;
    //= spec/provider-api.md#PROV-3
    //# The server MUST bound the size of the request line and headers (16 KiB in
    //# total by default)
    let request = format!(
        "POST /v1/push/{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(64),
        "x".repeat(20 * 1024)
    );
    let response = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        http(server.http_addr, &request, b""),
    )
    .await
    .expect("the server must answer or close, not wait");
    // The server answers 431 and closes with the rest of the head unread, so the kernel may
    // reset the connection before the client reads the 431: either is a refusal.
    assert!(
        response.status == 431 || response.status == 0,
        "{response:?}"
    );
    // And it keeps serving.
    let after = push(&server, &"a".repeat(64), "TTL: 5\r\n", &payload("a")).await;
    assert_eq!(after.status, 404);
    server.shutdown().await;
}
