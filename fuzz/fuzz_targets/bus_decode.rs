//! Bus datagrams from any member: decoding never panics, and what decodes re-encodes to
//! something that decodes to the same envelope.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mobsock::Envelope;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = Envelope::decode(data) {
        if let Ok(bytes) = env.encode() {
            let again = Envelope::decode(&bytes).expect("re-encoded envelope decodes");
            assert_eq!(again.body, env.body);
            assert_eq!(again.seq, env.seq);
        }
    }
});
