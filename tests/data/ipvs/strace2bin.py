#!/usr/bin/env python3
"""Turns the strace hex dumps written by capture.sh into one binary file per
netlink datagram: <capture>-<n>-<send|recv>.bin. The generic netlink
controller's traffic (the family lookup and its acknowledgements) is dropped; MSG_PEEK reads, which
strace shows twice, are kept once."""
import re, sys, pathlib

raw = pathlib.Path(sys.argv[1])
outdir = pathlib.Path(sys.argv[2])
for txt in sorted(raw.glob("*.txt")):
    n = 0
    call, data = None, bytearray()
    def flush():
        global n
        kind = int.from_bytes(data[4:6], "little") if len(data) >= 6 else 0
        acked = int.from_bytes(data[24:26], "little") if kind == 2 and len(data) >= 26 else 0
        if call and data and not peek and kind != 0x10 and acked != 0x10:
            (outdir / f"{txt.stem}-{n}-{call}.bin").write_bytes(bytes(data))
            n += 1
    peek = False
    for line in txt.read_text().splitlines():
        m = re.match(r"^(sendmsg|recvmsg)\(", line)
        if m:
            flush()
            call = "send" if m.group(1) == "sendmsg" else "recv"
            peek = "MSG_PEEK" in line
            data = bytearray()
        elif line.startswith(" | "):
            hexpart = line[3:].split("  ", 1)[1][:49]
            data += bytes.fromhex(hexpart.replace(" ", ""))
    flush()
