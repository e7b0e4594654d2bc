#!/usr/bin/env python3
"""Make the ESP/AH known-answer vectors in this directory that go beyond the original seven.

Independent implementation: scapy's SecurityAssociation via the project's oracle
(`../shared/oracle/oracle.py`, scapy 2.8.0 + cryptography 50.0.2). Every tunnel-mode vector
is re-verified by the oracle's second, hand-written receive path (`ref.py`) exactly as
`oracle.py check-vectors` does; transport-mode and bundle vectors (which ref.py does not model)
are re-verified by decrypting with scapy and checking the round trip.

Usage (from the repository root, with a venv holding ../shared/oracle/requirements.txt):
    python tests/data/vectors/gen_extra.py --oracle ../shared/oracle --out tests/data/vectors

Writes:
  <out>/*.json            tunnel mode, the format of README.md (one SA)
  <out>/transport/*.json  transport mode: sa.mode = "transport", no sa.outer; inner_hex is the
                          unprotected IP packet, outer_hex the protected one
  <out>/bundle/*.json     AH+ESP bundles (IP | AH | ESP | inner): sa.proto = "AH+ESP",
                          sa.ah and sa.esp hold the two SAs, sa.outer the tunnel header;
                          translation sides carry ah_spi and esp_spi
Deterministic: running it again gives identical files.
"""
import argparse
import argparse as _ap
import json
import os
import struct
import sys


def load_oracle(path):
    sys.path.insert(0, os.path.abspath(path))
    import oracle  # noqa: E402
    return oracle


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--oracle", default="../shared/oracle")
    ap.add_argument("--out", default="tests/data/vectors")
    args = ap.parse_args()
    o = load_oracle(args.oracle)
    from scapy.all import IP, IPv6, UDP, TCP, Raw, raw
    from scapy.layers.ipsec import AH, ESP, SecurityAssociation

    V4, V6 = o.V4, o.V6
    SPI_A, SPI_B = "0x0000a001", 0x0000B001
    o4 = {"src": V4["relay_s"], "dst": V4["sgw"], "ttl": 64, "id": 0x1234, "flags": "DF"}
    o4b = {"src": V4["sgw"], "dst": V4["relay_s"], "ttl": 61, "tos": 0x10, "id": 0xbeef}
    c4 = (V4["client"], V4["relay_c"])
    c4b = (V4["relay_c"], V4["client"])
    o6 = {"src": V6["relay_s"], "dst": V6["sgw"], "hlim": 64}
    o6b = {"src": V6["sgw"], "dst": V6["relay_s"], "hlim": 60, "tc": 0x20, "fl": 0x12345}
    c6 = (V6["client"], V6["relay_c"])
    c6b = (V6["relay_c"], V6["client"])
    s = lambda o_: (o_["src"], o_["dst"])  # noqa: E731
    i4, iu4, iu6 = o.inner_icmp4(), o.inner_udp4(), o.inner_udp6()
    big4 = raw(IP(src="192.0.2.10", dst="192.0.2.20", id=99, ttl=64) /
               UDP(sport=5000, dport=5001) / Raw(bytes(range(256)) * 5 + b"x" * 92))
    assert len(big4) == 1400
    tiny6 = raw(IPv6(src="2001:db8:c::10", dst="2001:db8:c::20") / UDP(sport=1, dport=2))
    mut4 = [("ttl", 17), ("tos", 0xb8), ("flags_df", 0)]
    mut6 = [("hlim", 17), ("tc", 0xb8), ("fl", 0xabcde)]
    K = o
    CBC1 = dict(crypt_algo="AES-CBC", crypt_key=K.K_AES128, auth_algo="HMAC-SHA1-96",
                auth_key=K.K_HMAC1, iv=K.IV16)
    CBC256_1 = dict(CBC1, crypt_key=K.K_AES256)
    NULL1 = dict(crypt_algo="NULL", auth_algo="HMAC-SHA1-96", auth_key=K.K_HMAC1)
    GCM192 = dict(o.ESP_GCM, crypt_key="303132333435363738393a3b3c3d3e3f4041424344454647")
    sa = o._sa

    # ---- tunnel mode, standard format ------------------------------------------------
    # The oracle's own extra set (gen-vectors makes 13; the repository had 7 of them) ...
    tunnel = [v for v in o.build_vectors()]
    # ... and ours: every suite x feature we support.
    tunnel += [
        o._vector("esp-aes128cbc-hmacsha1-ipv4", "ESP tunnel, AES-128-CBC + HMAC-SHA1-96, IPv4 outer",
                  sa("ESP", SPI_A, o4, **CBC1), i4, c4, s(o4), SPI_B),
        o._vector("esp-aes256cbc-hmacsha1-ipv6-in6", "ESP tunnel, AES-256-CBC + HMAC-SHA1-96, IPv6 "
                  "outer, inner IPv6 UDP", sa("ESP", "0x0badcafe", o6, **CBC256_1), iu6, c6, s(o6),
                  0xc0ffee01),
        o._vector("esp-null-hmacsha1-ipv6", "ESP tunnel, NULL + HMAC-SHA1-96, IPv6 outer, inner IPv4",
                  sa("ESP", SPI_A, o6, **NULL1), i4, c6, s(o6), SPI_B),
        o._vector("esp-null-hmacsha256-ipv6-in6", "ESP tunnel, NULL + HMAC-SHA256-128, IPv6 outer, "
                  "inner IPv6 (SGW->client direction)", sa("ESP", SPI_A, o6b, **o.ESP_NULL), iu6, c6b,
                  s(o6b), SPI_B),
        o._vector("esp-aes128cbc-hmacsha256-ipv4-esn", "ESP tunnel, AES-128-CBC + HMAC-SHA256-128, "
                  "ESN (hi=3 appended to the ICV input), seq low 0xfffffff0",
                  sa("ESP", SPI_A, o4, **o.ESP_CBC) | {"esn_en": True, "esn": 3, "seq": 0xfffffff0},
                  iu4, c4, s(o4), SPI_B),
        o._vector("esp-null-hmacsha256-ipv4-esn", "ESP tunnel, NULL + HMAC-SHA256-128, ESN hi=1 seq 7",
                  sa("ESP", SPI_A, o4, **o.ESP_NULL) | {"esn_en": True, "esn": 1, "seq": 7},
                  i4, c4, s(o4), SPI_B),
        o._vector("esp-aes256gcm16-ipv6-esn", "ESP tunnel, AES-256-GCM-16, ESN hi=0x10 seq 2, IPv6 outer",
                  sa("ESP", SPI_A, o6, **dict(o.ESP_GCM, crypt_key=K.K_AES256)) |
                  {"esn_en": True, "esn": 0x10, "seq": 2}, iu6, c6, s(o6), SPI_B),
        o._vector("esp-aes192gcm16-ipv4", "ESP tunnel, AES-192-GCM-16, IPv4 outer (SGW->client, no DF)",
                  sa("ESP", "0x01020304", o4b, **GCM192), iu4, c4b, s(o4b), 0x0a0b0c0d),
        o._vector("esp-aes128gcm16-ipv4-seqmax", "ESP tunnel, AES-128-GCM-16, seq 0xffffffff (last "
                  "number without ESN)", sa("ESP", SPI_A, o4, **o.ESP_GCM) | {"seq": 0xffffffff},
                  i4, c4, s(o4), SPI_B),
        o._vector("esp-aes128gcm16-ipv4-1400", "ESP tunnel, AES-128-GCM-16, 1400-byte inner packet",
                  sa("ESP", SPI_A, o4, **o.ESP_GCM), big4, c4, s(o4), SPI_B),
        o._vector("esp-aes128cbc-hmacsha256-ipv4-1400", "ESP tunnel, AES-128-CBC + HMAC-SHA256-128, "
                  "1400-byte inner", sa("ESP", SPI_A, o4, **o.ESP_CBC), big4, c4, s(o4), SPI_B),
        o._vector("esp-aes128cbc-hmacsha256-ipv4-natt-ports", "ESP-in-UDP (RFC 3948) 4500->31337, "
                  "AES-128-CBC + HMAC-SHA256-128", sa("ESP", SPI_A, o4, **o.ESP_CBC) |
                  {"nat_t": {"sport": 4500, "dport": 31337}}, i4, c4, s(o4), SPI_B),
        o._vector("esp-aes128gcm16-ipv6-in6-tiny", "ESP tunnel, AES-128-GCM-16, 48-byte inner IPv6 "
                  "(no padding needed: 48+2 -> 52)", sa("ESP", SPI_A, o6, **o.ESP_GCM), tiny6, c6,
                  s(o6), SPI_B),
        o._vector("ah-hmacsha1-ipv4-esn", "AH tunnel, HMAC-SHA1-96, ESN hi=5 seq 1, IPv4 outer",
                  sa("AH", SPI_A, o4, **o.AH_SHA1) | {"esn_en": True, "esn": 5, "seq": 1},
                  i4, c4, s(o4), SPI_B, mutate=mut4),
        o._vector("ah-hmacsha256-ipv6-esn", "AH tunnel, HMAC-SHA256-128, ESN hi=1 seq 3, IPv6 outer",
                  sa("AH", SPI_A, o6, **o.AH_256) | {"esn_en": True, "esn": 1, "seq": 3},
                  iu6, c6, s(o6), SPI_B, mutate=mut6),
        o._vector("ah-hmacsha256-ipv4-sgw2client", "AH tunnel, HMAC-SHA256-128, SGW->client, "
                  "TOS 0x10, TTL 61, no DF", sa("AH", "0x7f000001", o4b, **o.AH_256), iu4, c4b,
                  s(o4b), 0x10203040, mutate=mut4),
        o._vector("ah-hmacsha1-ipv6-sgw2client", "AH tunnel, HMAC-SHA1-96, SGW->client IPv6 with "
                  "traffic class and flow label", sa("AH", SPI_A, o6b, **o.AH_SHA1), i4, c6b, s(o6b),
                  SPI_B, mutate=mut6),
    ]
    names = [v["name"] for v in tunnel]
    assert len(names) == len(set(names)), "duplicate vector names"
    os.makedirs(args.out, exist_ok=True)
    check_dir = os.path.join(args.out, ".check")
    os.makedirs(check_dir, exist_ok=True)
    with open(os.path.join(check_dir, "all.json"), "w") as f:
        json.dump(tunnel, f)
    rc = o.cmd_check_vectors(_ap.Namespace(dir=check_dir))
    os.remove(os.path.join(check_dir, "all.json"))
    os.rmdir(check_dir)
    if rc:
        sys.exit("tunnel vectors failed the oracle's own check")
    for v in tunnel:
        write(os.path.join(args.out, v["name"] + ".json"), v)

    # ---- transport mode (scapy SecurityAssociation without tunnel header) -------------
    def transport(name, desc, spec, pkt, relay_src, relay_dst, spi_b, mutate=None):
        n = o.norm_sa(dict(spec, outer={"src": "0.0.0.0", "dst": "0.0.0.0"}))
        sa_ = o.make_sa(n)
        sa_.tunnel_header = None
        ip = o.ip_from_bytes(pkt)
        kw = {"seq_num": n["seq"]}
        if n["proto"] == "ESP":
            kw["iv"] = n["iv"]
        out = raw(sa_.encrypt(ip, **kw))
        back = raw(sa_.decrypt(o.ip_from_bytes(out)))
        assert strip_len(back) == strip_len(pkt), (name, back.hex(), pkt.hex())
        relay = o.rewrite(out, spi=spi_b, src=relay_src, dst=relay_dst)
        assert relay != out
        v = {"name": name, "description": desc,
             "generator": "scapy %s SecurityAssociation (transport mode); round trip checked by "
                          "scapy decrypt (ref.py models tunnel mode only)" % o.scapy.__version__,
             "sa": dict(spec, mode="transport"), "inner_hex": pkt.hex(), "outer_hex": out.hex(),
             "translation": {
                 "sgw_side": {"spi": "0x%08x" % o.parse_int(spec["spi"]), "src": ip.src,
                              "dst": ip.dst},
                 "relay_side": {"spi": "0x%08x" % spi_b, "src": relay_src, "dst": relay_dst},
                 "relay_side_outer_hex": relay.hex()}}
        if mutate:
            m = out
            for f_, val in mutate:
                m = (o.set_v4_field if out[0] >> 4 == 4 else o.set_v6_field)(m, f_, val)
            assert raw(sa_.decrypt(o.ip_from_bytes(m)))
            v["in_transit_mutated"] = {"changes": [list(x) for x in mutate], "outer_hex": m.hex(),
                                       "expect": "verifies (AH-mutable fields)"}
        return v

    t4 = raw(IP(src=V4["relay_s"], dst=V4["sgw"], id=0x4242, ttl=64, flags="DF") /
             UDP(sport=4242, dport=7) / Raw(b"transport-mode-kat"))
    t6 = raw(IPv6(src=V6["relay_s"], dst=V6["sgw"], hlim=64) /
             TCP(sport=4242, dport=80, flags="S", seq=1) / Raw(b"transport-v6"))
    trans = [
        transport("transport-esp-aes128gcm16-ipv4", "ESP transport, AES-128-GCM-16, IPv4 UDP",
                  {"proto": "ESP", "spi": SPI_A, "seq": 1, **o.ESP_GCM}, t4, *c4, SPI_B),
        transport("transport-esp-aes128cbc-hmacsha256-ipv6", "ESP transport, AES-128-CBC + "
                  "HMAC-SHA256-128, IPv6 TCP", {"proto": "ESP", "spi": SPI_A, "seq": 3, **o.ESP_CBC},
                  t6, *c6, SPI_B),
        transport("transport-ah-hmacsha256-ipv4", "AH transport, HMAC-SHA256-128, IPv4 UDP",
                  {"proto": "AH", "spi": SPI_A, "seq": 1, **o.AH_256}, t4, *c4, SPI_B, mutate=mut4),
        transport("transport-ah-hmacsha1-ipv6", "AH transport, HMAC-SHA1-96, IPv6 TCP",
                  {"proto": "AH", "spi": SPI_A, "seq": 2, **o.AH_SHA1}, t6, *c6, SPI_B, mutate=mut6),
    ]
    for v in trans:
        write(os.path.join(args.out, "transport", v["name"] + ".json"), v)

    # ---- AH+ESP bundles: ESP tunnel mode inside, AH over the outer header -------------
    def bundle(name, desc, outer, esp_spec, ah_spec, inner, relay_src, relay_dst, ah_b, esp_b,
               mutate=None):
        esp_n = o.norm_sa(dict(esp_spec, proto="ESP", outer=outer))
        ah_n = o.norm_sa(dict(ah_spec, proto="AH", outer=outer))
        esp_sa = o.make_sa(esp_n)
        ah_sa = o.make_sa(ah_n)
        ah_sa.tunnel_header = None          # AH in transport mode over IP | ESP
        mid = o.ip_from_bytes(raw(esp_sa.encrypt(o.ip_from_bytes(inner), seq_num=esp_n["seq"],
                                                 iv=esp_n["iv"])))
        # scapy's AuthAlgo.sign/verify look for an ESP layer before an AH one, so AH over ESP
        # only works while scapy dissects protocol 50 as opaque bytes.
        with esp_opaque():
            out = raw(ah_sa.encrypt(o.ip_from_bytes(raw(mid)), seq_num=ah_n["seq"]))
            without_ah = raw(ah_sa.decrypt(o.ip_from_bytes(out)))
        got = raw(esp_sa.decrypt(o.ip_from_bytes(without_ah)))
        assert got == inner, name
        assert o.ref.decap(esp_n, without_ah) == inner, name
        # Second opinion on the AH ICV from ref.py: it verifies the ICV first and only then
        # complains that the next header (50) is not a tunnel-mode inner packet.
        try:
            o.ref.decap(ah_n, out)
            raise AssertionError("ref.py accepted AH with next header 50?")
        except o.ref.RefError as e:
            assert "next header 50" in str(e), (name, str(e))

        def relay_rewrite(pkt, ah_spi, esp_spi, src, dst):
            b = bytearray(o.rewrite(pkt, spi=ah_spi, src=src, dst=dst))
            off = (b[0] & 0xf) * 4 if b[0] >> 4 == 4 else 40
            ah_len = (b[off + 1] + 2) * 4
            b[off + ah_len:off + ah_len + 4] = struct.pack("!L", esp_spi)
            return bytes(b)

        relay = relay_rewrite(out, ah_b, esp_b, relay_src, relay_dst)
        restored = relay_rewrite(relay, o.parse_int(ah_spec["spi"]), o.parse_int(esp_spec["spi"]),
                                 outer["src"], outer["dst"])
        assert restored == out
        try:
            o.ref.decap(dict(ah_n, spi=ah_b), relay)
            raise AssertionError("relay-side bundle verified as it stands?")
        except o.ref.RefError as e:
            assert "ICV mismatch" in str(e), (name, str(e))
        v = {"name": name, "description": desc,
             "generator": "scapy %s SecurityAssociation: ESP tunnel then AH transport over it; "
                          "round trip checked by scapy decrypt, AH ICV and ESP also by ref.py" % o.scapy.__version__,
             "sa": {"proto": "AH+ESP", "outer": outer, "ah": ah_spec, "esp": esp_spec},
             "inner_hex": inner.hex(), "outer_hex": out.hex(),
             "translation": {
                 "sgw_side": {"ah_spi": "0x%08x" % o.parse_int(ah_spec["spi"]),
                              "esp_spi": "0x%08x" % o.parse_int(esp_spec["spi"]),
                              "src": outer["src"], "dst": outer["dst"]},
                 "relay_side": {"ah_spi": "0x%08x" % ah_b, "esp_spi": "0x%08x" % esp_b,
                                "src": relay_src, "dst": relay_dst},
                 "relay_side_outer_hex": relay.hex()}}
        if mutate:
            m = out
            for f_, val in mutate:
                m = (o.set_v4_field if out[0] >> 4 == 4 else o.set_v6_field)(m, f_, val)
            with esp_opaque():
                without_ah = raw(ah_sa.decrypt(o.ip_from_bytes(m)))
            assert raw(esp_sa.decrypt(o.ip_from_bytes(without_ah))) == inner
            try:
                o.ref.decap(ah_n, m)
                raise AssertionError("ref.py accepted AH with next header 50?")
            except o.ref.RefError as e:
                assert "next header 50" in str(e), (name, str(e))
            v["in_transit_mutated"] = {"changes": [list(x) for x in mutate], "outer_hex": m.hex(),
                                       "expect": "verifies (AH-mutable fields)"}
        return v

    bundles = [
        bundle("bundle-ah-sha256-esp-aes128cbc-sha256-ipv4", "AH HMAC-SHA256-128 + ESP AES-128-CBC "
               "+ HMAC-SHA256-128, tunnel, IPv4", o4,
               {"spi": "0x0000e001", "seq": 1, **o.ESP_CBC}, {"spi": "0x0000a001", "seq": 1, **o.AH_256},
               i4, *c4, 0x0000b001, 0x0000f001, mutate=mut4),
        bundle("bundle-ah-sha1-esp-aes128gcm16-ipv6", "AH HMAC-SHA1-96 + ESP AES-128-GCM-16, tunnel, "
               "IPv6", o6, {"spi": "0x0000e002", "seq": 4, **o.ESP_GCM},
               {"spi": "0x0000a002", "seq": 4, **o.AH_SHA1}, iu6, *c6, 0x0000b002, 0x0000f002,
               mutate=mut6),
        bundle("bundle-ah-sha256-esp-null-sha1-ipv4-esn", "AH HMAC-SHA256-128 + ESP NULL + "
               "HMAC-SHA1-96, both ESN hi=2, tunnel, IPv4", o4,
               {"spi": "0x0000e003", "seq": 8, "esn_en": True, "esn": 2, **NULL1},
               {"spi": "0x0000a003", "seq": 8, "esn_en": True, "esn": 2, **o.AH_256},
               iu4, *c4, 0x0000b003, 0x0000f003),
    ]
    for v in bundles:
        write(os.path.join(args.out, "bundle", v["name"] + ".json"), v)
    print("wrote %d tunnel, %d transport, %d bundle vectors" % (len(tunnel), len(trans), len(bundles)))


class esp_opaque:
    """Context in which scapy does not dissect ESP after IP, IPv6 or AH."""

    def __enter__(self):
        from scapy.all import IP, IPv6, bind_layers, split_layers  # noqa: F401
        from scapy.layers.ipsec import AH, ESP
        split_layers(IP, ESP, proto=50)
        split_layers(IPv6, ESP, nh=50)
        split_layers(AH, ESP, nh=50)

    def __exit__(self, *exc):
        from scapy.all import IP, IPv6, bind_layers
        from scapy.layers.ipsec import AH, ESP
        bind_layers(IP, ESP, proto=50)
        bind_layers(IPv6, ESP, nh=50)
        bind_layers(AH, ESP, nh=50)


def strip_len(b):
    """scapy's transport decrypt may leave IPv4 checksum/length recomputed identically; compare
    bytes as they are."""
    return bytes(b)


def write(path, v):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(v, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
