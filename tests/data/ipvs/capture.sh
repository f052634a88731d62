#!/usr/bin/env bash
# Captures what ipvsadm 1.31 sends to and receives from the Debian 6.1
# kernel's IPVS family, as strace hex dumps, for tests/data/ipvs/*.bin.
# Run inside the IPVS VM from the repository root:
#   scripts/ipvs-vm run -- bash tests/data/ipvs/capture.sh
# then convert with: python3 tests/data/ipvs/strace2bin.py target/ipvs-capture tests/data/ipvs
set -euo pipefail
out=target/ipvs-capture
mkdir -p "$out"
S() { local name=$1; shift; strace -e trace=sendmsg,recvmsg -e write=3 -e read=3 -o "$out/$name.txt" "$@" || true; }
ip link add lvsync0 type veth peer name lvsync1
ip addr add 192.0.2.250/24 dev lvsync0
ip link set lvsync0 up; ip link set lvsync1 up
S new-service-v4 ipvsadm -A -t 192.0.2.1:80 -s wlc -p 600 -M 255.255.255.0
S new-service-v6 ipvsadm -A -t '[2001:db8::1]:443' -s sh -b sh-port,sh-fallback
S new-service-fwmark ipvsadm -A -f 7 -s mh -b mh-fallback -p 300 --pe sip
S new-dest-masq ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.1:8080 -m -w 3 -x 100 -y 50
S new-dest-gue ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -i --tun-type gue --tun-port 6080 --tun-csum
S new-dest-v6 ipvsadm -a -t '[2001:db8::1]:443' -r '[2001:db8::10]:443' -g -w 2
S del-dest ipvsadm -d -t 192.0.2.1:80 -r 198.51.100.2:80
S dup-service ipvsadm -A -t 192.0.2.1:80 -s rr
S set-timeout ipvsadm --set 100 20 30
S start-daemon ipvsadm --start-daemon backup --mcast-interface lvsync0 --syncid 5 --mcast-group 224.0.0.100 --mcast-port 9000 --mcast-ttl 2
S list ipvsadm -Ln
S list-daemon ipvsadm -L --daemon
S list-timeout ipvsadm -L --timeout
ipvsadm --stop-daemon backup
ipvsadm -C
