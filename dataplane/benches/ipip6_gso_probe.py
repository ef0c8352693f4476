"""Can userspace hand the kernel a TCP super-packet already wrapped in an outer IPv6 header
(IPv4-in-IPv6), for the kernel to segment (GSO), as the tun backend would need to send one
packet per TSO read instead of one per segment?

Sends one 3 KB TCP super-packet with a virtio_net_hdr (gso_size 1000) through an AF_PACKET
socket with PACKET_VNET_HDR (which needs SOCK_RAW): `v6` is plain TCP/IPv6 (control), `v4` is
TCP/IPv4 inside an outer IPv6 header with next header 4.

Result on the 6.18 kernel of these machines: `v6` is accepted and crosses the veth as one
GSO frame; `v4` fails with ENOMEM and the veth's TX `dropped` counter goes up by one. The
virtio_net_hdr can only say TCPV4/TCPV6/UDP, never SKB_GSO_IPXIP6, and ipv6_gso_segment ->
ip4ip6_gso_segment refuses a packet without that flag; validate_xmit_skb then drops it (the
-ENOMEM is __dev_queue_xmit's default return). A second TUN device goes through the same
virtio_net_hdr_to_skb, so it cannot do it either: only in-kernel encapsulation (seg6,
ip6tnl, a BPF lwt/tc program with bpf_lwt_push_encap / bpf_skb_adjust_room) keeps GSO.

Reproduce (root):
  ip netns add tpx1; ip netns add tpx2
  ip link add tpv1 netns tpx1 type veth peer name tpv2 netns tpx2
  ip -n tpx1 link set tpv1 up; ip -n tpx2 link set tpv2 up
  MAC=$(ip -n tpx2 -br link show tpv2 | awk '{print $3}')
  ip netns exec tpx1 python3 ipip6_gso_probe.py tpv1 $MAC v6; ip -n tpx1 -s -s link show tpv1
  ip netns exec tpx1 python3 ipip6_gso_probe.py tpv1 $MAC v4; ip -n tpx1 -s -s link show tpv1
  ip netns del tpx1; ip netns del tpx2
"""
import socket, struct, sys
ifname, dstmac, inner = sys.argv[1], bytes.fromhex(sys.argv[2].replace(':','')), sys.argv[3]
SOL_PACKET, PACKET_VNET_HDR = 263, 15
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b)//2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return s
src6 = socket.inet_pton(socket.AF_INET6, '2001:db8:9::1'); dst6 = socket.inet_pton(socket.AF_INET6, '2001:db8:9::2')
payload = bytes(range(256)) * 12  # 3072 bytes
mss = 1000
if inner == 'v4':
    tcp = struct.pack('!HHIIBBHHH', 1234, 80, 1, 0, 5 << 4, 0x10, 1000, 0, 0)
    ip4 = bytearray(struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + 20 + len(payload), 0, 0x4000, 64, 6, 0,
                    socket.inet_aton('10.9.0.1'), socket.inet_aton('10.9.1.1')))
    ip4[10:12] = struct.pack('!H', 0xffff ^ csum(bytes(ip4)))
    pseudo = csum(ip4[12:20] + struct.pack('!HH', 6, 20 + len(payload)))  # partial: pseudo only
    tcp = bytearray(tcp); tcp[16:18] = struct.pack('!H', pseudo)
    inner_pkt = bytes(ip4) + bytes(tcp) + payload
    outer = struct.pack('!IHBB16s16s', 0x60000000, len(inner_pkt), 4, 64, src6, dst6)
    pkt = outer + inner_pkt
    gso_type, csum_start = 1, 40 + 20  # VIRTIO_NET_HDR_GSO_TCPV4
else:
    tcp = bytearray(struct.pack('!HHIIBBHHH', 1234, 80, 1, 0, 5 << 4, 0x10, 1000, 0, 0))
    pseudo = csum(src6 + dst6 + struct.pack('!IxxxB', 20 + len(payload), 6))
    tcp[16:18] = struct.pack('!H', pseudo)
    pkt = struct.pack('!IHBB16s16s', 0x60000000, 20 + len(payload), 6, 64, src6, dst6) + bytes(tcp) + payload
    gso_type, csum_start = 4, 40  # VIRTIO_NET_HDR_GSO_TCPV6
vnet = struct.pack('<BBHHHH', 1, gso_type, 14 + csum_start + 20, mss, 14 + csum_start, 16)
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86dd))
s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
s.bind((ifname, 0x86dd))
eth = dstmac + b'\x02\0\0\0\0\1' + b'\x86\xdd'
n = s.send(vnet + eth + pkt)
print('sent', n, 'bytes (super-packet of', len(pkt), 'bytes, gso_size', mss, ')')
