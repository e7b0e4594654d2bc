#!/usr/bin/env python3
"""Verify the AH (and ESP) packets of a lab capture with the independent oracle.

    verify_capture.py --pcap sgw-side.pcapng --keys sa-keys.jsonl [--max-per-spi N]

--keys is what `xlat-test-sgw --key-log` wrote: one SA per line in the oracle's SA format plus
"direction" (in/out, from the test-SGW's view). Every IPv4 packet in the capture that carries AH
(protocol 51) or ESP (50, or ESP-in-UDP on 4500) is checked twice, by oracle.py (scapy's
SecurityAssociation) and by ref.py (hand-written from the RFCs):
  - AH: the ICV over the outer header's immutable fields (addresses, Identification, Total
    Length, ...) as captured on the relay-SGW link, i.e. as the relay wrote it;
  - AH+ESP bundles: then the ESP inside, under an outer header with Protocol 50;
  - ESP: ICV and decryption;
and the inner packet must be IPv4 between the lab's inner networks (10.8.0.0/16, 10.9.0.0/24).
A packet whose SPI is in no logged SA is a failure too (the relay must put only SPIs the
gateway knows on this link).

Prints one summary line per SA and "verified N, failed M"; exit 0 only when at least one AH
packet was verified and nothing failed.
"""

import argparse
import ipaddress
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "oracle"))

import oracle  # noqa: E402
import ref  # noqa: E402
from scapy.all import rdpcap  # noqa: E402

INNER_NETS = [ipaddress.ip_network("10.8.0.0/16"), ipaddress.ip_network("10.9.0.0/24")]


def ipv4_checksum(header):
    s = 0
    for i in range(0, len(header), 2):
        s += (header[i] << 8) | header[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip_packets(path):
    """Raw IPv4 packets (Ethernet stripped, trimmed to Total Length) of a capture."""
    for frame in rdpcap(path):
        b = bytes(frame)
        if len(b) < 34 or b[12:14] != b"\x08\x00":
            continue
        ip = b[14:]
        if ip[0] >> 4 != 4:
            continue
        total = struct.unpack("!H", ip[2:4])[0]
        yield ip[:total]


def inner_ok(inner):
    if not inner or inner[0] >> 4 != 4 or len(inner) < 20:
        return False
    src = ipaddress.ip_address(inner[12:16])
    dst = ipaddress.ip_address(inner[16:20])
    return any(src in n for n in INNER_NETS) and any(dst in n for n in INNER_NETS)


class Verifier:
    def __init__(self, keys):
        self.sas = {}  # (proto, spi) -> spec
        for line in keys:
            line = line.strip()
            if line:
                spec = json.loads(line)
                self.sas[(spec["proto"].upper(), oracle.parse_int(spec["spi"]))] = spec
        self.stats = {}  # (proto, spi) -> [ok, failed]
        self.failures = []
        self.ah_ok = 0

    def note(self, key, ok, why=""):
        s = self.stats.setdefault(key, [0, 0])
        s[0 if ok else 1] += 1
        if not ok and len(self.failures) < 20:
            self.failures.append("%s spi 0x%08x: %s" % (key[0], key[1], why))
        return ok

    def both(self, spec, packet, nested_esp=False):
        """(ok, inner, why) from oracle.py and ref.py; both must agree that it verifies."""
        ok, inner, msg = oracle.decap(spec, packet)
        if not ok:
            return False, None, "oracle.py: " + msg
        try:
            r_inner = ref.decap(oracle.norm_sa(spec), packet)
        except ref.RefError as e:
            # ref.py checks the AH ICV first, then insists on an IP packet inside (tunnel mode):
            # in an AH+ESP bundle ESP comes next, which it rightly calls out after the ICV passed.
            if nested_esp and str(e).startswith("AH next header 50"):
                return True, None, ""
            return False, None, "ref.py: %s" % e
        if r_inner != inner:
            return False, None, "oracle.py and ref.py disagree on the inner packet"
        return True, inner, ""

    def packet(self, ip):
        ihl = (ip[0] & 0x0F) * 4
        proto = ip[9]
        if proto == 51:
            if len(ip) < ihl + 12:
                return
            nh, plen = ip[ihl], ip[ihl + 1]
            spi = struct.unpack("!L", ip[ihl + 4 : ihl + 8])[0]
            key = ("AH", spi)
            spec = self.sas.get(key)
            if spec is None:
                self.note(key, False, "no logged SA with this SPI")
                return
            ok, inner, why = self.both(spec, ip, nested_esp=(nh == 50))
            if not self.note(key, ok, why):
                return
            self.ah_ok += 1
            if nh == 50:
                esp = ip[ihl + (plen + 2) * 4 :]
                header = bytearray(ip[:ihl])
                header[9] = 50
                header[2:4] = struct.pack("!H", ihl + len(esp))
                header[10:12] = b"\0\0"
                header[10:12] = struct.pack("!H", ipv4_checksum(bytes(header)))
                self.esp(bytes(header) + esp)
            elif not inner_ok(inner):
                self.note(key, False, "inner packet is not between the lab's inner networks")
        elif proto == 50:
            self.esp(ip)
        elif proto == 17 and len(ip) >= ihl + 16:
            sport, dport = struct.unpack("!HH", ip[ihl : ihl + 4])
            payload = ip[ihl + 8 :]
            if 4500 in (sport, dport) and len(payload) >= 8 and payload[:4] != b"\0\0\0\0":
                self.esp(ip)

    def esp(self, ip):
        ihl = (ip[0] & 0x0F) * 4
        off = ihl + (8 if ip[9] == 17 else 0)
        spi = struct.unpack("!L", ip[off : off + 4])[0]
        key = ("ESP", spi)
        spec = self.sas.get(key)
        if spec is None:
            self.note(key, False, "no logged SA with this SPI")
            return
        ok, inner, why = self.both(spec, ip)
        if ok and not inner_ok(inner):
            ok, why = False, "inner packet is not between the lab's inner networks"
        self.note(key, ok, why)


def selftest(workdir):
    """Proves the verifier can fail: AH packets made by the oracle itself verify, and each
    change to a field the ICV covers (Identification, Total Length via a trailing byte, the
    source address, the payload), an unknown SPI and a wrong key fail; a change to a mutable
    field (TTL) does not. Prints one "ok -"/"not ok -" line per case; exit 0 if all hold."""
    from scapy.all import Ether, IP, ICMP, wrpcap  # noqa: E402

    key = os.urandom(32).hex()
    spec = {"direction": "in", "proto": "AH", "spi": "0x1000abcd", "auth_algo": "HMAC-SHA256-128",
            "auth_key": key, "outer": {"src": "203.0.113.254", "dst": "203.0.113.1", "id": 4660, "flags": "DF"}}
    inner = bytes(IP(src="10.8.0.1", dst="10.9.0.2") / ICMP() / (b"x" * 40))
    good = oracle.encap(spec, inner, seq=7)
    keys = os.path.join(workdir, "keys.jsonl")
    with open(keys, "w") as f:
        f.write(json.dumps(spec) + "\n")

    def variant(name, mutate, key_file=keys):
        b = bytearray(good)
        mutate(b)
        if b[0] >> 4 == 4:
            b[10:12] = b"\0\0"
            b[10:12] = struct.pack("!H", ipv4_checksum(bytes(b[:20])))
        path = os.path.join(workdir, name + ".pcap")
        wrpcap(path, [Ether() / IP(bytes(b))])
        with open(key_file) as f:
            v = Verifier(f)
        for ip in ip_packets(path):
            v.packet(ip)
        bad = sum(s[1] for s in v.stats.values())
        return v.ah_ok > 0 and bad == 0

    def set_id(b):
        b[4:6] = struct.pack("!H", 4661)

    def set_ttl(b):
        b[8] = 17

    def set_src(b):
        b[12:16] = bytes([203, 0, 113, 253])

    def flip_payload(b):
        b[-1] ^= 1

    def grow(b):  # one more byte covered by Total Length
        b.append(0)
        b[2:4] = struct.pack("!H", len(b))

    def set_spi(b):
        b[24:28] = struct.pack("!L", 0x1000ABCE)

    wrong = os.path.join(workdir, "wrong-key.jsonl")
    with open(wrong, "w") as f:
        f.write(json.dumps(dict(spec, auth_key=os.urandom(32).hex())) + "\n")
    cases = [
        ("AH packet made by the oracle verifies", True, lambda b: None, keys),
        ("mutable field changed (TTL): still verifies", True, set_ttl, keys),
        ("Identification changed: fails", False, set_id, keys),
        ("source address changed: fails", False, set_src, keys),
        ("Total Length and payload grown by a byte: fails", False, grow, keys),
        ("payload bit flipped: fails", False, flip_payload, keys),
        ("SPI not in the key log: fails", False, set_spi, keys),
        ("wrong key: fails", False, lambda b: None, wrong),
    ]
    failed = 0
    for desc, want, mutate, key_file in cases:
        got = variant(desc.split()[0].lower(), mutate, key_file)
        if got == want:
            print("ok - oracle self-test: " + desc)
        else:
            failed += 1
            print("not ok - oracle self-test: " + desc)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pcap")
    ap.add_argument("--keys")
    ap.add_argument("--selftest", metavar="DIR", help="run the self-test in DIR instead (see selftest())")
    a = ap.parse_args()
    if a.selftest:
        return selftest(a.selftest)
    if not (a.pcap and a.keys):
        ap.error("--pcap and --keys are required")
    with open(a.keys) as f:
        v = Verifier(f)
    for ip in ip_packets(a.pcap):
        v.packet(ip)
    for (proto, spi), (ok, bad) in sorted(v.stats.items()):
        spec = v.sas.get((proto, spi), {})
        print("%s spi 0x%08x %s %s -> %s: verified %d, failed %d" % (
            proto, spi, spec.get("direction", "?"), spec.get("outer", {}).get("src", "?"),
            spec.get("outer", {}).get("dst", "?"), ok, bad))
    for f in v.failures:
        print("FAIL " + f)
    ok = sum(s[0] for s in v.stats.values())
    bad = sum(s[1] for s in v.stats.values())
    print("AH packets verified %d; verified %d, failed %d" % (v.ah_ok, ok, bad))
    return 0 if v.ah_ok > 0 and bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
