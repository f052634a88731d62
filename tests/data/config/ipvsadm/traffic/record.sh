#!/bin/bash
# Records ipvsadm 1.31's --stats / --rate listings (abbreviated and --exact)
# of a table with real traffic, in the IPVS VM:
#   scripts/ipvs-vm run -- tests/data/config/ipvsadm/traffic/record.sh
# The table is table.cmds; the traffic goes from local sockets to the VIPs
# (IPVS schedules locally generated connections too) and on to a local
# server. Each listing is taken until two reads agree (the rate estimator
# moves every 2 s). tests/config_ipvsadm_golden.rs renders the --exact
# numbers with lvskit and compares with the abbreviated listings.
set -euo pipefail
cd "$(dirname "$0")"
[[ ${IPVS_VM:-} == 1 ]] || { echo "run inside scripts/ipvs-vm" >&2; exit 1; }
ip addr add 192.0.2.1/32 dev lo
ip addr add 192.0.2.2/32 dev lo
grep -v '^#' table.cmds | while read -r line; do [[ -z $line ]] || ipvsadm $line; done
python3 - <<'PY'
import socket, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", 80)); srv.listen(64)
def sink(c):
    while c.recv(1 << 20):
        pass
    c.sendall(b"x" * 1000); c.close()
def serve():
    while True:
        c, _ = srv.accept()
        threading.Thread(target=sink, args=(c,), daemon=True).start()
threading.Thread(target=serve, daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 53))
buf = b"y" * (1 << 20)
def send(addr, total):
    c = socket.create_connection((addr, 80)); n = 0
    while n < total:
        c.sendall(buf); n += len(buf)
    c.shutdown(socket.SHUT_WR)
    while c.recv(65536):
        pass
    c.close()
send("192.0.2.1", 1200 << 20)   # > 10^9 bytes: the M abbreviation
for i in range(7):
    send("192.0.2.2", 30 << 20)  # > 10^8 bytes: the K abbreviation
uc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(300):
    uc.sendto(b"q" * 100, ("192.0.2.1", 53))
PY
sleep 1
for try in 1 2 3 4 5 6 7 8 9 10; do
  ipvsadm -Ln --stats > stats-traffic.out
  ipvsadm -Ln --stats --exact > stats-exact-traffic.out
  ipvsadm -Ln --stats > stats-traffic.out2
  ipvsadm -Ln --rate > rate-traffic.out
  ipvsadm -Ln --rate --exact > rate-exact-traffic.out
  ipvsadm -Ln --rate > rate-traffic.out2
  if cmp -s stats-traffic.out stats-traffic.out2 && cmp -s rate-traffic.out rate-traffic.out2; then
    rm -f ./*.out2; exit 0
  fi
  sleep 0.3
done
echo "listings never settled" >&2; exit 1
