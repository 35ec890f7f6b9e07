#!/usr/bin/env bash
# hanat admin instance setup (its EC2 user data): creates the unprivileged login user hanat-user.
#
# With permissions.allow_sudo = false the stack tags the IAM user SSMSessionRunAs=hanat-user, so
# Session Manager opens its sessions as this user, which has no sudo. setup-nat.sh creates the same
# user on every NAT. Idempotent: an existing user is left as it is.
# Input: HANAT_NAT_ROOT (tests): create the user under this root (useradd --prefix) instead of /.
# Exit codes: 0 done, 1 the user could not be created.
set -euo pipefail

LOGIN_USER="hanat-user"
ROOT="${HANAT_NAT_ROOT:-}"

log() { echo "hanat-admin-setup: $*" >&2; }

if [[ -n "$ROOT" ]]; then
    grep -q "^$LOGIN_USER:" "$ROOT/etc/passwd" 2>/dev/null && exists=1 || exists=0
else
    getent passwd "$LOGIN_USER" >/dev/null 2>&1 && exists=1 || exists=0
fi
if (( exists )); then
    log "user $LOGIN_USER exists"
elif useradd ${ROOT:+--prefix "$ROOT"} --create-home --shell /bin/bash \
        --comment "hanat unprivileged login (no sudo)" "$LOGIN_USER"; then
    log "created user $LOGIN_USER (no sudo)"
else
    log "FAILED to create user $LOGIN_USER"
    exit 1
fi
