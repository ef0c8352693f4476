//! RFC 4285 authenticator locate/verify/sign on arbitrary Mobility Headers:
//! never panics, and a header signed in place verifies with the same key.
#![no_main]

use std::net::Ipv6Addr;

use libfuzzer_sys::fuzz_target;
use mip6::auth;

fuzz_target!(|data: &[u8]| {
    let coa = Ipv6Addr::new(0x2001, 0xdb8, 0xf, 0, 0, 0, 0, 0x10);
    let hoa = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
    let _ = auth::locate(data);
    let _ = auth::verify(data, b"key", coa, hoa);
    let mut signed = data.to_vec();
    if let Ok(spi) = auth::sign(&mut signed, b"key", coa, hoa) {
        assert_eq!(auth::verify(&signed, b"key", coa, hoa), Ok(spi));
        assert!(auth::verify(&signed, b"other key", coa, hoa).is_err());
    }
});
