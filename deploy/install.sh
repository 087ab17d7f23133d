#!/bin/sh
# Install, upgrade or remove the program of this release tarball:
# edge-agent (on a board), edge-control (the controller) or edgectl (on an
# operator's machine), whichever binary sits next to this script.
# Idempotent: running it again upgrades the binary and the unit, restarts
# a running service, and keeps the configuration and state.
#
#   sudo ./install.sh                     install or upgrade
#   sudo ./install.sh --board rpi4        edge-agent: use this board profile
#   sudo ./install.sh uninstall           stop and remove (keeps config and state)
#   sudo ./install.sh uninstall --purge   also remove config and state
#
# --root DIR (or DESTDIR=DIR) installs into DIR instead of / (packaging,
# tests): no user is created and systemctl is not run. --no-start does not
# restart a running service after an upgrade.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=${DESTDIR:-/}
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
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
  shift
done
root=${root%/}
live=no
[ -z "$root" ] && live=yes

name=
for p in edge-agent edge-control edgectl; do
  if [ -e "$here/$p" ]; then
    [ -z "$name" ] || die "both $name and $p next to install.sh: run it from one release folder"
    name=$p
  fi
done
[ -n "$name" ] || die "no edge-agent, edge-control or edgectl binary next to install.sh"
[ -n "$board" ] && [ "$name" != edge-agent ] && die "--board applies to edge-agent only"

bin_dir=$root/usr/local/bin
unit_dir=$root/etc/systemd/system
conf_dir=$root/etc/$name
state_dir=$root/var/lib/$name
service=no
[ "$name" = edgectl ] || service=yes

systemctl_() { [ "$live" = yes ] && command -v systemctl >/dev/null && systemctl "$@" || true; }

if [ "$action" = uninstall ]; then
  [ "$service" = yes ] && systemctl_ disable --now "$name.service"
  rm -f "$bin_dir/$name"
  if [ "$service" = yes ]; then
    rm -f "$unit_dir/$name.service" "$unit_dir/$name.service.d/board.conf"
    rmdir "$unit_dir/$name.service.d" 2>/dev/null || true
    if [ "$purge" = yes ]; then
      rm -rf "$unit_dir/$name.service.d" "$conf_dir" "$state_dir"
      [ "$live" = yes ] && id "$name" >/dev/null 2>&1 && userdel "$name" || true
    fi
    systemctl_ daemon-reload
  fi
  if [ "$service" = no ]; then
    echo "$name removed"
  elif [ "$purge" = yes ]; then
    echo "$name removed, with its configuration and state"
  else
    echo "$name removed; configuration in /etc/$name and state in /var/lib/$name kept"
  fi
  exit 0
fi

# goarch maps uname -m to the release's architecture names.
goarch() {
  case "$(uname -m)" in
    x86_64|amd64) echo amd64 ;;
    aarch64|arm64) echo arm64 ;;
    armv7l|armv7*|armhf) echo armv7 ;;
    riscv64) echo riscv64 ;;
    *) die "unsupported machine $(uname -m): $name is built for amd64, arm64, armv7 and riscv64" ;;
  esac
}

arch=$(goarch)
want=$(cat "$here/ARCH" 2>/dev/null || echo "$arch")
[ "$want" = "$arch" ] || die "this release is for $want, this machine is $arch: use the ${name}_*_linux_$arch tarball"
[ -x "$here/$name" ] || die "$here/$name is not executable"
version=$("$here/$name" --version) || die "$here/$name does not run on this machine"

if [ "$name" = edge-agent ]; then
  # The board profile sizes the service's memory limit.
  if [ -n "$board" ]; then
    profile=$("$here/edge-agent" board --board "$board" --env) || die "unknown board $board"
  else
    profile=$("$here/edge-agent" board --env) || die "cannot detect the board"
  fi
  eval "$profile" # BOARD, ENGINE, POOL, WORKER_MEMORY_MIB, SERVICE_MEMORY_MIB
fi

if [ "$service" = yes ] && [ "$live" = yes ] && ! id "$name" >/dev/null 2>&1; then
  useradd --system --user-group --no-create-home --home-dir "/var/lib/$name" --shell /usr/sbin/nologin "$name"
fi

install -d -m 0755 "$bin_dir"
# A new file renamed over the old one: a running binary is never rewritten.
install -m 0755 "$here/$name" "$bin_dir/$name.new"
mv -f "$bin_dir/$name.new" "$bin_dir/$name"
if [ "$service" = no ]; then
  echo "installed $version as $bin_dir/$name"
  exit 0
fi

install -d -m 0755 "$unit_dir"
install -m 0644 "$here/systemd/$name.service" "$unit_dir/$name.service"
if [ "$name" = edge-agent ]; then
  install -d -m 0755 "$unit_dir/edge-agent.service.d"
  cat > "$unit_dir/edge-agent.service.d/board.conf" <<CONF
# Written from the $BOARD board profile at installation and again at each
# upgrade: put settings of your own in another drop-in (override.conf).
[Service]
Environment=EDGE_BOARD=$BOARD
MemoryMax=${SERVICE_MEMORY_MIB}M
CONF
  conf=agent.json
  conf_mode=0640
else
  conf=edge-control.env
  conf_mode=0600 # may hold the external broker's password; systemd reads it
fi

install -d -m 0750 "$conf_dir"
if [ ! -e "$conf_dir/$conf" ]; then
  install -m "$conf_mode" "$here/config/$conf" "$conf_dir/$conf"
  fresh=yes
else
  fresh=no
fi
if [ "$live" = yes ]; then
  if [ "$name" = edge-agent ]; then chgrp -R "$name" "$conf_dir"; else chgrp "$name" "$conf_dir"; fi
fi

systemctl_ daemon-reload
if [ "$name" = edge-agent ]; then
  echo "installed $version for $BOARD ($arch, engine $ENGINE, pool $POOL, worker cap ${WORKER_MEMORY_MIB} MiB, MemoryMax ${SERVICE_MEMORY_MIB}M)"
else
  echo "installed $version"
fi
if [ "$fresh" = yes ]; then
  if [ "$name" = edge-agent ]; then
    echo "edit $conf_dir/agent.json (id, broker, trust keys), put the device password in $conf_dir/password (a secret file: install -m 0640 -g edge-agent ID.pw $conf_dir/password; the agent refuses one others may read), then run: systemctl enable --now edge-agent"
  else
    echo "check $conf_dir/$conf, then run: systemctl enable --now $name"
  fi
elif [ "$start" = yes ]; then
  systemctl_ try-restart "$name.service"
  echo "$name restarted if it was running"
fi
