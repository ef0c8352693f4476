// SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-only
//
// The bpf backend's programs: IPv4- and IPv6-in-IPv6 tunnels of RFC 2473 between a mobile
// router and its home agent, for kernels without seg6 or ip6tnl.
//
// nemo_encap (lwt_xmit) runs on every route `encap bpf xmit` of the data plane. One program
// serves every binding: it looks the inner destination up in a longest-prefix-match map
// (the same destination -> peer table the routes were made from) and pushes the outer IPv6
// header found there. A map, not a program specialised per binding, so that a binding or
// a care-of address change is one map update (no program load, no route replace), an HA
// with thousands of bindings holds one program, and a restarted nemonetd finds the whole
// state again in the pinned maps.
//
// nemo_decap_eth / nemo_decap_l3 (tc ingress of the uplink, Ethernet or L3 device) strip
// the outer header of IPv4-in-IPv6 (next header 4) and IPv6-in-IPv6 (41) packets whose
// (outer source, outer destination) is a registered (peer, local endpoint) pair; anything
// else passes untouched, so a stranger's tunnel packet meets the kernel as before.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// Newer than some distributions' uapi headers (Linux 6.3).
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif

// RFC 2473 section 6.3: the entry point uses its own hop limit, not the inner packet's.
// Set by the loader before the program is loaded.
const volatile __u8 outer_hop_limit = 64;

// Outer addresses of one tunnel direction. As an encapsulation value: (our endpoint,
// peer). As a decapsulation key: (peer, our endpoint), i.e. as the packet carries them.
struct tunnel {
	struct in6_addr src;
	struct in6_addr dst;
};

struct prefix4 {
	__u32 prefixlen;
	__be32 addr;
};

struct prefix6 {
	__u32 prefixlen;
	struct in6_addr addr;
};

#define MAX_PREFIXES 65536

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct prefix4);
	__type(value, struct tunnel);
	__uint(max_entries, MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} encap4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct prefix6);
	__type(value, struct tunnel);
	__uint(max_entries, MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} encap6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct tunnel);
	__type(value, __u8);
	__uint(max_entries, MAX_PREFIXES);
} decap SEC(".maps");

// Counters for operators and tests (`bpftool map dump`): see enum counter.
enum counter {
	ENCAPSULATED,
	ENCAP_NO_PEER,
	ENCAP_FAILED,
	DECAPSULATED,
	DECAP_FAILED,
	COUNTERS,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, COUNTERS);
} counters SEC(".maps");

static __always_inline void count(__u32 which)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &which);

	if (n)
		*n += 1;
}

SEC("lwt_xmit")
int nemo_encap(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct tunnel *t = 0;
	__u8 inner;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;
		struct prefix4 key = { .prefixlen = 32 };

		if ((void *)(ip + 1) > end)
			return BPF_DROP;
		key.addr = ip->daddr;
		t = bpf_map_lookup_elem(&encap4, &key);
		inner = IPPROTO_IPIP;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;
		struct prefix6 key = { .prefixlen = 128 };

		if ((void *)(ip6 + 1) > end)
			return BPF_DROP;
		key.addr = ip6->daddr;
		t = bpf_map_lookup_elem(&encap6, &key);
		inner = IPPROTO_IPV6;
	} else {
		return BPF_DROP;
	}
	if (!t) {
		// A route into the tunnel without a peer: the maps and routes disagree for a
		// moment (an apply in progress). Drop rather than send it out unencapsulated.
		count(ENCAP_NO_PEER);
		return BPF_DROP;
	}

	struct ipv6hdr outer = {
		.version = 6,
		.payload_len = bpf_htons(skb->len),
		// Always 41 when pushed: the kernel marks the packet for IPv6-tunnel GSO only
		// for next header 0 or 41 (handle_gso_encap in net/core/lwt_bpf.c), and TCP
		// super-packets with 4 would be refused. Segmentation reads the real next
		// header, which is written just below for IPv4 inside.
		.nexthdr = IPPROTO_IPV6,
		.hop_limit = outer_hop_limit,
		.saddr = t->src,
		.daddr = t->dst,
	};

	if (bpf_lwt_push_encap(skb, BPF_LWT_ENCAP_IP, &outer, sizeof(outer))) {
		count(ENCAP_FAILED);
		return BPF_DROP;
	}
	if (inner == IPPROTO_IPIP &&
	    bpf_skb_store_bytes(skb, __builtin_offsetof(struct ipv6hdr, nexthdr), &inner,
				sizeof(inner), 0)) {
		count(ENCAP_FAILED);
		return BPF_DROP;
	}
	count(ENCAPSULATED);
	// Route again on the outer header: out of the access interface to the peer.
	return BPF_LWT_REROUTE;
}

static __always_inline int decapsulate(struct __sk_buff *skb, __u32 l3)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ipv6hdr *ip6 = data + l3;
	struct tunnel key;
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO;
	__be16 ethertype;

	if (skb->protocol != bpf_htons(ETH_P_IPV6) || (void *)(ip6 + 1) > end)
		return TC_ACT_OK;
	if (ip6->nexthdr == IPPROTO_IPIP) {
		flags |= BPF_F_ADJ_ROOM_DECAP_L3_IPV4;
		ethertype = bpf_htons(ETH_P_IP);
	} else if (ip6->nexthdr == IPPROTO_IPV6) {
		flags |= BPF_F_ADJ_ROOM_DECAP_L3_IPV6;
		ethertype = bpf_htons(ETH_P_IPV6);
	} else {
		return TC_ACT_OK;
	}
	key.src = ip6->saddr;
	key.dst = ip6->daddr;
	if (!bpf_map_lookup_elem(&decap, &key))
		return TC_ACT_OK;
	// The segments of a super-packet keep their size (FIXED_GSO): the inner MSS is what
	// the sender chose.
	if (bpf_skb_adjust_room(skb, -(__s32)sizeof(struct ipv6hdr), BPF_ADJ_ROOM_MAC, flags)) {
		count(DECAP_FAILED);
		return TC_ACT_SHOT;
	}
	if (l3 && bpf_skb_store_bytes(skb, __builtin_offsetof(struct ethhdr, h_proto), &ethertype,
				      sizeof(ethertype), 0)) {
		count(DECAP_FAILED);
		return TC_ACT_SHOT;
	}
	count(DECAPSULATED);
	return TC_ACT_OK;
}

SEC("tc")
int nemo_decap_eth(struct __sk_buff *skb)
{
	return decapsulate(skb, sizeof(struct ethhdr));
}

SEC("tc")
int nemo_decap_l3(struct __sk_buff *skb)
{
	return decapsulate(skb, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
