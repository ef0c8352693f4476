//! TUN offloads (IFF_VNET_HDR): splitting the TCP super-packets the kernel hands us (GSO)
//! into segments that fit the tunnel, and coalescing received segments of one TCP flow
//! into a super-packet for the kernel (GRO), so the stacks on either side of the relay
//! handle 64 KiB packets instead of 1.4 KiB ones. Pure functions on byte slices.

/// Size of `struct virtio_net_hdr` (without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;
pub const F_NEEDS_CSUM: u8 = 1;
pub const GSO_NONE: u8 = 0;
pub const GSO_TCPV4: u8 = 1;
pub const GSO_TCPV6: u8 = 4;
const GSO_ECN: u8 = 0x80;
/// Longest IPv4 + TCP header (60 + 60).
pub const MAX_HEADERS: usize = 120;
const IPPROTO_TCP: u8 = 6;
const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_CWR: u8 = 0x80;
/// Super-packets stay below the 16-bit IP length fields.
const MAX_COALESCED: usize = 65_000;

/// `struct virtio_net_hdr`, little-endian as TUN uses it on x86/arm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    pub fn parse(b: &[u8]) -> Option<Self> {
        let b: &[u8; VNET_HDR_LEN] = b.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(Self {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    pub fn emit(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
        b
    }
}

/// Ones' complement sum of `data` added to `acc` (not folded). `data` must start at an
/// even offset of the summed region.
pub fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

pub fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The TCP/IP layout of a packet: IP version, IP header length, TCP header length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpLayout {
    pub v4: bool,
    pub ip_len: usize,
    pub tcp_len: usize,
}

impl TcpLayout {
    /// `None` unless `p` is an unfragmented IPv4 or extension-free IPv6 TCP packet.
    pub fn of(p: &[u8]) -> Option<Self> {
        let (v4, ip_len) = match p.first()? >> 4 {
            4 => {
                let ihl = usize::from(p[0] & 0x0f) * 4;
                let frag = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]);
                if ihl < 20 || *p.get(9)? != IPPROTO_TCP || frag & 0x3fff != 0 {
                    return None;
                }
                (true, ihl)
            }
            6 if *p.get(6)? == IPPROTO_TCP => (false, 40),
            _ => return None,
        };
        let tcp_len = usize::from(p.get(ip_len + 12)? >> 4) * 4;
        if tcp_len < 20 || p.len() < ip_len + tcp_len {
            return None;
        }
        Some(Self {
            v4,
            ip_len,
            tcp_len,
        })
    }

    pub fn headers(&self) -> usize {
        self.ip_len + self.tcp_len
    }

    /// Pseudo-header sum for a TCP segment of `tcp_total` bytes.
    fn pseudo(&self, p: &[u8], tcp_total: usize) -> u64 {
        let addrs = if self.v4 { &p[12..20] } else { &p[8..40] };
        sum(addrs, u64::from(IPPROTO_TCP) + tcp_total as u64)
    }

    /// Writes the IP length field (and IPv4 header checksum) for `total` bytes of packet.
    fn set_ip_length(&self, h: &mut [u8], total: usize) {
        if self.v4 {
            h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            h[10..12].fill(0);
            let c = !fold(sum(&h[..self.ip_len], 0));
            h[10..12].copy_from_slice(&c.to_be_bytes());
        } else {
            h[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        }
    }
}

/// Completes a partial checksum (`F_NEEDS_CSUM` without GSO) in place.
pub fn complete_checksum(hdr: &VnetHdr, p: &mut [u8]) -> bool {
    let start = usize::from(hdr.csum_start);
    let at = start + usize::from(hdr.csum_offset);
    if at + 2 > p.len() {
        return false;
    }
    let c = !fold(sum(&p[start..], 0));
    p[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// One segment of a split super-packet: its own headers plus a slice of the payload.
#[derive(Clone, Copy)]
pub struct Segment {
    pub headers: [u8; MAX_HEADERS],
    pub headers_len: usize,
    pub payload: (usize, usize),
}

/// Splits a TCP super-packet into `gso_size` payload segments with correct headers and
/// checksums, appended to `out`. False (nothing appended) for a packet we cannot split.
pub fn split_tcp(hdr: &VnetHdr, p: &[u8], out: &mut Vec<Segment>) -> bool {
    let Some(l) = TcpLayout::of(p) else {
        return false;
    };
    let mss = usize::from(hdr.gso_size);
    let hl = l.headers();
    if mss == 0 || hl > MAX_HEADERS || ((hdr.gso_type & !GSO_ECN) == GSO_TCPV4) != l.v4 {
        return false;
    }
    let t = l.ip_len;
    let seq0 = u32::from_be_bytes([p[t + 4], p[t + 5], p[t + 6], p[t + 7]]);
    let id0 = u16::from_be_bytes([p[4], p[5]]);
    let flags0 = p[t + 13];
    let payload_len = p.len() - hl;
    let count = payload_len.div_ceil(mss);
    for i in 0..count {
        let start = hl + i * mss;
        let end = (start + mss).min(p.len());
        let mut seg = Segment {
            headers: [0; MAX_HEADERS],
            headers_len: hl,
            payload: (start, end),
        };
        let h = &mut seg.headers[..hl];
        h.copy_from_slice(&p[..hl]);
        if l.v4 {
            h[4..6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
        }
        l.set_ip_length(h, hl + end - start);
        h[t + 4..t + 8].copy_from_slice(&seq0.wrapping_add((i * mss) as u32).to_be_bytes());
        let mut flags = flags0;
        if i + 1 < count {
            flags &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            flags &= !TCP_CWR;
        }
        h[t + 13] = flags;
        h[t + 16..t + 18].fill(0);
        let acc = sum(
            &p[start..end],
            sum(&h[t..hl], l.pseudo(h, l.tcp_len + end - start)),
        );
        h[t + 16..t + 18].copy_from_slice(&(!fold(acc)).to_be_bytes());
        out.push(seg);
    }
    true
}

/// Coalesces consecutive in-order segments of one TCP flow into super-packets, each
/// handed to `emit` with its vnet header; anything else is passed through alone.
pub struct Coalescer {
    buf: Vec<u8>,
    run: Option<Run>,
}

#[derive(Clone, Copy)]
struct Run {
    layout: TcpLayout,
    mss: usize,
    next_seq: u32,
    segments: usize,
}

impl Default for Coalescer {
    fn default() -> Self {
        Self {
            buf: Vec::with_capacity(MAX_COALESCED + 1500),
            run: None,
        }
    }
}

/// A segment that may join a run: plain ACK (PSH allowed), valid checksum, with data.
fn mergeable(p: &[u8]) -> Option<(TcpLayout, u32)> {
    let l = TcpLayout::of(p)?;
    let t = l.ip_len;
    let flags = p[t + 13];
    let total = if l.v4 {
        usize::from(u16::from_be_bytes([p[2], p[3]]))
    } else {
        40 + usize::from(u16::from_be_bytes([p[4], p[5]]))
    };
    if flags & !TCP_PSH != TCP_ACK || total != p.len() || p.len() == l.headers() {
        return None;
    }
    if fold(sum(&p[t..], l.pseudo(p, p.len() - t))) != 0xffff {
        return None;
    }
    Some((
        l,
        u32::from_be_bytes([p[t + 4], p[t + 5], p[t + 6], p[t + 7]]),
    ))
}

/// Whether `p` continues the run whose first packet's headers start `first`.
fn continues(run: &Run, first: &[u8], p: &[u8], l: &TcpLayout, seq: u32) -> bool {
    let hl = l.headers();
    let t = l.ip_len;
    if *l != run.layout || seq != run.next_seq || p.len() - hl > run.mss {
        return false;
    }
    let same_ip = if l.v4 {
        // Version/IHL, TOS, flags, TTL, protocol, addresses (not length, id, checksum).
        first[..2] == p[..2]
            && first[6..7] == p[6..7]
            && first[8..10] == p[8..10]
            && first[12..t] == p[12..t]
    } else {
        first[..4] == p[..4] && first[6..40] == p[6..40]
    };
    // Ports, ack number, window and options equal; sequence checked above.
    same_ip
        && first[t..t + 4] == p[t..t + 4]
        && first[t + 8..t + 12] == p[t + 8..t + 12]
        && first[t + 14..t + 16] == p[t + 14..t + 16]
        && first[t + 20..hl] == p[t + 20..hl]
}

impl Coalescer {
    /// Adds one packet; completed super-packets (or pass-through packets) go to `emit`.
    pub fn push(&mut self, p: &[u8], emit: &mut impl FnMut(&VnetHdr, &[u8])) {
        let Some((l, seq)) = mergeable(p) else {
            self.flush(emit);
            emit(&VnetHdr::default(), p);
            return;
        };
        let hl = l.headers();
        let joins = match &self.run {
            Some(run) => {
                self.buf.len() + p.len() - hl <= MAX_COALESCED
                    && continues(run, &self.buf, p, &l, seq)
            }
            None => false,
        };
        if !joins {
            self.flush(emit);
            self.buf.clear();
            self.buf.extend_from_slice(p);
            self.run = Some(Run {
                layout: l,
                mss: p.len() - hl,
                next_seq: seq.wrapping_add((p.len() - hl) as u32),
                segments: 1,
            });
        } else if let Some(run) = &mut self.run {
            self.buf.extend_from_slice(&p[hl..]);
            run.next_seq = seq.wrapping_add((p.len() - hl) as u32);
            run.segments += 1;
            // PSH carries over to the super-packet.
            self.buf[l.ip_len + 13] |= p[l.ip_len + 13] & TCP_PSH;
        }
        // A short segment or PSH ends the run.
        let ends = p.len() - hl < self.run.map_or(0, |r| r.mss) || p[l.ip_len + 13] & TCP_PSH != 0;
        if ends {
            self.flush(emit);
        }
    }

    /// Emits the pending run, if any.
    pub fn flush(&mut self, emit: &mut impl FnMut(&VnetHdr, &[u8])) {
        let Some(run) = self.run.take() else {
            return;
        };
        let l = run.layout;
        let t = l.ip_len;
        if run.segments == 1 {
            emit(&VnetHdr::default(), &self.buf);
            return;
        }
        let total = self.buf.len();
        l.set_ip_length(&mut self.buf, total);
        // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
        let pseudo = fold(l.pseudo(&self.buf, total - t));
        self.buf[t + 16..t + 18].copy_from_slice(&pseudo.to_be_bytes());
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: if l.v4 { GSO_TCPV4 } else { GSO_TCPV6 },
            hdr_len: l.headers() as u16,
            gso_size: run.mss as u16,
            csum_start: t as u16,
            csum_offset: 16,
        };
        emit(&hdr, &self.buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 TCP packet with a valid checksum.
    fn tcp4(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[8] = 64;
        p[9] = IPPROTO_TCP;
        p[12..16].copy_from_slice(&[10, 0, 0, 2]);
        p[16..20].copy_from_slice(&[192, 168, 64, 2]);
        p[20..22].copy_from_slice(&1234u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[28..32].copy_from_slice(&7u32.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        p[34..36].copy_from_slice(&1000u16.to_be_bytes());
        p.extend_from_slice(payload);
        let l = TcpLayout::of(&p).unwrap();
        let total = p.len();
        l.set_ip_length(&mut p, total);
        let c = !fold(sum(&p[20..], l.pseudo(&p, total - 20)));
        p[36..38].copy_from_slice(&c.to_be_bytes());
        p
    }

    fn valid(p: &[u8]) -> bool {
        let l = TcpLayout::of(p).unwrap();
        fold(sum(&p[..l.ip_len], 0)) == 0xffff
            && fold(sum(&p[l.ip_len..], l.pseudo(p, p.len() - l.ip_len))) == 0xffff
    }

    #[test]
    fn vnet_header_round_trip() {
        let h = VnetHdr {
            flags: 1,
            gso_type: 4,
            hdr_len: 60,
            gso_size: 1400,
            csum_start: 40,
            csum_offset: 16,
        };
        assert_eq!(VnetHdr::parse(&h.emit()), Some(h));
        assert_eq!(VnetHdr::parse(&[0; 9]), None);
    }

    #[test]
    fn split_then_coalesce_restores_the_stream() {
        let payload: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        let big = tcp4(1000, TCP_ACK | TCP_PSH, &payload);
        let hdr = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: GSO_TCPV4,
            hdr_len: 40,
            gso_size: 1400,
            csum_start: 20,
            csum_offset: 16,
        };
        let mut segs = Vec::new();
        assert!(split_tcp(&hdr, &big, &mut segs));
        assert_eq!(segs.len(), 3);
        let packets: Vec<Vec<u8>> = segs
            .iter()
            .map(|s| [&s.headers[..s.headers_len], &big[s.payload.0..s.payload.1]].concat())
            .collect();
        assert!(packets.iter().all(|p| valid(p)));
        assert_eq!(packets[2].len(), 40 + 200);
        assert_eq!(packets[0][33], TCP_ACK, "PSH only on the last segment");
        assert_eq!(packets[2][33], TCP_ACK | TCP_PSH);
        assert_eq!(
            u32::from_be_bytes(packets[1][24..28].try_into().unwrap()),
            2400
        );

        let mut out = Vec::new();
        let mut c = Coalescer::default();
        for p in &packets {
            c.push(p, &mut |h, b| out.push((*h, b.to_vec())));
        }
        c.flush(&mut |h, b| out.push((*h, b.to_vec())));
        assert_eq!(out.len(), 1);
        let (h, merged) = &out[0];
        assert_eq!(
            (h.gso_type, h.gso_size, h.csum_start),
            (GSO_TCPV4, 1400, 20)
        );
        assert_eq!(&merged[40..], &payload[..]);
        assert_eq!(merged[33], TCP_ACK | TCP_PSH);
    }

    #[test]
    fn gaps_bad_checksums_and_control_segments_are_not_merged() {
        let a = tcp4(0, TCP_ACK, &[1; 100]);
        let gap = tcp4(500, TCP_ACK, &[2; 100]);
        let mut bad = tcp4(100, TCP_ACK, &[3; 100]);
        bad[50] ^= 0xff;
        let syn = tcp4(100, 0x02, &[]);
        let mut out = Vec::new();
        let mut c = Coalescer::default();
        for p in [&a, &gap, &bad, &syn] {
            c.push(p, &mut |h, b| out.push((*h, b.to_vec())));
        }
        c.flush(&mut |h, b| out.push((*h, b.to_vec())));
        assert_eq!(out.len(), 4);
        assert!(out.iter().all(|(h, _)| h.gso_type == GSO_NONE));
    }

    #[test]
    fn unsplittable_input_is_refused_without_panic() {
        let hdr = VnetHdr {
            gso_type: GSO_TCPV4,
            gso_size: 100,
            ..Default::default()
        };
        let mut segs = Vec::new();
        for p in [&[][..], &[0x45; 10][..], &[0x60; 50][..]] {
            assert!(!split_tcp(&hdr, p, &mut segs));
        }
        let p = tcp4(0, TCP_ACK, &[0; 10]);
        assert!(
            !split_tcp(
                &VnetHdr {
                    gso_type: GSO_TCPV6,
                    gso_size: 5,
                    ..hdr
                },
                &p,
                &mut segs
            ),
            "family mismatch"
        );
        assert!(segs.is_empty());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary bytes (as from a peer) never panic the coalescer, and whatever it
        /// emits is at most as long as a coalesced run may be.
        #[test]
        fn coalescer_survives_garbage(packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20)) {
            let mut c = Coalescer::default();
            let mut emitted = 0usize;
            for p in &packets {
                c.push(p, &mut |_, b| { emitted += 1; assert!(b.len() <= MAX_COALESCED + 200); });
            }
            c.flush(&mut |_, _| emitted += 1);
            prop_assert!(emitted <= packets.len());
        }

        /// Arbitrary bytes and headers (as from the TUN device) never panic the splitter.
        #[test]
        fn splitter_survives_garbage(p in proptest::collection::vec(any::<u8>(), 0..300), gso_type in any::<u8>(), gso_size in any::<u16>()) {
            let hdr = VnetHdr { gso_type, gso_size, ..Default::default() };
            let mut out = Vec::new();
            let _ = split_tcp(&hdr, &p, &mut out);
            let _ = complete_checksum(&VnetHdr { csum_start: gso_size, csum_offset: u16::from(gso_type), ..hdr }, &mut p.clone());
        }

        /// Splitting at any MSS and coalescing again gives back the same byte stream.
        #[test]
        fn split_and_coalesce_round_trip(len in 1usize..6000, mss in 100u16..1500, seq in any::<u32>()) {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut big = vec![0u8; 40];
            big[0] = 0x45; big[8] = 64; big[9] = IPPROTO_TCP;
            big[12..16].copy_from_slice(&[10, 0, 0, 2]);
            big[16..20].copy_from_slice(&[10, 0, 1, 2]);
            big[24..28].copy_from_slice(&seq.to_be_bytes());
            big[32] = 5 << 4; big[33] = TCP_ACK;
            big.extend_from_slice(&payload);
            let hdr = VnetHdr { gso_type: GSO_TCPV4, gso_size: mss, ..Default::default() };
            let mut segs = Vec::new();
            prop_assert!(split_tcp(&hdr, &big, &mut segs));
            let mut out: Vec<u8> = Vec::new();
            let mut c = Coalescer::default();
            let mut collect = |_: &VnetHdr, b: &[u8]| out.extend_from_slice(&b[40..]);
            for s in &segs {
                let pkt = [&s.headers[..s.headers_len], &big[s.payload.0..s.payload.1]].concat();
                c.push(&pkt, &mut collect);
            }
            c.flush(&mut collect);
            prop_assert_eq!(out, payload);
        }
    }
}
