#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Runs the provider API's fuzzing oracle over the checked-in seed corpus and over every input a
//! fuzzer found failing (kept in `tests/regressions/provider_request/`), so that the oracle runs
//! in every `cargo test` and a fixed failure stays fixed without cargo-fuzz.

use mailpush_push_core::fuzzing::check_provider_requests;
use mailpush_testkit::fuzz_inputs::assert_target_passes;

#[test]
fn provider_request_inputs() {
    assert_target_passes(env!("CARGO_MANIFEST_DIR"), "provider_request", |data| {
        if let Err(violation) = check_provider_requests(data) {
            panic!("{violation}");
        }
    });
}

/// Known and unknown devices, and inputs that are no request at all.
#[test]
fn devices_and_garbage() {
    // A push with a TTL and a payload but to a device the harness never made: 404, and the
    // model says so; spelled with the registered device's token it is 201.
    let push = |token: &str| {
        format!(
            "POST /v1/push/{token}\nAuthorization: Bearer $P\nContent-Type: application/json\nTTL: 5\n\n{{\"aps\":{{\"account-id\":\"a\",\"m\":[]}}}}"
        )
    };
    assert_eq!(
        check_provider_requests(push(&"5".repeat(64)).as_bytes()),
        Ok(())
    );
    assert_eq!(check_provider_requests(push("$L").as_bytes()), Ok(()));
    // Garbage is ignored or answered, never a failure.
    for garbage in [
        &b""[..],
        b"\xff\xfe",
        b"POST",
        b"POST /v1/push/x\nTTL: \x01\n\n",
    ] {
        assert_eq!(check_provider_requests(garbage), Ok(()));
    }
}
