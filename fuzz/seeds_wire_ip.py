#!/usr/bin/env python3
"""Seeds the wire-ip fuzz corpora (ipv4, ipv6, udp_encap, esp, ah) from real packets.

Reads the strongSwan captures (tests/data/captures/*/*.pcap, Ethernet) and the scapy ESP/AH
vectors (tests/data/vectors/*.json) with the standard library only, and writes each seed as
fuzz/corpus/<target>/<sha1 of content>, as libFuzzer names them. Re-running is idempotent.

    python3 fuzz/seeds_wire_ip.py
"""
import glob
import hashlib
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def pcap_frames(path):
    with open(path, "rb") as f:
        raw = f.read()
    magic = raw[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    off = 24
    while off + 16 <= len(raw):
        _, _, incl, _ = struct.unpack(endian + "IIII", raw[off : off + 16])
        off += 16
        yield raw[off : off + incl]
        off += incl


def write(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    for pcap in sorted(glob.glob(os.path.join(DATA, "captures", "*", "*.pcap"))):
        for frame in pcap_frames(pcap):
            if frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
            write("ipv4", ip)
            hl = (ip[0] & 0x0F) * 4
            if ip[9] != 17:
                continue
            udp = ip[hl:]
            write("udp_encap", udp)
            payload = udp[8:]
            if len(payload) >= 8 and payload[:4] != b"\0\0\0\0":
                write("esp", payload)
    for vec in sorted(glob.glob(os.path.join(DATA, "vectors", "*.json"))):
        with open(vec) as f:
            v = json.load(f)
        outers = [v["outer_hex"], v.get("translation", {}).get("relay_side_outer_hex")]
        outers.append(v.get("in_transit_mutated", {}).get("outer_hex"))
        for h in filter(None, outers):
            pkt = bytes.fromhex(h)
            version = pkt[0] >> 4
            write("ipv4" if version == 4 else "ipv6", pkt)
            if v["sa"]["proto"] == "AH":
                write("ah", pkt)
            elif version == 4:
                write("esp", pkt[(pkt[0] & 0x0F) * 4 :])
            else:
                write("esp", pkt[40:])
        write("esp", bytes.fromhex(v["inner_hex"]) + bytes(range(1, 7)) + b"\x06\x04")
    # Shapes the captures lack: a NAT-keepalive, and IPv6 with extension headers before ESP/AH.
    write("udp_encap", bytes.fromhex("1194119400090000ff"))
    v6 = bytes.fromhex("6000000000000040" + "20010db8" + "00" * 11 + "01" + "20010db8" + "00" * 11 + "02")
    hbh = bytes([60, 0, 0x3E, 2, 0xAA, 0xBB, 1, 0])
    dst = bytes([51, 0, 1, 4, 0, 0, 0, 0])
    ah = bytes([4, 4, 0, 0, 0, 0, 0xA0, 1, 0, 0, 0, 1]) + b"\x77" * 12
    inner = bytes.fromhex("4500001c0000000040010000c0000201c0000202" + "08000000")
    body = hbh + dst + ah + inner
    pkt = bytearray(v6 + body)
    pkt[4:6] = len(body).to_bytes(2, "big")
    write("ipv6", bytes(pkt))
    write("ah", bytes(pkt))


if __name__ == "__main__":
    main()
