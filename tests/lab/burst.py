#!/usr/bin/env python3
"""Bounded bursts of bad input at a running relay, for the namespace lab (stdlib only).

Run inside a lab namespace (`ip netns exec NS python3 burst.py ...`): it sends COUNT datagrams
of each requested KIND from SRC to DST and prints one line per kind, "kind sent", then
"total N". Nothing is sent anywhere but DST, and DST is always an address of the relay
namespace the lab created (the suite passes it); the count is capped.

Kinds:
  udp500   random bytes, ISAKMP-shaped headers with random cookies/fields/lengths, truncated
           headers, to UDP port 500
  udp4500  the same behind the non-ESP marker, and ESP-in-UDP-shaped datagrams with random
           SPIs (some reserved: 1..255), to UDP port 4500
  esp      raw IP protocol 50: random SPI and sequence number, random body
  ah       raw IP protocol 51: AH headers with random, reserved-field-set or inconsistent
           lengths and random SPIs, random body

Deterministic for a given --seed, so a failure can be replayed.
"""

import argparse
import random
import socket
import struct
import sys
import time

MAX_COUNT = 20000
KINDS = ("udp500", "udp4500", "esp", "ah")


def isakmp_like(rng):
    """An ISAKMP header with random cookies and fields, a length that may or may not match,
    and a random body; sometimes cut short."""
    body = rng.randbytes(rng.randrange(0, 600))
    total = 28 + len(body)
    length = rng.choice((total, total + rng.randrange(1, 64), rng.randrange(0, 28), rng.randrange(0, 1 << 32)))
    header = struct.pack(
        "!8s8sBBBBII",
        rng.randbytes(8),
        rng.choice((bytes(8), rng.randbytes(8))),
        rng.choice((1, 2, 4, 5, 8, 13, rng.randrange(256))),  # next payload
        rng.choice((0x10, 0x20, rng.randrange(256))),  # version
        rng.choice((2, 5, 32, rng.randrange(256))),  # exchange type
        rng.randrange(256),  # flags
        rng.randrange(1 << 32),  # message id
        length,
    )
    packet = header + body
    if rng.random() < 0.2:
        packet = packet[: rng.randrange(1, 28)]
    return packet


def random_bytes(rng):
    return rng.randbytes(rng.randrange(1, 1400))


def esp_like(rng):
    spi = rng.choice((rng.randrange(256, 1 << 32), rng.randrange(1, 256)))
    return struct.pack("!II", spi, rng.randrange(1 << 32)) + rng.randbytes(rng.randrange(0, 1400))


def ah_like(rng):
    body = rng.randbytes(rng.randrange(0, 1400))
    words = (12 + 16 + len(body)) // 4 - 2
    payload_len = rng.choice((words & 0xFF, rng.randrange(256), 0, 1))
    reserved = rng.choice((0, 0, rng.randrange(1, 1 << 16)))
    spi = rng.choice((rng.randrange(256, 1 << 32), rng.randrange(0, 256)))
    header = struct.pack("!BBHII", rng.choice((4, 50, 41, rng.randrange(256))), payload_len, reserved, spi, rng.randrange(1 << 32))
    return header + rng.randbytes(16) + body


def payload(kind, rng):
    if kind == "udp500":
        return rng.choice((random_bytes, isakmp_like))(rng)
    if kind == "udp4500":
        choice = rng.randrange(3)
        if choice == 0:
            return b"\0\0\0\0" + isakmp_like(rng)
        if choice == 1:
            return esp_like(rng)
        packet = random_bytes(rng)
        # A lone 0xff is a NAT-keepalive, valid input; keep the burst all bad.
        return b"\xfe" if packet == b"\xff" else packet
    if kind == "esp":
        return esp_like(rng)
    return ah_like(rng)


def open_socket(kind, src):
    if kind.startswith("udp"):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((src, 0))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 50 if kind == "esp" else 51)
        s.bind((src, 0))
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", required=True, help="local source address (an address of this namespace)")
    ap.add_argument("--dst", required=True, help="the relay's address (inside the lab)")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated: " + ", ".join(KINDS))
    ap.add_argument("--count", type=int, default=1000, help=f"datagrams per kind (at most {MAX_COUNT})")
    ap.add_argument("--pps", type=int, default=5000, help="pace: datagrams per second, all kinds together")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    kinds = [k for k in a.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            ap.error(f"unknown kind {k}")
    if not 0 < a.count <= MAX_COUNT or a.pps <= 0:
        ap.error(f"--count 1..{MAX_COUNT}, --pps > 0")
    rng = random.Random(a.seed)
    socks = {k: open_socket(k, a.src) for k in kinds}
    ports = {"udp500": 500, "udp4500": 4500, "esp": 0, "ah": 0}
    sent = {k: 0 for k in kinds}
    interval = 1.0 / a.pps
    start = time.monotonic()
    n = 0
    for i in range(a.count):
        for k in kinds:
            try:
                socks[k].sendto(payload(k, rng), (a.dst, ports[k]))
                sent[k] += 1
            except OSError as e:  # e.g. ENOBUFS; counted as not sent
                print(f"# {k}: {e}", file=sys.stderr)
            n += 1
            ahead = start + n * interval - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    for k in kinds:
        print(f"{k} {sent[k]}")
    print(f"total {sum(sent.values())}")


if __name__ == "__main__":
    main()
