#!/usr/bin/env bash
# hanat NAT instance setup: turns a Linux host into a NAT for the VPC's private subnets.
#
# Runs as EC2 user data (Amazon Linux 2023 or Debian), on every boot through a systemd unit, and in
# the hanat lab inside a NAT network namespace, so the exact script that ships is the one tested.
#
# Inputs (environment, or the first argument for VPC_CIDR):
#   VPC_CIDR            the VPC's CIDR, masqueraded on the way out. The stack builder substitutes the
#                       @@VPC_CIDR@@ placeholder below when it renders the user data; an explicit
#                       environment variable or first argument wins over it.
#   HANAT_NAT_PERSIST   1 (default): write /etc/sysctl.d/90-hanat-nat.conf, install this script as
#                       /usr/local/sbin/hanat-setup-nat and enable hanat-nat.service so a reboot
#                       re-applies it. 0: runtime only (the lab: /etc is the host's).
#   HANAT_NAT_INSTALL   1 (default): install nftables with dnf/apt-get when `nft` is missing. 0: never.
#   HANAT_NAT_ROOT      prefix for every file written by the persist step (default: none = /).
#                       When set, systemctl is not called (used by tests to inspect those files).
#   HANAT_NAT_WAIT_S    seconds to wait for a default route to appear (default 30).
#
# What it does (idempotent: a second run leaves the same state):
#   net.ipv4.ip_forward=1; rp_filter=0 on all, default and every interface;
#   nftables table `inet hanat_nat`, deleted and recreated atomically, with
#     postrouting: masquerade ip saddr VPC_CIDR (to outside VPC_CIDR) out of the default-route interface
#     forward: policy accept (the lab adds its faults in a table of its own).
# Exit codes: 0 done, 1 failed, 2 bad input (VPC_CIDR missing or malformed).
set -euo pipefail

VPC_CIDR="${1:-${VPC_CIDR:-@@VPC_CIDR@@}}"
HANAT_NAT_PERSIST="${HANAT_NAT_PERSIST:-1}"
HANAT_NAT_INSTALL="${HANAT_NAT_INSTALL:-1}"
HANAT_NAT_ROOT="${HANAT_NAT_ROOT:-}"
HANAT_NAT_WAIT_S="${HANAT_NAT_WAIT_S:-30}"
NFT_TABLE="hanat_nat"

log() { echo "hanat-setup-nat: $*" >&2; }
die() { local code="$1"; shift; log "ERROR: $*"; exit "$code"; }

validate_inputs() {
    local problems=()
    if ! [[ "$VPC_CIDR" =~ ^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/([0-9]{1,2})$ ]]; then
        problems+=("VPC_CIDR='$VPC_CIDR' is not an IPv4 CIDR like 10.0.0.0/16")
    else
        local i
        for i in 1 2 3 4; do
            (( BASH_REMATCH[i] <= 255 )) || problems+=("VPC_CIDR='$VPC_CIDR' has an octet > 255")
        done
        (( BASH_REMATCH[5] <= 32 )) || problems+=("VPC_CIDR='$VPC_CIDR' has a prefix length > 32")
    fi
    local flag
    for flag in HANAT_NAT_PERSIST HANAT_NAT_INSTALL; do
        [[ "${!flag}" == 0 || "${!flag}" == 1 ]] || problems+=("$flag='${!flag}' must be 0 or 1")
    done
    [[ "$HANAT_NAT_WAIT_S" =~ ^[0-9]+$ ]] || problems+=("HANAT_NAT_WAIT_S='$HANAT_NAT_WAIT_S' must be whole seconds")
    if (( ${#problems[@]} )); then
        local p
        for p in "${problems[@]}"; do log "invalid input: $p"; done
        exit 2
    fi
}

ensure_nftables() {
    command -v nft >/dev/null 2>&1 && return 0
    [[ "$HANAT_NAT_INSTALL" == 1 ]] || die 1 "nft not found and HANAT_NAT_INSTALL=0"
    if command -v dnf >/dev/null 2>&1; then
        log "installing nftables with dnf"
        dnf install -y nftables
    elif command -v apt-get >/dev/null 2>&1; then
        log "installing nftables with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nftables
    else
        die 1 "nft not found and neither dnf nor apt-get is available"
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
        (( waited >= HANAT_NAT_WAIT_S )) && die 1 "no default route after ${HANAT_NAT_WAIT_S}s (ip route show default is empty)"
        sleep 1
        waited=$((waited + 1))
    done
}

apply_sysctls() {
    log "net.ipv4.ip_forward=1"
    sysctl -q -w net.ipv4.ip_forward=1
    local conf
    for conf in /proc/sys/net/ipv4/conf/*/rp_filter; do
        echo 0 > "$conf"
    done
    log "rp_filter=0 on: $(basename -a /proc/sys/net/ipv4/conf/* | tr '\n' ' ')"
}

apply_nftables() {
    local out_if="$1"
    log "nftables: table inet $NFT_TABLE, masquerade $VPC_CIDR out of $out_if"
    # `table X` then `delete table X` makes the delete safe when X does not exist yet; the whole file
    # is one transaction, so the NAT never runs without its rules.
    nft -f - <<EOF
table inet $NFT_TABLE
delete table inet $NFT_TABLE
table inet $NFT_TABLE {
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "$out_if" ip saddr $VPC_CIDR ip daddr != $VPC_CIDR masquerade
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
    }
}
EOF
}

persist() {
    local root="$HANAT_NAT_ROOT"
    log "persisting: ${root}/etc/sysctl.d/90-hanat-nat.conf, ${root}/usr/local/sbin/hanat-setup-nat, hanat-nat.service"
    mkdir -p "$root/etc/sysctl.d" "$root/usr/local/sbin" "$root/etc/systemd/system"
    printf '# written by hanat setup-nat.sh\nnet.ipv4.ip_forward = 1\nnet.ipv4.conf.all.rp_filter = 0\nnet.ipv4.conf.default.rp_filter = 0\n' \
        > "$root/etc/sysctl.d/90-hanat-nat.conf"
    # The boot-time copy has the CIDR baked in, so the unit needs no arguments.
    [[ -f "$0" ]] || die 1 "cannot persist: the script is not a file (\$0=$0); save it and run it by path"
    sed "s|^VPC_CIDR=.*|VPC_CIDR=\"\${1:-\${VPC_CIDR:-$VPC_CIDR}}\"|" "$0" > "$root/usr/local/sbin/hanat-setup-nat"
    chmod 0755 "$root/usr/local/sbin/hanat-setup-nat"
    cat > "$root/etc/systemd/system/hanat-nat.service" <<'EOF'
[Unit]
Description=hanat NAT instance setup (ip_forward, rp_filter, nftables masquerade)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
Environment=HANAT_NAT_INSTALL=0 HANAT_NAT_PERSIST=0
ExecStart=/usr/local/sbin/hanat-setup-nat
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
EOF
    if [[ -z "$root" ]] && command -v systemctl >/dev/null 2>&1; then
        systemctl daemon-reload
        systemctl enable hanat-nat.service
    fi
}

main() {
    validate_inputs
    log "configuring NAT for $VPC_CIDR (persist=$HANAT_NAT_PERSIST install=$HANAT_NAT_INSTALL)"
    ensure_nftables
    local out_if
    out_if="$(wait_for_default_interface)"
    apply_sysctls
    apply_nftables "$out_if"
    [[ "$HANAT_NAT_PERSIST" == 1 ]] && persist
    log "done"
}

main "$@"
