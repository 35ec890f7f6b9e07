#!/usr/bin/env bash
# hanat NAT instance setup: turns a Linux host into a NAT for the VPC's private subnets.
#
# Runs as EC2 user data (Amazon Linux 2023 or Debian), on every boot through a systemd unit, and in
# the hanat lab inside a NAT network namespace, so the exact script that ships is the one tested.
# It needs no internet: a NAT has no public address until its Elastic IP is associated (after
# `running`, later still for a replacement), so nothing here waits for a package download.
#
# Inputs (environment, or the first argument for VPC_CIDR):
#   VPC_CIDR            the VPC's CIDR, masqueraded on the way out. The stack builder substitutes the
#                       @@VPC_CIDR@@ placeholder below when it renders the user data; an explicit
#                       environment variable or first argument wins over it. A VPC with secondary CIDR
#                       blocks (an adopted one) gives them all, comma-separated: 10.0.0.0/16,100.64.0.0/16.
#   HANAT_NAT_PERSIST   1 (default): write /etc/sysctl.d/90-hanat-nat.conf, install this script as
#                       /usr/local/sbin/hanat-setup-nat and the agent as /usr/local/sbin/hanat-nat-agent
#                       (its library beside it: hanat-nat-counters), enable hanat-nat.service (re-applies
#                       this on boot) and hanat-nat-agent.service, and create the unprivileged login user
#                       hanat-user. 0: runtime only (the lab).
#   HANAT_NAT_INSTALL   1 (default): when `nft` is missing, install nftables with dnf/apt-get in the
#                       BACKGROUND (retried, never blocking masquerade), then re-run this script. 0: never.
#   HANAT_NAT_ROOT      prefix for every file written by the persist step (default: none = /).
#                       When set, systemctl is not called (used by tests to inspect those files).
#   HANAT_NAT_WAIT_S    seconds to wait for a default route to appear (default 30), and for the
#                       HANAT_NAT_ADDRESSES addresses to show on its interface.
#   HANAT_NAT_ADDRESSES how many private addresses the NAT's interface holds, one per Elastic IP
#                       (`nat.addresses`, 1..8; the stack builder substitutes @@NAT_ADDRESSES@@).
#                       Above 1, new flows are source-NATed across all of them (below).
#   HANAT_PROBE_CIDRS   the stack's probe subnets, comma-separated (the stack builder substitutes
#                       @@PROBE_CIDRS@@): the only sources that may read the agent's counters (below).
#                       Empty: nobody may.
#   HANAT_NAT_CONSOLE   where the FAILED line also goes when writable (default /dev/console).
#   HANAT_NAT_INSTALL_TRIES, HANAT_NAT_INSTALL_PAUSE_S   background install: attempts (default 90)
#                       and the pause between them (default 20 s), each attempt bounded to 300 s.
#
# What it does (idempotent: a second run leaves the same state), in this order:
#   1. sysctls, first and whatever else fails: net.ipv4.ip_forward=1; rp_filter=0 and
#      send_redirects=0 on all, default and every interface (a NAT on AWS has ONE interface: client
#      packets arrive and leave on it, and Linux would answer each forwarded one with an ICMP redirect
#      to the internet gateway's address; AWS's own NAT AMI turns them off the same way:
#      `sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.eth0.send_redirects=0` in its
#      /usr/sbin/configure-pat.sh, amzn-ami-vpc-nat); conntrack (values below; a key this kernel or
#      network namespace does not let us set is a warning, never a failure).
#   2. firewall with what the image has: `nft` (preferred), else `iptables` (iptables-nft or legacy):
#        masquerade ip saddr VPC_CIDR (to outside VPC_CIDR) out of the default-route interface;
#        with several private addresses on it (HANAT_NAT_ADDRESSES > 1: secondary private IPv4 addresses,
#        each with its own Elastic IP, EC2 User Guide "Multiple IP addresses"; Amazon Linux 2023's
#        amazon-ec2-net-utils puts them on the interface), each NEW flow is source-NATed to the next
#        address in turn: nft `snat ip to numgen inc mod N map { 0 : a0, 1 : a1, ... }` (nftables wiki,
#        "Load balancing": only a flow's first packet evaluates a NAT rule, later ones follow conntrack),
#        iptables `-m statistic --mode nth` per address. A flow's 5-tuple must be unique per source
#        address, so flows to ONE destination get N x the source ports (NAT Gateway's answer to
#        ErrorPortAllocation: 55,000 connections per destination per address, up to 8 addresses);
#        a forwarded TCP packet of a flow this NAT does not know (ct state invalid, neither SYN nor RST)
#        from the VPC (source in VPC_CIDR: told apart by address, not by interface, since on AWS the
#        client side and the internet side are the same one interface) is answered with a TCP reset
#        to the client, so it reconnects at once through this NAT
#        (mid-stream packets are never adopted: nf_conntrack_tcp_loose=0); other invalid packets drop.
#      nft only (table `inet hanat_nat`, deleted and recreated atomically): the handoff hooks that
#      hanat-nat-agent fills from the instance's tags (see hanat-nat-agent and the handoff contract):
#        map  handoff_to    client CIDR -> fwmark of the tunnel to the NAT still holding its flows;
#                           unknown mid-stream packets from those CIDRs go there instead of a reset
#        set  handoff_peers peers allowed to send VXLAN (UDP 4789); any other UDP 4789 is dropped
#      the counters the agent publishes (its library hanat-nat-counters; issue 19): named counters
#        from_source / from_destination (forwarded packets and bytes each way, before any verdict;
#        the resets sent and invalid packets dropped are the forward chain's two `ct state invalid`
#        rules' own counters); and the counters listener: TCP to
#        COUNTERS_ADDRESS:COUNTERS_PORT (192.0.2.1:9107, TEST-NET-1: never an internet host) from a
#        probe subnet (set probe_subnets) is redirected to this NAT (the probe subnet's default route is
#        pinned to its zone's NAT, so the probe reaches its own NAT without knowing its address); TCP
#        to COUNTERS_PORT that was not so redirected, or from anywhere else, is dropped.
#      With iptables only, masquerade and resets work, the handoff and the counters do not (need nft): nftables is
#      then installed in the background (HANAT_NAT_INSTALL=1) and the script re-run.
#   3. persist (above). Any failure to forward: the line `hanat-setup-nat: FAILED <why>` on stderr
#      and /dev/console, and exit 1 (so the systemd unit fails).
#
# Conntrack values (NAT-Gateway-like; set per network namespace unless noted):
#   nf_conntrack_tcp_timeout_established = 350 s   the NAT gateway's idle timeout: "If a connection
#       that's using a NAT gateway is idle for 350 seconds or more, the connection times out" (Amazon
#       VPC User Guide, Troubleshoot NAT gateways, "Internet connection drops after 350 seconds")
#   nf_conntrack_udp_timeout = 30 s, nf_conntrack_udp_timeout_stream = 180 s   EC2's own connection
#       tracking defaults (EC2 API Reference, ConnectionTrackingConfiguration: udpTimeout 30,
#       udpStreamTimeout 180)
#   nf_conntrack_tcp_loose = 0        a mid-stream packet never creates a flow (it gets the reset)
#   nf_conntrack_tcp_be_liberal = 1   out-of-window packets of a flow we DO know are not "invalid",
#                                     so only unknown flows are reset
#   nf_conntrack_max = (MemTotal in KiB) / 8 entries, within 65536..2097152 (1/16 of memory at 512 B
#                      per entry: 0.5 GiB -> 65536 flows, 4 GiB -> 524288; the kernel's own default is
#                      4096 at 0.5 GiB, 65536 from 1 GiB); nf_conntrack_buckets = max / 4. Both are settable
#                      only in the initial network namespace (read-only in the lab's namespaces: warned).
# Exit codes: 0 done, 1 failed (FAILED line), 2 bad input (every problem named, nothing changed).
set -euo pipefail

VPC_CIDR="${1:-${VPC_CIDR:-@@VPC_CIDR@@}}"
HANAT_NAT_PERSIST="${HANAT_NAT_PERSIST:-1}"
HANAT_NAT_INSTALL="${HANAT_NAT_INSTALL:-1}"
HANAT_NAT_ROOT="${HANAT_NAT_ROOT:-}"
HANAT_NAT_WAIT_S="${HANAT_NAT_WAIT_S:-30}"
HANAT_NAT_ADDRESSES="${HANAT_NAT_ADDRESSES:-@@NAT_ADDRESSES@@}"
[[ "$HANAT_NAT_ADDRESSES" == @@*@@ ]] && HANAT_NAT_ADDRESSES=1   # not rendered: one address
HANAT_PROBE_CIDRS="${HANAT_PROBE_CIDRS-@@PROBE_CIDRS@@}"
[[ "$HANAT_PROBE_CIDRS" == @@*@@ ]] && HANAT_PROBE_CIDRS=""          # not rendered: no reader
COUNTERS_ADDRESS="192.0.2.1" COUNTERS_PORT=9107                      # hanat-nat-agent's counters listener
HANAT_NAT_CONSOLE="${HANAT_NAT_CONSOLE:-/dev/console}"
HANAT_NAT_INSTALL_TRIES="${HANAT_NAT_INSTALL_TRIES:-90}"
HANAT_NAT_INSTALL_PAUSE_S="${HANAT_NAT_INSTALL_PAUSE_S:-20}"
HANAT_NAT_MODE="${HANAT_NAT_MODE:-setup}"   # internal: `install` is the background installer

NFT_TABLE="hanat_nat"
IPT_CHAIN="HANAT"            # iptables: HANAT in nat/POSTROUTING and filter/FORWARD
HANDOFF_MARK="0x4e000000/8"  # fwmarks the agent gives tunnelled packets (0x4e << 24 | peer's low 24 bits)
VXLAN_PORT=4789
LOGIN_USER="hanat-user"
TCP_ESTABLISHED_S=350 UDP_S=30 UDP_STREAM_S=180
CONNTRACK_MIN=65536 CONNTRACK_CAP=2097152
SELF="$0"

log() { echo "hanat-setup-nat: $*" >&2; }
warn() { log "WARNING: $*"; }
fail() {
    local line="hanat-setup-nat: FAILED $*"
    echo "$line" >&2
    if [[ -w "$HANAT_NAT_CONSOLE" ]]; then
        { echo "$line" > "$HANAT_NAT_CONSOLE"; } 2>/dev/null || true
    fi
    exit 1
}

# The agent and its library when the stack renders the user data (it replaces the markers below with
# functions printing bootstrap/nat/hanat-nat-agent and hanat-nat-counters); unrendered, the files beside
# this script are used.
embedded_agent() { return 1; }
# @@HANAT_NAT_AGENT@@
embedded_counters() { return 1; }
# @@HANAT_NAT_COUNTERS@@

# cidr_problems CIDR LABEL: append to the caller's `problems` what is wrong with one IPv4 CIDR.
cidr_problems() {
    local cidr="$1" label="$2" i
    if ! [[ "$cidr" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$ ]]; then
        problems+=("$label is not an IPv4 CIDR like 10.0.0.0/16")
        return
    fi
    for i in 1 2 3 4; do
        (( BASH_REMATCH[i] <= 255 )) || problems+=("$label has an octet > 255")
    done
    (( BASH_REMATCH[5] <= 32 )) || problems+=("$label has a prefix length > 32")
}

validate_inputs() {
    local problems=() cidr
    IFS=, read -ra VPC_CIDRS <<< "$VPC_CIDR"
    if [[ "$VPC_CIDR" != *,* ]]; then
        cidr_problems "$VPC_CIDR" "VPC_CIDR='$VPC_CIDR'"
    else
        for cidr in "${VPC_CIDRS[@]}"; do cidr_problems "$cidr" "VPC_CIDR='$VPC_CIDR': '$cidr'"; done
        [[ "$VPC_CIDR" == ,* || "$VPC_CIDR" == *, || "$VPC_CIDR" == *,,* ]] \
            && problems+=("VPC_CIDR='$VPC_CIDR' has an empty item")
    fi
    local flag
    for flag in HANAT_NAT_PERSIST HANAT_NAT_INSTALL; do
        [[ "${!flag}" == 0 || "${!flag}" == 1 ]] || problems+=("$flag='${!flag}' must be 0 or 1")
    done
    for flag in HANAT_NAT_WAIT_S HANAT_NAT_INSTALL_TRIES HANAT_NAT_INSTALL_PAUSE_S; do
        [[ "${!flag}" =~ ^[0-9]+$ ]] || problems+=("$flag='${!flag}' must be a whole number")
    done
    [[ "$HANAT_NAT_ADDRESSES" =~ ^[1-8]$ ]] || problems+=("HANAT_NAT_ADDRESSES='$HANAT_NAT_ADDRESSES' must be 1 to 8")
    local probe_cidr
    for probe_cidr in ${HANAT_PROBE_CIDRS//,/ }; do
        [[ "$probe_cidr" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ ]] \
            || problems+=("HANAT_PROBE_CIDRS: '$probe_cidr' is not an IPv4 network")
    done
    [[ "$HANAT_NAT_MODE" == setup || "$HANAT_NAT_MODE" == install ]] \
        || problems+=("HANAT_NAT_MODE='$HANAT_NAT_MODE' must be setup or install")
    if (( ${#problems[@]} )); then
        local p
        for p in "${problems[@]}"; do log "invalid input: $p"; done
        exit 2
    fi
}

# --- sysctls ----------------------------------------------------------------------------------
# set_sysctl KEY VALUE: write /proc/sys directly (no procps needed); 0 set, 1 refused, 2 key absent.
set_sysctl() {
    local path="/proc/sys/${1//.//}"
    [[ -e "$path" ]] || return 2
    { printf '%s\n' "$2" > "$path"; } 2>/dev/null || return 1
    [[ "$(cat "$path")" == "$2" ]]
}

apply_forwarding_sysctls() {
    set_sysctl net.ipv4.ip_forward 1 || fail "cannot set net.ipv4.ip_forward=1 (is this root?)"
    local conf names=()
    for conf in /proc/sys/net/ipv4/conf/*/rp_filter; do
        { echo 0 > "$conf"; } 2>/dev/null || warn "cannot set $conf to 0"
        names+=("$(basename "$(dirname "$conf")")")
    done
    # The kernel sends a redirect when `all` OR the interface says so: both off, on every interface.
    for conf in /proc/sys/net/ipv4/conf/*/send_redirects; do
        { echo 0 > "$conf"; } 2>/dev/null || warn "cannot set $conf to 0"
    done
    log "net.ipv4.ip_forward=1; rp_filter=0 and send_redirects=0 on: ${names[*]}"
}

conntrack_max_for_memory() {
    local kib max
    kib="$(awk '$1 == "MemTotal:" {print $2}' /proc/meminfo)"
    max=$(( ${kib:-0} / 8 ))
    (( max < CONNTRACK_MIN )) && max=$CONNTRACK_MIN
    (( max > CONNTRACK_CAP )) && max=$CONNTRACK_CAP
    echo "$max"
}

# apply_conntrack_sysctls QUIET: QUIET=1 says nothing about keys absent (the module not loaded yet).
# Returns 1 when a key was absent, so the caller can try again once the firewall loaded conntrack.
apply_conntrack_sysctls() {
    local quiet="$1" max absent=0 key value rc
    max="$(conntrack_max_for_memory)"
    local settings=(
        "net.netfilter.nf_conntrack_tcp_loose=0"
        "net.netfilter.nf_conntrack_tcp_be_liberal=1"
        "net.netfilter.nf_conntrack_tcp_timeout_established=$TCP_ESTABLISHED_S"
        "net.netfilter.nf_conntrack_udp_timeout=$UDP_S"
        "net.netfilter.nf_conntrack_udp_timeout_stream=$UDP_STREAM_S"
        "net.netfilter.nf_conntrack_max=$max"
        "net.netfilter.nf_conntrack_buckets=$(( max / 4 ))"
    )
    local applied=()
    for key in "${settings[@]}"; do
        value="${key#*=}"; key="${key%%=*}"
        rc=0; set_sysctl "$key" "$value" || rc=$?
        case $rc in
            0) applied+=("${key#net.netfilter.}=$value") ;;
            1) warn "cannot set $key=$value (read-only here: only the initial network namespace may;" \
                    "it stays $(cat "/proc/sys/${key//.//}" 2>/dev/null || echo '?'))" ;;
            *) absent=1; [[ "$quiet" == 1 ]] || warn "cannot set $key=$value: this kernel has no such key" ;;
        esac
    done
    (( ${#applied[@]} )) && log "conntrack: ${applied[*]}"
    return $absent
}

# --- firewall ---------------------------------------------------------------------------------
firewall_backend() {
    if command -v nft >/dev/null 2>&1; then echo nft
    elif command -v iptables >/dev/null 2>&1; then echo iptables
    else echo none
    fi
}

default_route_interface() {
    ip -o route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}'
}

wait_for_default_interface() {
    local waited=0 dev
    while :; do
        dev="$(default_route_interface)"
        [[ -n "$dev" ]] && { echo "$dev"; return 0; }
        (( waited >= HANAT_NAT_WAIT_S )) && return 1
        sleep 1
        waited=$((waited + 1))
    done
}

# interface_addresses DEV: its IPv4 addresses (global scope), the primary first, one per line.
interface_addresses() {
    ip -4 -o addr show dev "$1" scope global | awk '{split($4, a, "/"); print a[1]}'
}

# snat_addresses DEV: sets SNAT_ADDRS to DEV's addresses, waiting up to HANAT_NAT_WAIT_S for the
# HANAT_NAT_ADDRESSES of them (secondary addresses can show after the primary); fewer: a warning, and
# the flows go out over the ones there are.
snat_addresses() {
    local waited=0
    while :; do
        mapfile -t SNAT_ADDRS < <(interface_addresses "$1")
        (( ${#SNAT_ADDRS[@]} >= HANAT_NAT_ADDRESSES || waited >= HANAT_NAT_WAIT_S )) && break
        sleep 1
        waited=$((waited + 1))
    done
    (( ${#SNAT_ADDRS[@]} < HANAT_NAT_ADDRESSES )) \
        && warn "$1 holds ${#SNAT_ADDRS[@]} of the $HANAT_NAT_ADDRESSES private addresses expected" \
                "(${SNAT_ADDRS[*]:-none}): source-NATing over those"
    (( ${#SNAT_ADDRS[@]} > HANAT_NAT_ADDRESSES )) && SNAT_ADDRS=("${SNAT_ADDRS[@]:0:$HANAT_NAT_ADDRESSES}")
    return 0
}

# probe_elements: the probe_subnets set's elements line (none when HANAT_PROBE_CIDRS is empty).
probe_elements() {
    [[ -n "${HANAT_PROBE_CIDRS//,/}" ]] || return 0
    local list="${HANAT_PROBE_CIDRS//,/, }"
    echo "        elements = { ${list%, } }"
}

# nft_snat_statement: masquerade for one address; else the round robin over SNAT_ADDRS.
nft_snat_statement() {
    local n=${#SNAT_ADDRS[@]} i items=()
    if (( n <= 1 )); then echo masquerade; return; fi
    for (( i = 0; i < n; i++ )); do items+=("$i : ${SNAT_ADDRS[i]}"); done
    local IFS=,
    echo "snat ip to numgen inc mod $n map { ${items[*]} }"
}

apply_nftables() {
    local out_if="$1" vpc="$VPC_CIDR" snat
    [[ "$VPC_CIDR" == *,* ]] && vpc="{ ${VPC_CIDR//,/, } }"   # several VPC blocks: an anonymous set
    snat="$(nft_snat_statement)"
    log "nftables: table inet $NFT_TABLE, $([[ $snat == masquerade ]] && echo masquerade \
        || echo "source NAT across ${SNAT_ADDRS[*]}") of $VPC_CIDR out of $out_if, reset unknown flows, handoff hooks"
    # `table X` then `delete table X` makes the delete safe when X does not exist yet; the whole file
    # is one transaction, so the NAT never runs without its rules.
    nft -f - <<EOF || return 1
table inet $NFT_TABLE
delete table inet $NFT_TABLE
table inet $NFT_TABLE {
    set handoff_peers {
        type ipv4_addr
    }
    map handoff_to {
        type ipv4_addr : mark
        flags interval
    }
    set probe_subnets {
        type ipv4_addr
        flags interval
$(probe_elements)
    }
    counter from_source {}
    counter from_destination {}
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        ct state invalid meta l4proto tcp tcp flags & syn == 0 meta mark set ip saddr map @handoff_to
    }
    chain counters_redirect {
        type nat hook prerouting priority dstnat; policy accept;
        ip saddr @probe_subnets ip daddr $COUNTERS_ADDRESS tcp dport $COUNTERS_PORT redirect to :$COUNTERS_PORT
    }
    chain input {
        type filter hook input priority filter; policy accept;
        udp dport $VXLAN_PORT ip saddr @handoff_peers accept
        udp dport $VXLAN_PORT counter drop
        tcp dport $COUNTERS_PORT ip saddr @probe_subnets ct status dnat accept
        tcp dport $COUNTERS_PORT counter drop
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        ip saddr $vpc ip daddr != $vpc counter name from_source
        ip daddr $vpc ip saddr != $vpc counter name from_destination
        meta mark & 0xff000000 == ${HANDOFF_MARK%/*} accept
        ct state invalid meta l4proto tcp tcp flags & (syn | rst) == 0 ip saddr $vpc counter reject with tcp reset
        ct state invalid counter drop
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "$out_if" ip saddr $vpc ip daddr != $vpc $snat
    }
}
EOF
    remove_iptables_rules
}

# ipt TABLE ARGS...: iptables, waiting for the xtables lock rather than failing on it.
ipt() { local table="$1"; shift; iptables -w 5 -t "$table" "$@"; }

# ipt_masquerade OUT_IF: masquerade what leaves the VPC. Several VPC blocks (`! -d` takes one network):
# traffic to any block returns first, then each block is masqueraded.
# With several addresses, one SNAT rule per address: the i-th takes every (n-i)-th new flow that
# reaches it (statistic nth), so each address gets one flow in n.
ipt_masquerade() {
    local out_if="$1" cidr
    if [[ "$VPC_CIDR" != *,* ]]; then
        ipt_snat -o "$out_if" -s "$VPC_CIDR" ! -d "$VPC_CIDR"
        return
    fi
    for cidr in "${VPC_CIDRS[@]}"; do ipt nat -A "$IPT_CHAIN" -d "$cidr" -j RETURN || return 1; done
    for cidr in "${VPC_CIDRS[@]}"; do ipt_snat -o "$out_if" -s "$cidr" || return 1; done
}

# ipt_snat MATCH...: MASQUERADE, or the round robin over SNAT_ADDRS.
ipt_snat() {
    local n=${#SNAT_ADDRS[@]} i
    if (( n <= 1 )); then ipt nat -A "$IPT_CHAIN" "$@" -j MASQUERADE; return; fi
    for (( i = 0; i < n - 1; i++ )); do
        ipt nat -A "$IPT_CHAIN" "$@" -m statistic --mode nth --every $(( n - i )) --packet 0 \
            -j SNAT --to-source "${SNAT_ADDRS[i]}" || return 1
    done
    ipt nat -A "$IPT_CHAIN" "$@" -j SNAT --to-source "${SNAT_ADDRS[n - 1]}"
}

# ipt_resets: a TCP reset for unknown mid-stream packets from the VPC, one rule per VPC block.
ipt_resets() {
    local cidr
    for cidr in "${VPC_CIDRS[@]}"; do
        ipt filter -A "$IPT_CHAIN" -s "$cidr" -p tcp --tcp-flags SYN,RST NONE \
            -m conntrack --ctstate INVALID -j REJECT --reject-with tcp-reset || return 1
    done
}

apply_iptables() {
    local out_if="$1"
    log "iptables ($(iptables -V 2>/dev/null || echo '?')): chain $IPT_CHAIN, masquerade $VPC_CIDR out of" \
        "$out_if, reset unknown flows (no handoff: it needs nft)"
    ipt nat -N "$IPT_CHAIN" 2>/dev/null || true
    ipt filter -N "$IPT_CHAIN" 2>/dev/null || true
    ipt nat -F "$IPT_CHAIN" \
        && ipt_masquerade "$out_if" \
        && { ipt nat -C POSTROUTING -j "$IPT_CHAIN" 2>/dev/null || ipt nat -A POSTROUTING -j "$IPT_CHAIN"; } \
        && ipt filter -F "$IPT_CHAIN" \
        && ipt_resets \
        && ipt filter -A "$IPT_CHAIN" -m conntrack --ctstate INVALID -j DROP \
        && { ipt filter -C FORWARD -j "$IPT_CHAIN" 2>/dev/null || ipt filter -A FORWARD -j "$IPT_CHAIN"; }
}

# After a switch from iptables to nftables: one firewall, not two. iptables-save creates nothing.
remove_iptables_rules() {
    command -v iptables-save >/dev/null 2>&1 || return 0
    local table hook
    for table in nat filter; do
        iptables-save -t "$table" 2>/dev/null | grep -q "^:$IPT_CHAIN " || continue
        hook=POSTROUTING; [[ "$table" == filter ]] && hook=FORWARD
        while ipt "$table" -D "$hook" -j "$IPT_CHAIN" 2>/dev/null; do :; done
        ipt "$table" -F "$IPT_CHAIN" && ipt "$table" -X "$IPT_CHAIN"
        log "iptables: removed chain $IPT_CHAIN from $table (nftables took over)"
    done
    return 0
}

# --- background install of nftables ---------------------------------------------------------
install_nftables_once() {
    if command -v dnf >/dev/null 2>&1; then
        timeout 300 dnf install -y -q nftables
    elif command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -q \
            && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q nftables
    else
        log "neither dnf nor apt-get is available"
        return 1
    fi
}

# The background installer (HANAT_NAT_MODE=install): retry until nft exists, then re-run the setup.
install_loop() {
    local try
    for (( try = 1; try <= HANAT_NAT_INSTALL_TRIES; try++ )); do
        if command -v nft >/dev/null 2>&1 || install_nftables_once; then
            command -v nft >/dev/null 2>&1 || { log "install reported success but there is still no nft"; continue; }
            log "nftables installed (attempt $try); re-running the setup"
            HANAT_NAT_MODE=setup HANAT_NAT_INSTALL=0 exec "$BASH" "$SELF" "$VPC_CIDR"
        fi
        log "installing nftables failed (attempt $try of $HANAT_NAT_INSTALL_TRIES; no network yet?)"
        sleep "$HANAT_NAT_INSTALL_PAUSE_S"
    done
    fail "nftables could not be installed after $HANAT_NAT_INSTALL_TRIES attempts"
}

start_background_install() {
    [[ "$HANAT_NAT_INSTALL" == 1 ]] || return 1
    if [[ ! -f "$SELF" ]]; then
        warn "cannot install nftables in the background: this script is not a file (\$0=$SELF)"
        return 1
    fi
    # On the instance itself (systemd, the initial network namespace: never the lab's namespaces) the
    # installer is a unit of its own, so it outlives a failed hanat-nat.service and cloud-init alike.
    if [[ -z "$HANAT_NAT_ROOT" && -d /run/systemd/system ]] && command -v systemd-run >/dev/null 2>&1 \
            && [[ "$(readlink /proc/self/ns/net)" == "$(readlink /proc/1/ns/net 2>/dev/null)" ]]; then
        local setting settings=()
        for setting in HANAT_NAT_PERSIST HANAT_NAT_INSTALL_TRIES HANAT_NAT_INSTALL_PAUSE_S HANAT_NAT_CONSOLE; do
            settings+=("--setenv=$setting=${!setting}")
        done
        systemd-run --unit=hanat-nat-install --collect --quiet --setenv=HANAT_NAT_MODE=install "${settings[@]}" \
            "$BASH" "$SELF" "$VPC_CIDR" 2>/dev/null \
            || { log "the background installer is already running"; return 0; }
    else  # its progress goes to the console (where the FAILED line would go), else nowhere
        local out=/dev/null
        [[ -w "$HANAT_NAT_CONSOLE" ]] && out="$HANAT_NAT_CONSOLE"
        HANAT_NAT_MODE=install setsid "$BASH" "$SELF" "$VPC_CIDR" </dev/null >/dev/null 2>>"$out" &
    fi
    log "installing nftables in the background (up to $HANAT_NAT_INSTALL_TRIES attempts); masquerade does not wait"
}

# --- persist ----------------------------------------------------------------------------------
shipped_source() {  # NAME (hanat-nat-agent or hanat-nat-counters): its text, embedded or beside this script
    case "$1" in
        hanat-nat-agent) embedded_agent && return 0 ;;
        hanat-nat-counters) embedded_counters && return 0 ;;
    esac
    local beside
    beside="$(dirname "$SELF")/$1"
    [[ -f "$beside" ]] && cat "$beside"
}

ensure_login_user() {
    local root="$HANAT_NAT_ROOT" exists=0
    if [[ -n "$root" ]]; then
        grep -q "^$LOGIN_USER:" "$root/etc/passwd" 2>/dev/null && exists=1
    else
        getent passwd "$LOGIN_USER" >/dev/null 2>&1 && exists=1
    fi
    if (( exists )); then
        log "user $LOGIN_USER exists"
    elif useradd ${root:+--prefix "$root"} --create-home --shell /bin/bash \
            --comment "hanat unprivileged login (no sudo)" "$LOGIN_USER"; then
        log "created user $LOGIN_USER (no sudo)"
    else
        warn "could not create user $LOGIN_USER: Session Manager sessions that run as it will fail"
    fi
}

persist() {
    local root="$HANAT_NAT_ROOT" units="$HANAT_NAT_ROOT/etc/systemd/system"
    log "persisting under ${root:-/}: sysctl.d, hanat-setup-nat, hanat-nat-agent (+ hanat-nat-counters), their units, $LOGIN_USER"
    mkdir -p "$root/etc/sysctl.d" "$root/usr/local/sbin" "$units"
    printf '# written by hanat setup-nat.sh (conntrack values are applied by hanat-nat.service)\n%s\n' \
        "net.ipv4.ip_forward = 1" "net.ipv4.conf.all.rp_filter = 0" "net.ipv4.conf.default.rp_filter = 0" \
        > "$root/etc/sysctl.d/90-hanat-nat.conf"
    # The boot-time copy has the CIDR baked in, so the unit needs no arguments.
    [[ -f "$SELF" ]] || fail "cannot persist: the script is not a file (\$0=$SELF); save it and run it by path"
    sed "s|^VPC_CIDR=.*|VPC_CIDR=\"\${1:-\${VPC_CIDR:-$VPC_CIDR}}\"|" "$SELF" > "$root/usr/local/sbin/hanat-setup-nat"
    chmod 0755 "$root/usr/local/sbin/hanat-setup-nat"
    # The agent sources its library from its own directory: both or neither, each replaced atomically,
    # the library first (a restarting new agent never finds an old library or none).
    local agent=0 sbin="$root/usr/local/sbin"
    if shipped_source hanat-nat-agent > "$sbin/hanat-nat-agent.new" \
            && shipped_source hanat-nat-counters > "$sbin/hanat-nat-counters.new"; then
        chmod 0644 "$sbin/hanat-nat-counters.new" && chmod 0755 "$sbin/hanat-nat-agent.new"
        mv "$sbin/hanat-nat-counters.new" "$sbin/hanat-nat-counters"
        mv "$sbin/hanat-nat-agent.new" "$sbin/hanat-nat-agent"
        agent=1
    else
        rm -f "$sbin/hanat-nat-agent.new" "$sbin/hanat-nat-counters.new"
        warn "hanat-nat-agent or hanat-nat-counters not found (not embedded, not beside $SELF): no connection handoff"
    fi
    # Type=oneshot with a plain ExecStart: a non-zero exit fails the unit (FAILED is on the console).
    cat > "$units/hanat-nat.service" <<'EOF'
[Unit]
Description=hanat NAT instance setup (sysctls, conntrack, masquerade, resets, handoff hooks)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
Environment=HANAT_NAT_PERSIST=0
ExecStart=/usr/local/sbin/hanat-setup-nat
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
EOF
    cat > "$units/hanat-nat-agent.service" <<'EOF'
[Unit]
Description=hanat NAT agent (connection handoffs from instance tags, IMDSv2)
Wants=hanat-nat.service
After=hanat-nat.service

[Service]
ExecStart=/usr/local/sbin/hanat-nat-agent
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
EOF
    ensure_login_user
    if [[ -z "$root" ]] && command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload
        systemctl enable hanat-nat.service hanat-nat-agent.service
        # --no-block: this may run inside hanat-nat.service, which the agent's unit is ordered after.
        (( agent )) && systemctl restart --no-block hanat-nat-agent.service
    fi
    return 0
}

main() {
    validate_inputs
    if [[ "$HANAT_NAT_MODE" == install ]]; then
        install_loop
    fi
    log "configuring NAT for $VPC_CIDR (persist=$HANAT_NAT_PERSIST install=$HANAT_NAT_INSTALL)"
    apply_forwarding_sysctls
    command -v modprobe >/dev/null 2>&1 && { modprobe nf_conntrack 2>/dev/null || true; }
    local conntrack_complete=1
    apply_conntrack_sysctls 1 || conntrack_complete=0

    local backend out_if
    backend="$(firewall_backend)"
    if [[ "$backend" != nft ]]; then
        local next="install nftables (HANAT_NAT_INSTALL=0: not trying)"
        start_background_install && next="installing nftables in the background; forwarding starts when it lands"
        [[ "$backend" == none ]] && fail "neither nft nor iptables is installed: cannot masquerade ($next)"
        warn "no nft: masquerading with iptables; connection handoff needs nftables"
    fi
    out_if="$(wait_for_default_interface)" \
        || fail "no default route after ${HANAT_NAT_WAIT_S}s (ip route show default is empty)"
    SNAT_ADDRS=()
    (( HANAT_NAT_ADDRESSES > 1 )) && snat_addresses "$out_if"
    if [[ "$backend" == nft ]]; then
        apply_nftables "$out_if" || fail "nft could not load the ruleset (table inet $NFT_TABLE)"
    else
        apply_iptables "$out_if" || fail "iptables could not load the rules (chain $IPT_CHAIN)"
    fi
    (( conntrack_complete )) || apply_conntrack_sysctls 0 || true
    [[ "$HANAT_NAT_PERSIST" == 1 ]] && persist
    log "done: forwarding $VPC_CIDR out of $out_if with $backend${SNAT_ADDRS:+ from ${SNAT_ADDRS[*]}}"
}

main "$@"
