#!/usr/bin/env bash
# bench/net.sh — ct-net against Debian's CNI reference plugins (containernetworking-plugins:
# /usr/lib/cni/bridge with /usr/lib/cni/host-local IPAM) wiring one container, side by side:
#
#   1. a named network namespace (ct-net makes it; for CNI, `ip netns add` as a runtime would),
#   2. a veth pair, host end on a bridge with the gateway address, the other end eth0 inside,
#   3. an address from a pool (ct-net's leases / host-local), default route via the gateway,
#   4. outbound masquerade for the subnet (ct-net: nftables; bridge plugin: ipMasq, iptables),
#   5. and the teardown of all of it, in the same iteration, so every run starts clean.
#
# ct-net also writes the bundle's hosts/hostname/resolv.conf, net.json and config.json; the
# CNI plugins write nothing of that kind. The bridges are made once, in the warmup runs.
# Everything runs inside a private network namespace (`unshare --net`), so the machine's own
# network, firewall and forwarding switch are not touched; it is removed at exit.
# Usage: sudo bench/net.sh   (RUNS=N to change the number of runs, default 50)
set -euo pipefail

runs=${RUNS:-50}
[ "$(id -u)" = 0 ] || { echo "bench/net.sh: needs root (namespaces)" >&2; exit 2; }
for t in hyperfine jq unshare ip iptables /usr/lib/cni/bridge /usr/lib/cni/host-local; do
    command -v "$t" >/dev/null || { echo "bench/net.sh: needs $t (apt-get install hyperfine jq iproute2 iptables containernetworking-plugins)" >&2; exit 2; }
done

if [ -z "${CT_BENCH_INNER:-}" ]; then
    here=$(cd "$(dirname "$0")/.." && pwd)
    target=${CARGO_TARGET_DIR:-$here/target}
    (cd "$here" && cargo build --release -q -p ct-net)
    work=$(mktemp -d /tmp/ct-bench-net.XXXXXX)
    trap 'ip netns del ctbench-$$ 2>/dev/null || true; ip netns del cnibench-$$ 2>/dev/null || true; rm -rf "$work"' EXIT
    CT_BENCH_INNER=1 CT_NET=$target/release/ct-net WORK=$work TAG=$$ RUNS=$runs \
        unshare --net "$0"
    exit
fi

# --- inside the private network namespace ---
: "${WORK:?}" "${TAG:?}" "${CT_NET:?}" "${RUNS:?}"
ip link set lo up
# ct-net keeps the records of this namespace's networks in /run/ct/net/netns-INODE.
records=/run/ct/net/netns-$(stat -L -c %i /proc/self/ns/net)
trap 'rm -rf "$records"' EXIT
id=ctbench-$TAG
ns=cnibench-$TAG
export CT_ROOT=$WORK/root CT_RUN=$WORK/run
mkdir -p "$CT_ROOT/containers/$id" "$WORK/ipam"
cat > "$CT_ROOT/containers/$id/config.json" <<JSON
{"ociVersion":"1.0.2","process":{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}},
 "root":{"path":"rootfs"},"linux":{"namespaces":[{"type":"pid"},{"type":"network"}]}}
JSON
cat > "$WORK/cni.json" <<JSON
{"cniVersion":"1.0.0","name":"cnibench","type":"bridge","bridge":"cnibr0","isGateway":true,
 "ipMasq":true,"ipam":{"type":"host-local","subnet":"10.233.0.0/24","dataDir":"$WORK/ipam",
 "routes":[{"dst":"0.0.0.0/0"}]}}
JSON
cat > "$WORK/cni6.json" <<JSON
{"cniVersion":"1.0.0","name":"cnibench6","type":"bridge","bridge":"cnibr6","isGateway":true,
 "ipMasq":true,"ipam":{"type":"host-local","dataDir":"$WORK/ipam6",
 "ranges":[[{"subnet":"10.235.0.0/24"}],[{"subnet":"fd66:235::/64"}]],
 "routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]}}
JSON
cat > "$WORK/ct" <<SH
#!/bin/sh
set -e
$CT_NET --bridge ctbr0 --subnet 10.232.0.0/24 --nft-table ctbench $id >/dev/null
$CT_NET --down $id >/dev/null
SH
cat > "$WORK/ct6" <<SH
#!/bin/sh
set -e
$CT_NET --bridge ctbr6 --subnet 10.234.0.0/24 --subnet6 fd66:234::/64 --nft-table ctbench6 $id >/dev/null
$CT_NET --down $id >/dev/null
SH
cat > "$WORK/cni6" <<SH
#!/bin/sh
set -e
export CNI_CONTAINERID=$ns CNI_NETNS=/run/netns/$ns CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni
ip netns add $ns
CNI_COMMAND=ADD /usr/lib/cni/bridge < $WORK/cni6.json >/dev/null
CNI_COMMAND=DEL /usr/lib/cni/bridge < $WORK/cni6.json >/dev/null
ip netns del $ns
SH
cat > "$WORK/cni" <<SH
#!/bin/sh
set -e
export CNI_CONTAINERID=$ns CNI_NETNS=/run/netns/$ns CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni
ip netns add $ns
CNI_COMMAND=ADD /usr/lib/cni/bridge < $WORK/cni.json >/dev/null
CNI_COMMAND=DEL /usr/lib/cni/bridge < $WORK/cni.json >/dev/null
ip netns del $ns
SH
chmod +x "$WORK/ct" "$WORK/cni" "$WORK/ct6" "$WORK/cni6"

hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/h.json" \
    -n "ct-net (wire + teardown)" "$WORK/ct" \
    -n "CNI bridge+host-local (netns + ADD + DEL)" "$WORK/cni" \
    -n "ct-net dual stack (wire + teardown)" "$WORK/ct6" \
    -n "CNI bridge+host-local dual stack (netns + ADD + DEL)" "$WORK/cni6"

ct=$(jq '.results[0].mean' "$WORK/h.json")
cni=$(jq '.results[1].mean' "$WORK/h.json")
awk -v a="$ct" -v b="$cni" 'BEGIN { printf "ct-net / CNI bridge+host-local: %.2fx (%.1f ms vs %.1f ms; target <= 0.5x)\n", a/b, a*1000, b*1000 }'
ct6=$(jq '.results[2].mean' "$WORK/h.json")
cni6=$(jq '.results[3].mean' "$WORK/h.json")
awk -v a="$ct6" -v b="$cni6" 'BEGIN { printf "dual stack, ct-net / CNI bridge+host-local: %.2fx (%.1f ms vs %.1f ms; target <= 0.5x)\n", a/b, a*1000, b*1000 }'
