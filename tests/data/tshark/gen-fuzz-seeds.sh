#!/bin/sh
# Writes the seed corpora of the isakmp and tail fuzz targets from the committed captures:
# every IKE message (non-ESP marker stripped), every decrypted body tshark recovered (prefixed
# with its first payload type, as the isakmp target reads it), and for the tail target each
# message followed by a tail, plus item lists.
#
# Usage: tests/data/tshark/gen-fuzz-seeds.sh   (needs tshark, python3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
captures="$root/tests/data/captures"
fields="$here/isakmp-fields.txt"
isakmp="$root/fuzz/corpus/isakmp"
tail="$root/fuzz/corpus/tail"
mkdir -p "$isakmp" "$tail"
for dir in "$captures"/*/; do
  scenario=$(basename "$dir")
  for pcap in "$dir"*.pcap; do
    name="$scenario-$(basename "$pcap" .pcap)"
    tshark -r "$pcap" -Y isakmp -T fields -e frame.number -e udp.dstport -e udp.payload 2>/dev/null
    echo "== $name"
  done
done | python3 -c '
import sys, os
isakmp, tail, fields = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
for line in sys.stdin:
    line = line.strip()
    if line.startswith("== "):
        name = line[3:]
        for frame, port, payload in rows:
            data = bytes.fromhex(payload)
            if port == "4500" or data[:4] == b"\0\0\0\0":
                data = data[4:]
            open(os.path.join(isakmp, "%s-%s" % (name, frame)), "wb").write(data)
            body = ("%s#%s" % (name, frame)).encode()
            items = bytes([1, 0, len(body)]) + body + bytes([0x81, 0, 4]) + b"\x0a\x08\x00\x01"
            tail_ = b"\x9aXLT\x01\x02" + len(items).to_bytes(2, "big") + items
            open(os.path.join(tail, "%s-%s" % (name, frame)), "wb").write(data + tail_)
        rows = []
        continue
    rows.append(line.split("\t"))
n = 0
for line in open(fields):
    if line.startswith("header "):
        np = int(line.split(" np=")[1].split(" ")[0])
    if line.startswith("plaintext hex="):
        open(os.path.join(isakmp, "decrypted-%02d" % n), "wb").write(bytes([np]) + bytes.fromhex(line.strip()[14:]))
        n += 1
open(os.path.join(tail, "items"), "wb").write(bytes([1, 0, 3]) + b"abc" + bytes([0x82, 0, 0]))
' "$isakmp" "$tail" "$fields"
echo "isakmp seeds: $(ls "$isakmp" | wc -l), tail seeds: $(ls "$tail" | wc -l)"
