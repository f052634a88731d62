#!/usr/bin/env python3
"""Sends malformed and foreign VRRP packets onto the lab segment, for
tests/vrrp_bad_input.rs. Run inside a lab host (h3: 192.0.2.13,
fe80::c0ff:fe00:20d) as root:

    vrrp-flood.py steady SECONDS RATE   # RATE packets/s of each named kind
    vrrp-flood.py max SECONDS           # everything, random bytes too, as fast as possible

Every named kind is wrong in exactly one way (and claims priority 254, so
that accepting it would make a master yield). Prints a JSON object:
{kind: packets sent}.
"""
import json
import random
import socket
import struct
import sys
import time

SRC4, GRP4 = "192.0.2.13", "224.0.0.18"
SRC6, GRP6 = "fe80::c0ff:fe00:20d", "ff02::12"
VIP_V2, VIP_V3, VIP_V6 = "192.0.2.100", "192.0.2.101", "2001:db8::100"


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def v2(vrid, prio, interval, auth_type, password, vip=VIP_V2):
    body = socket.inet_aton(vip) + password.ljust(8, b"\0")
    hdr = struct.pack("!BBBBBBH", 0x21, vrid, prio, 1, auth_type, interval, 0)
    c = csum(hdr + body)
    return hdr[:6] + struct.pack("!H", c) + body


def v3_ipv4(vrid, prio, cs, vip=VIP_V3, version=3):
    addrs = socket.inet_aton(vip)
    hdr = struct.pack("!BBBBHH", (version << 4) | 1, vrid, prio, 1, cs & 0x0FFF, 0)
    pseudo = socket.inet_aton(SRC4) + socket.inet_aton(GRP4) + struct.pack("!BBH", 0, 112, len(hdr) + len(addrs))
    c = csum(pseudo + hdr + addrs)
    return hdr[:6] + struct.pack("!H", c) + addrs


def v3_ipv6(vrid, prio, cs, vip=VIP_V6):
    addrs = socket.inet_pton(socket.AF_INET6, vip)
    hdr = struct.pack("!BBBBHH", 0x31, vrid, prio, 1, cs & 0x0FFF, 0)
    length = len(hdr) + len(addrs)
    pseudo = (socket.inet_pton(socket.AF_INET6, SRC6) + socket.inet_pton(socket.AF_INET6, GRP6)
              + struct.pack("!I3xB", length, 112))
    c = csum(pseudo + hdr + addrs)
    return hdr[:6] + struct.pack("!H", c) + addrs


def flip_checksum(p):
    return p[:6] + bytes([p[6] ^ 0xFF, p[7] ^ 0xFF]) + p[8:]


def ipv4_packet(payload, ttl):
    # Kernel fills in total length, checksum and ID with IP_HDRINCL.
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 0, 0, 0, ttl, 112, 0,
                      socket.inet_aton(SRC4), socket.inet_aton(GRP4))
    return hdr + payload


KINDS = {
    # kind: (family, payload, ttl/hop limit)
    "v2_ttl": (4, v2(52, 254, 1, 1, b"1111"), 64),
    "v2_auth": (4, v2(52, 254, 1, 1, b"2222"), 255),
    "v2_authtype": (4, v2(52, 254, 1, 0, b""), 255),
    "v2_interval": (4, v2(52, 254, 3, 1, b"1111"), 255),
    "v2_truncated": (4, v2(52, 254, 1, 1, b"1111")[:6], 255),
    "v2_vrid": (4, v2(99, 254, 1, 1, b"1111"), 255),
    "v3_ttl": (4, v3_ipv4(55, 254, 10), 64),
    "v3_checksum": (4, flip_checksum(v3_ipv4(55, 254, 10)), 255),
    "v3_version": (4, v3_ipv4(55, 254, 10, version=1), 255),
    "v6_hoplimit": (6, v3_ipv6(56, 254, 10), 64),
    "v6_checksum": (6, flip_checksum(v3_ipv6(56, 254, 10)), 255),
    "v6_short": (6, b"\x31", 255),
}


def main():
    mode, seconds = sys.argv[1], float(sys.argv[2])
    rate = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    s4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s4.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
    s6 = {}
    for hops in (64, 255):
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, 112)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("eth0"))
        s6[hops] = s
    ifindex = socket.if_nametoindex("eth0")
    rng = random.Random(7)
    sent = {k: 0 for k in KINDS}
    sent["random4"] = sent["random6"] = sent["errors"] = 0

    def send(fam, payload, ttl):
        try:
            if fam == 4:
                s4.sendto(ipv4_packet(payload, ttl), (GRP4, 0))
            else:
                s6[ttl].sendto(payload, (GRP6, 0, 0, ifindex))
            return True
        except (BlockingIOError, OSError):
            sent["errors"] += 1
            return False

    start = time.monotonic()
    if mode == "steady":
        period = 1.0 / rate
        n = 0
        while time.monotonic() - start < seconds:
            for k, (fam, payload, ttl) in KINDS.items():
                if send(fam, payload, ttl):
                    sent[k] += 1
            n += 1
            delay = start + n * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    else:
        kinds = list(KINDS.items())
        while time.monotonic() - start < seconds:
            for _ in range(64):
                r = rng.random()
                if r < 0.5:
                    k, (fam, payload, ttl) = kinds[rng.randrange(len(kinds))]
                    if send(fam, payload, ttl):
                        sent[k] += 1
                else:
                    payload = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 48)))
                    if len(payload) > 1 and rng.random() < 0.5:
                        payload = payload[:1] + bytes([rng.choice((52, 55, 56))]) + payload[2:]
                    fam = 4 if r < 0.75 else 6
                    if send(fam, payload, 255):
                        sent["random%d" % fam] += 1
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
