//! Configuration files and auth databases: any text gives a Config or a located error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = shisa_config::parse_str(text, "fuzz.conf");
        let _ = shisa_config::AuthDatabase::parse_str(text, "fuzz.auth");
    }
});
