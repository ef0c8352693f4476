#!/usr/bin/python3
"""Writes seed inputs for the fuzz targets with scapy (python3-scapy).

Random bytes rarely carry a valid checksum, so packet_parse and
payload_parse start from real packets (payload_parse in its own
selector | src | dst | payload framing); mh_parse, options_parse and
auth_verify start from bare Mobility Headers.
Run from fuzz/: /usr/bin/python3 seeds/make_seeds.py
"""
from scapy.layers.inet6 import (HAO, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, MIP6MH_BA,
                                MIP6MH_BE, MIP6MH_BRR, MIP6MH_BU, MIP6OptAltCoA,
                                MIP6OptBRAdvice, MIP6OptMNID, MIP6OptMobNetPrefix,
                                MIP6OptMsgAuth, MIP6OptReplayProtection)

HA, HOA, COA = "2001:db8::1", "2001:db8::100", "2001:db8:f::10"
bu_opts = [MIP6OptAltCoA(acoa=COA), MIP6OptMobNetPrefix(prefix="2001:db8:1::", plen=64),
           MIP6OptMNID(id="mr@example.net"), MIP6OptReplayProtection(),
           MIP6OptMsgAuth(mspi=256, authdata=b"\xaa" * 12)]
packets = {
    "bu_hao": IPv6(src=COA, dst=HA) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)])
    / MIP6MH_BU(seq=1, flags="AHR", mhtime=100, options=bu_opts),
    "ba_rh2": IPv6(src=HA, dst=COA) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[HOA])
    / MIP6MH_BA(status=0, flags="R", seq=1, mhtime=100, options=[MIP6OptBRAdvice(rinter=75)]),
    "brr": IPv6(src=HA, dst=HOA) / MIP6MH_BRR(),
    "be": IPv6(src=HA, dst=HOA) / MIP6MH_BE(status=1, ha=HOA),
}
SELECTOR = {60: 0, 43: 1, 135: 2}
for name, pkt in packets.items():
    raw = bytes(pkt)
    # payload_parse: selector | source | destination | payload after the IPv6 header
    with open(f"seeds/payload/{name}", "wb") as f:
        f.write(bytes([SELECTOR[raw[6]]]) + raw[8:40] + raw[40:])
    with open(f"seeds/packet/{name}", "wb") as f:
        f.write(raw)
    mh = pkt.getlayer(MIP6MH_BU) or pkt.getlayer(MIP6MH_BA) or pkt.getlayer(MIP6MH_BRR) \
        or pkt.getlayer(MIP6MH_BE)
    with open(f"seeds/mh/{name}", "wb") as f:
        f.write(raw[len(raw) - len(bytes(mh)):])
