#!/bin/bash
# Captures real `ipvsadm -Lnc` (1.31) outputs with the /proc/net/ip_vs_conn
# they were printed from, as golden data for tests/conn_listing_golden.rs.
#
# Run inside the IPVS VM from the repository root:
#   scripts/ipvs-vm run -- tests/data/ipvsadm-lnc/capture.sh
#
# Each snapshot NAME is NAME.proc (the kernel's table) and NAME.out (what
# ipvsadm printed from it); a snapshot is kept only when /proc read the same
# before and after ipvsadm ran, so that both describe the same moment.
set -euo pipefail
[[ ${IPVS_VM:-} == 1 ]] || { echo "run me in the IPVS VM (scripts/ipvs-vm run -- $0)" >&2; exit 1; }
out=$(cd "$(dirname "$0")" && pwd)

ns() { ip netns exec "$@"; }
ip netns add cl
ip netns add lb
ip netns add srv
ip link add c0 type veth peer name l0
ip link add s0 type veth peer name l1
ip link set c0 netns cl; ip link set l0 netns lb; ip link set l1 netns lb; ip link set s0 netns srv
ip -n cl addr add 203.0.113.10/24 dev c0
ip -n cl addr add 2001:db8:c::10/64 dev c0 nodad
ip -n lb addr add 203.0.113.1/24 dev l0
ip -n lb addr add 2001:db8:c::1/64 dev l0 nodad
ip -n lb addr add 198.51.100.1/24 dev l1
ip -n srv addr add 198.51.100.10/24 dev s0
for n in cl lb srv; do ip -n $n link set lo up; done
ip -n cl link set c0 up; ip -n lb link set l0 up; ip -n lb link set l1 up; ip -n srv link set s0 up
ip -n cl route add default via 203.0.113.1
ip -n cl -6 route add default via 2001:db8:c::1
ip -n srv route add default via 198.51.100.1
ns lb bash -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
ip -n lb link add vip type dummy
ip -n lb link set vip up
for a in 192.0.2.1/32 192.0.2.2/32 192.0.2.7/32; do ip -n lb addr add $a dev vip; done
ip -n lb addr add 2001:db8::80/128 dev vip nodad

# NAT to a live server, persistent /24 with a long timeout, UDP, IPv6,
# tunnels to servers of the other family, a firewall mark.
ns lb ipvsadm -A -t 192.0.2.1:80 -s rr
ns lb ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.10:8080 -m
ns lb ipvsadm -A -t 192.0.2.2:80 -s rr -p 6100 -M 255.255.255.0
ns lb ipvsadm -a -t 192.0.2.2:80 -r 198.51.100.10:8080 -m
ns lb ipvsadm -A -u 192.0.2.1:53 -s rr
ns lb ipvsadm -a -u 192.0.2.1:53 -r 198.51.100.12:53 -m
ns lb ipvsadm -A -t [2001:db8::80]:80 -s rr
ns lb ipvsadm -a -t [2001:db8::80]:80 -r [2001:db8:1::10]:80 -m
ns lb ipvsadm -A -t 192.0.2.1:8000 -s rr
ns lb ipvsadm -a -t 192.0.2.1:8000 -r [2001:db8:1::11]:8000 -i
ns lb ipvsadm -A -t [2001:db8::80]:8001 -s rr
ns lb ipvsadm -a -t [2001:db8::80]:8001 -r 198.51.100.20:8001 -i
ns lb ipvsadm -A -f 7 -s rr -p 120
ns lb ipvsadm -a -f 7 -r 198.51.100.13:0 -g
ns lb nft add table ip mg
ns lb nft add chain ip mg pre '{ type filter hook prerouting priority -150; }'
ns lb nft add rule ip mg pre ip daddr 192.0.2.7 meta mark set 7

# A server that echoes lines and closes when the client does.
ip netns exec srv /usr/bin/python3 -c '
import socketserver
class H(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 8080), H).serve_forever()
' &
server=$!
sleep 1

snap() {
  local name=$1
  for _ in $(seq 30); do
    if ns lb bash -c 'a=$(cat /proc/net/ip_vs_conn); o=$(ipvsadm -Lnc); b=$(cat /proc/net/ip_vs_conn)
        [[ $a == "$b" ]] || exit 1
        printf "%s\n" "$a" > /tmp/snap.proc; printf "%s\n" "$o" > /tmp/snap.out'; then
      cp /tmp/snap.proc "$out/$name.proc"
      cp /tmp/snap.out "$out/$name.out"
      echo "captured $name: $(($(wc -l < "$out/$name.proc") - 1)) entries" >&2
      return
    fi
  done
  echo "could not capture $name consistently" >&2
  exit 1
}

# Half-open connections (SYN_RECV) to every service, a UDP flow and
# firewall-marked traffic.
ns cl timeout 1 bash -c 'exec 3<>/dev/tcp/192.0.2.1/8000' || true
ns cl timeout 1 bash -c 'exec 3<>/dev/tcp/2001:db8::80/80' || true
ns cl timeout 1 bash -c 'exec 3<>/dev/tcp/2001:db8::80/8001' || true
ns cl timeout 1 bash -c 'exec 3<>/dev/tcp/192.0.2.7/22' || true
ns cl bash -c 'echo hi > /dev/udp/192.0.2.1/53'
ns cl bash -c 'echo hi > /dev/udp/192.0.2.7/123'
# Established connections (one persistent, which assures its template), and
# connections the client closed (TIME_WAIT once the server closes too).
ip netns exec cl bash -c 'exec 3<>/dev/tcp/192.0.2.1/80; echo a >&3; read -r x <&3; exec sleep 30' &
c1=$!
ip netns exec cl bash -c 'exec 3<>/dev/tcp/192.0.2.2/80; echo b >&3; read -r x <&3; exec sleep 30' &
c2=$!
ns cl bash -c 'exec 3<>/dev/tcp/192.0.2.1/80; echo c >&3; read -r x <&3; exec 3>&-' || true
sleep 1
snap mixed-1
sleep 2
snap mixed-2
# The clients go away: their connections close (TIME_WAIT, via CLOSE_WAIT).
kill "$c1" "$c2"
sleep 2
snap closing
kill "$server"
