#!/bin/sh
# Install, upgrade or remove edge-agent on a board. Idempotent: running it
# again upgrades the binary and units and keeps the configuration and state.
#
#   sudo ./install.sh                 install (or upgrade), enable and start
#   sudo ./install.sh --board rpi4    same, with the board profile forced
#   sudo ./install.sh uninstall       stop and remove (keeps config and state)
#   sudo ./install.sh uninstall --purge   also remove config and state
#
# --root DIR installs into DIR instead of / (packaging, tests): no user is
# created and systemctl is not run. --no-start skips enabling/starting.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=/
action=install
board=
start=yes
purge=no

die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    install|uninstall) action=$1 ;;
    --root) root=${2:?--root needs a folder}; shift ;;
    --board) board=${2:?--board needs a name}; shift ;;
    --no-start) start=no ;;
    --purge) purge=yes ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
root=${root%/}
live=no
[ -z "$root" ] && live=yes

bin_dir=$root/usr/local/bin
unit_dir=$root/etc/systemd/system
conf_dir=$root/etc/edge-agent
state_dir=$root/var/lib/edge-agent

systemctl_() { [ "$live" = yes ] && command -v systemctl >/dev/null && systemctl "$@" || true; }

# goarch maps uname -m to the release's architecture names.
goarch() {
  case "$(uname -m)" in
    x86_64|amd64) echo amd64 ;;
    aarch64|arm64) echo arm64 ;;
    armv7l|armv7*|armhf) echo armv7 ;;
    riscv64) echo riscv64 ;;
    *) die "unsupported machine $(uname -m): edge-agent is built for amd64, arm64, armv7 and riscv64" ;;
  esac
}

if [ "$action" = uninstall ]; then
  systemctl_ disable --now edge-agent.service
  rm -f "$bin_dir/edge-agent" "$unit_dir/edge-agent.service"
  rm -rf "$unit_dir/edge-agent.service.d"
  if [ "$purge" = yes ]; then
    rm -rf "$conf_dir" "$state_dir"
    [ "$live" = yes ] && id edge-agent >/dev/null 2>&1 && userdel edge-agent || true
  fi
  systemctl_ daemon-reload
  echo "edge-agent removed$( [ "$purge" = yes ] && echo ', with its configuration and state' || echo '; configuration in /etc/edge-agent and state in /var/lib/edge-agent kept')"
  exit 0
fi

arch=$(goarch)
want=$(cat "$here/ARCH" 2>/dev/null || echo "$arch")
[ "$want" = "$arch" ] || die "this release is for $want, this machine is $arch: use the edge-agent_*_linux_$arch tarball"
[ -x "$here/edge-agent" ] || die "no edge-agent binary next to install.sh"

# The board profile sizes the service's memory limit.
if [ -n "$board" ]; then
  profile=$("$here/edge-agent" board --board "$board" --env) || die "unknown board $board"
else
  profile=$("$here/edge-agent" board --env) || die "cannot detect the board"
fi
eval "$profile" # BOARD, ENGINE, POOL, WORKER_MEMORY_MIB, SERVICE_MEMORY_MIB

if [ "$live" = yes ] && ! id edge-agent >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /var/lib/edge-agent --shell /usr/sbin/nologin edge-agent
fi

install -d -m 0755 "$bin_dir" "$unit_dir" "$unit_dir/edge-agent.service.d"
install -m 0755 "$here/edge-agent" "$bin_dir/edge-agent.new"
mv -f "$bin_dir/edge-agent.new" "$bin_dir/edge-agent"
install -m 0644 "$here/systemd/edge-agent.service" "$unit_dir/edge-agent.service"
cat > "$unit_dir/edge-agent.service.d/board.conf" <<CONF
# Written by install.sh from the $BOARD profile; edit and daemon-reload to change.
[Service]
Environment=EDGE_BOARD=$BOARD
MemoryMax=${SERVICE_MEMORY_MIB}M
CONF

install -d -m 0750 "$conf_dir"
if [ ! -e "$conf_dir/agent.json" ]; then
  install -m 0640 "$here/config/agent.json" "$conf_dir/agent.json"
  fresh=yes
else
  fresh=no
fi
[ "$live" = yes ] && chgrp -R edge-agent "$conf_dir" || true

systemctl_ daemon-reload
echo "edge-agent installed for $BOARD ($arch, engine $ENGINE, pool $POOL, worker cap ${WORKER_MEMORY_MIB} MiB)"
if [ "$fresh" = yes ]; then
  echo "edit $conf_dir/agent.json (id, broker, trust keys), put the device password in $conf_dir/password, then run: systemctl enable --now edge-agent"
elif [ "$start" = yes ]; then
  systemctl_ enable edge-agent.service
  systemctl_ restart edge-agent.service
  echo "edge-agent (re)started"
fi
