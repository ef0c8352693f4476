//! Helpers for owners of state (had: Binding Cache, mrd: Binding Update List) to answer
//! dump requests. The library only transports; the owner decides what its state is.

use crate::message::{BcEntry, Body, BulEntry, DumpReply};

/// Entries per DUMP_REPLY datagram (keeps each well under the datagram limit).
pub const DUMP_CHUNK: usize = 32;

/// Splits a dump into DUMP_REPLY bodies; always at least one, the last marked `done`.
pub fn reply_bodies(request_id: u32, bc: &[BcEntry], bul: &[BulEntry]) -> Vec<Body> {
    let mut out: Vec<DumpReply> = Vec::new();
    for chunk in bc.chunks(DUMP_CHUNK) {
        out.push(DumpReply {
            request_id,
            bc: chunk.to_vec(),
            bul: Vec::new(),
            done: false,
        });
    }
    for chunk in bul.chunks(DUMP_CHUNK) {
        out.push(DumpReply {
            request_id,
            bc: Vec::new(),
            bul: chunk.to_vec(),
            done: false,
        });
    }
    match out.last_mut() {
        Some(last) => last.done = true,
        None => out.push(DumpReply {
            request_id,
            bc: Vec::new(),
            bul: Vec::new(),
            done: true,
        }),
    }
    out.into_iter().map(Body::DumpReply).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bc(i: u16) -> BcEntry {
        BcEntry {
            hoa: std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i),
            coa: std::net::Ipv6Addr::LOCALHOST,
            lifetime: 40,
            mnp6: vec![],
            mnp4: vec![],
            ha: None,
            bu_seq: None,
            flags: 0,
        }
    }

    #[test]
    fn chunks_cover_everything_and_only_the_last_is_done() {
        let entries: Vec<BcEntry> = (0..70).map(bc).collect();
        let bodies = reply_bodies(5, &entries, &[]);
        assert_eq!(bodies.len(), 3);
        let mut seen = Vec::new();
        for (i, b) in bodies.iter().enumerate() {
            let Body::DumpReply(r) = b else {
                panic!("not a reply")
            };
            assert_eq!(r.request_id, 5);
            assert_eq!(r.done, i == bodies.len() - 1);
            seen.extend(r.bc.iter().cloned());
        }
        assert_eq!(seen, entries);
    }

    #[test]
    fn empty_dump_is_one_done_reply() {
        let bodies = reply_bodies(1, &[], &[]);
        assert!(matches!(&bodies[..], [Body::DumpReply(r)] if r.done && r.bc.is_empty()));
    }
}
