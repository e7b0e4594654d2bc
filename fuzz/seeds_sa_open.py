#!/usr/bin/env python3
"""Seeds for the sa_open fuzz target, from tests/data/vectors (deterministic).

Each seed is one selector byte (the target's CASES index) followed by a packet: the vectors'
SGW-side packets, their relay-side forms, and the AH vector re-framed the way the relay
delivers it on an IPv6 or UDP client leg (the IPv4 Identification in AH's Reserved field).
Run from fuzz/: python3 seeds_sa_open.py
"""
import glob, ipaddress, json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "tests", "data", "vectors")
OUT = os.path.join(HERE, "corpus", "sa_open")
MARKER = bytes([0, 0, 0, 51])


def load(name):
    with open(os.path.join(VECTORS, name + ".json")) as f:
        return json.load(f)


def checksum(h):
    s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ident=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0,
                    ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed)
    h = h[:10] + struct.pack("!H", checksum(h)) + h[12:]
    return h + payload


def ipv6(src, dst, nh, payload):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, 64,
                       ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed) + payload


def carried(outer, spi):
    """The AH part of an IPv4 packet with its Identification in Reserved and the relay SPI."""
    ident = outer[4:6]
    part = bytearray(outer[20:])
    part[2:4] = ident
    part[4:8] = struct.pack("!I", spi)
    return bytes(part)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {}
    ah = load("ah-hmacsha256-ipv4")
    gcm = load("esp-aes128gcm16-ipv4")
    cbc = load("esp-aes128cbc-hmacsha256-ipv4")
    ah_outer = bytes.fromhex(ah["outer_hex"])
    seeds["ah-gateway"] = bytes([0]) + ah_outer
    seeds["gcm-gateway"] = bytes([1]) + bytes.fromhex(gcm["outer_hex"])
    seeds["cbc-gateway"] = bytes([2]) + bytes.fromhex(cbc["outer_hex"])
    seeds["ah-client-v4"] = bytes([3]) + bytes.fromhex(ah["translation"]["relay_side_outer_hex"])
    part = carried(ah_outer, 0xB001)
    seeds["ah-client-v6"] = bytes([4]) + ipv6("2001:db8:100::1", "2001:db8:100::10", 51, part)
    udp_payload = MARKER + part
    udp = struct.pack("!HHHH", 4500, 61000, 8 + len(udp_payload), 0) + udp_payload
    seeds["ah-client-udp4"] = bytes([5]) + ipv4("198.51.100.1", "198.51.100.10", 17, udp)
    seeds["gcm-client-v4"] = bytes([6]) + bytes.fromhex(gcm["translation"]["relay_side_outer_hex"])
    # Every other vector's packets, under the SGW-side cases: parsing paths, foreign SPIs.
    for path in sorted(glob.glob(os.path.join(VECTORS, "*.json"))):
        v = json.load(open(path))
        name = os.path.basename(path)[:-5]
        for sel in range(3):
            seeds["%s-%d" % (name, sel)] = bytes([sel]) + bytes.fromhex(v["outer_hex"])
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
