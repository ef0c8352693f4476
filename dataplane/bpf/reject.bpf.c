// SPDX-License-Identifier: BSD-3-Clause OR GPL-2.0-only
//
// For a test only: a program the verifier must reject (it reads the packet without a
// bounds check), to show that a rejected program fails with the verifier's own log.

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int unchecked_read(struct __sk_buff *skb)
{
	unsigned char *data = (void *)(long)skb->data;

	return data[100];
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
