//! Fuzz the pgoutput decoder: any byte string, inside or outside a streamed chunk, must decode or
//! fail cleanly, and whatever decodes must re-encode to a message that decodes to the same value.
//! Run: `cargo +nightly fuzz run pgoutput` from this folder (not part of CI).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidemark_pgwire::pgoutput::{decode, encode::encode};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let in_stream = data[0] & 1 == 1;
    if let Ok(m) = decode(bytes::Bytes::copy_from_slice(&data[1..]), in_stream) {
        let again = decode(encode(&m), in_stream).expect("re-encoded message decodes");
        assert_eq!(again, m);
    }
});
