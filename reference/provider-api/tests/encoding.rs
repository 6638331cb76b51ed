#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Both ends of the provider API agree: what one end encodes the other reads back; what a peer
//! sends is read without panicking and, when accepted, re-encodes to the same; and an insta
//! snapshot of every encoding (`tests/snapshots/`).

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response};
use mailpush_provider_api::*;
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

#[derive(Debug, Clone)]
struct AnyMessage(PushMessage);

fn account(g: &mut Gen) -> AccountId {
    let text: String = String::arbitrary(g);
    let mut text: String = text.chars().take(80).collect();
    if text.is_empty() {
        text.push('a');
    }
    AccountId::new(text).unwrap()
}

impl Arbitrary for AnyMessage {
    fn arbitrary(g: &mut Gen) -> Self {
        let alphabet = b"ABCXYZabcxyz0189-_";
        let topic = bool::arbitrary(g).then(|| {
            let len = usize::arbitrary(g) % Topic::MAX_LEN + 1;
            let text: String = (0..len)
                .map(|_| char::from(*g.choose(alphabet).unwrap()))
                .collect();
            Topic::new(text).unwrap()
        });
        let account = account(g);
        let count = usize::arbitrary(g) % 40;
        let digests: Vec<MailboxDigest> = (0..count)
            .map(|_| MailboxDigest::of(&Vec::<u8>::arbitrary(g)))
            .collect();
        AnyMessage(PushMessage {
            ttl: Ttl::from_secs(u32::arbitrary(g)),
            topic,
            urgency: *g.choose(&Urgency::ALL).unwrap(),
            payload: Payload::new(account, digests).unwrap(),
        })
    }
}

fn push_round_trip(message: AnyMessage) -> bool {
    let AnyMessage(message) = message;
    let token = DeviceToken::from_octets([7; 32]);
    let resource = format!("https://push.example{}", push_path(&token))
        .parse()
        .unwrap();
    let request = message.to_request(resource, Some(&authorization("p").unwrap()));
    let head = PushHead::parse(request.headers()).unwrap();
    let payload = Payload::parse(request.body()).unwrap();
    route(request.method(), request.uri().path())
        == Ok(Route::Push {
            token: token.as_str(),
        })
        && bearer(request.headers()) == Some("p")
        && head.ttl == message.ttl
        && head.topic == message.topic
        && head.urgency == message.urgency
        && payload == message.payload
}

#[test]
fn what_a_mail_server_sends_the_push_server_reads() {
    QuickCheck::new()
        .tests(500)
        .quickcheck(push_round_trip as fn(AnyMessage) -> bool);
}

/// Header fields a peer might send: the provider API's own, in any number, with values drawn
/// from good ones, near misses and arbitrary octets.
#[derive(Debug, Clone)]
struct AnyHeaders(Vec<(&'static str, Vec<u8>)>);

impl Arbitrary for AnyHeaders {
    fn arbitrary(g: &mut Gen) -> Self {
        let names = [
            "ttl",
            "topic",
            "urgency",
            "content-type",
            "content-length",
            "x-other",
        ];
        let values: [&[u8]; 14] = [
            b"60",
            b"4294967296",
            b"",
            b" 5 ",
            b"acct-1_x",
            b"has space",
            b"low",
            b"Normal",
            b"application/json",
            b"Application/JSON; charset=utf-8",
            b"text/plain",
            b"4097",
            b"\xc3\xa9",
            b"99999999999999999999999",
        ];
        let count = usize::arbitrary(g) % 8;
        AnyHeaders(
            (0..count)
                .map(|_| {
                    let value = if bool::arbitrary(g) {
                        g.choose(&values).unwrap().to_vec()
                    } else {
                        Vec::<u8>::arbitrary(g)
                    };
                    (*g.choose(&names).unwrap(), value)
                })
                .collect(),
        )
    }
}

fn peer_headers_are_read_safely(headers: AnyHeaders) -> TestResult {
    let mut map = HeaderMap::new();
    for (name, value) in headers.0 {
        let Ok(value) = HeaderValue::from_bytes(&value) else {
            // No HTTP parser would pass it on.
            continue;
        };
        map.append(HeaderName::from_static(name), value);
    }
    let Ok(head) = PushHead::parse(&map) else {
        return TestResult::passed();
    };
    // Accepted: one field line of each, values that encode back to the same fields.
    let once = |name| map.get_all(name).iter().count() <= 1;
    let ttl_back = map
        .get("ttl")
        .unwrap()
        .to_str()
        .unwrap()
        .trim()
        .parse::<u32>()
        .unwrap();
    TestResult::from_bool(
        once("ttl")
            && once("topic")
            && once("urgency")
            && once("content-type")
            && ttl_back == head.ttl.secs()
            && head
                .topic
                .as_ref()
                .is_none_or(|t| map.get("topic").unwrap().to_str().unwrap().trim() == t.as_str()),
    )
}

#[test]
fn what_a_peer_sends_is_read_without_panicking() {
    //= spec/provider-api.md#PROV-28
    //= type=test
    //# A push request MUST carry at most one field line of each of `TTL`,
    //# `Topic`, `Urgency` and `Content-Type`
    QuickCheck::new()
        .tests(2000)
        .quickcheck(peer_headers_are_read_safely as fn(AnyHeaders) -> TestResult);
}

fn payloads_are_read_safely(octets: Vec<u8>, wrap: bool) -> bool {
    let octets = if wrap {
        // Nearer the shape, so that parsing gets past the first checks.
        let text = String::from_utf8_lossy(&octets);
        format!("{{\"aps\":{{\"account-id\":{text:?},\"m\":[{text:?}]}}}}").into_bytes()
    } else {
        octets
    };
    match Payload::parse(&octets) {
        Ok(payload) => {
            payload.as_bytes() == octets.as_slice()
                && (1..=MAX_ACCOUNT_ID_LEN).contains(&payload.account_id().as_str().len())
        }
        Err(error) => error.code().is_some(),
    }
}

#[test]
fn received_payloads_are_read_without_panicking() {
    QuickCheck::new()
        .tests(2000)
        .quickcheck(payloads_are_read_safely as fn(Vec<u8>, bool) -> bool);
}

fn capacity_is_exact(digests: u16) -> bool {
    let mut g = Gen::new(300);
    let account = account(&mut g);
    let n = usize::from(digests % 200);
    let digests: Vec<MailboxDigest> = (0..n as u32)
        .map(|i| MailboxDigest::of(&i.to_be_bytes()))
        .collect();
    let fits = n <= Payload::capacity(&account, MAX_PAYLOAD_LEN);
    match Payload::new(account, digests) {
        Ok(payload) => fits && payload.as_bytes().len() <= MAX_PAYLOAD_LEN,
        Err(Error::PayloadTooLarge) => !fits,
        Err(_) => false,
    }
}

#[test]
fn a_payload_holds_exactly_its_capacity() {
    //= spec/provider-api.md#PROV-20
    //= type=test
    //# When the payload would exceed 4096 octets, the mail
    //# server MUST split the set over several requests.
    QuickCheck::new()
        .tests(300)
        .quickcheck(capacity_is_exact as fn(u16) -> bool);
}

fn show_request(request: &Request<Bytes>) -> String {
    let mut out = format!("{} {}\n", request.method(), request.uri());
    for (name, value) in request.headers() {
        out.push_str(&format!("{name}: {}\n", value.to_str().unwrap()));
    }
    out.push_str(&format!("\n{}\n", String::from_utf8_lossy(request.body())));
    out
}

fn show_response(response: &Response<Bytes>) -> String {
    let mut out = format!("{}\n", response.status());
    for (name, value) in response.headers() {
        out.push_str(&format!("{name}: {}\n", value.to_str().unwrap()));
    }
    out.push_str(&format!("\n{}\n", String::from_utf8_lossy(response.body())));
    out
}

/// Every encoding, as it goes on the wire (a device's implementer can read them here).
#[test]
fn encodings() {
    let token = DeviceToken::from_octets([0x5a; 32]);
    let secret = DeviceSecret::from_octets([0xc3; 32]);
    let base: http::Uri = "https://push.example:8443".parse().unwrap();
    let account = AccountId::new("0715A26B-CA09-4730-A419-793000CA982E").unwrap();
    let message = PushMessage {
        ttl: Ttl::from_secs(86_399),
        topic: Some(Topic::for_account(&account)),
        urgency: Urgency::Normal,
        payload: Payload::new(
            account,
            [MailboxDigest::of(b"INBOX"), MailboxDigest::of(b"Notes")],
        )
        .unwrap(),
    };
    let resource = format!("https://push.example:8443{}", push_path(&token))
        .parse()
        .unwrap();
    let registration = DeviceRegistration {
        token: token.clone(),
        secret: secret.clone(),
    };
    let mut report = String::new();
    report.push_str("## push\n");
    report.push_str(&show_request(
        &message.to_request(resource, Some(&authorization("mail-secret").unwrap())),
    ));
    report.push_str("## accepted\n");
    report.push_str(&show_response(&created(&token, 42, Ttl::from_secs(86_399))));
    report.push_str("## rate limited\n");
    report.push_str(&show_response(&rate_limited(2)));
    report.push_str("## registration\n");
    report.push_str(&show_request(
        &DeviceRegistration::request(&base, "dev-secret").unwrap(),
    ));
    report.push_str("## registered\n");
    report.push_str(&show_response(&registration.to_response()));
    report.push_str("## unregistration\n");
    report.push_str(&show_request(
        &unregistration_request(&base, &token, &secret).unwrap(),
    ));
    report.push_str("## method not allowed\n");
    report.push_str(&show_response(
        &route(&http::Method::GET, "/v1/devices")
            .unwrap_err()
            .to_response(),
    ));
    for code in ErrorCode::ALL {
        report.push_str(&format!("## {code}\n"));
        report.push_str(&show_response(
            &ErrorBody::new(code, "text for people").to_response(),
        ));
    }
    insta::assert_snapshot!(report);
}
