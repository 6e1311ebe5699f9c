#!/usr/bin/env bash
# Installs the fdt agent as a system service on a machine without the fdt-agent .deb.
# Safe to run again: an unchanged binary, config or unit is left alone. See installers/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: install-agent.sh [--binary PATH] [options]

Installs the fdt binary, a root-only config /etc/fdt/fdt.toml (mode 0600) and, when systemd
is running, the fdt-agent service (enabled; started with --start).

Options:
  --binary PATH          the fdt binary to install (default: ./fdt next to this script)
  --authtoken TOKEN      put TOKEN in the config; "-" reads it from standard input, which
                         keeps it out of the process list and your shell history
  --authtoken-file FILE  read the authtoken from FILE (first line)
  --prefix DIR           installation prefix (default /usr/local): the binary goes to DIR/bin
  --root DIR             install under DIR as if it were / (images, tests); systemctl is
                         not run
  --no-systemd           do not install the service unit
  --start                start the service now (restart it if it runs)
  -h, --help             this text

Without an authtoken a new config is the commented example; add the token later with
  fdt --config /etc/fdt/fdt.toml config add-authtoken TOKEN
An existing config keeps its contents (only the authtoken line changes when one is given).

Exit status: 0 done, 1 failed, 2 bad usage.
EOF
}

say() { printf 'install-agent: %s\n' "$*"; }
die() { printf 'install-agent: error: %s\n' "$*" >&2; exit 1; }
usage_error() { printf 'install-agent: %s (see --help)\n' "$*" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
binary=""
token=""
token_given=false
token_file=""
prefix=/usr/local
root=/
with_systemd=true
start=false

need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then usage_error "$1 needs a value"; fi; }
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) need_value "$@"; binary=$2; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --authtoken) need_value "$@"; token=$2; token_given=true; shift 2 ;;
    --authtoken=*) token=${1#*=}; token_given=true; shift ;;
    --authtoken-file) need_value "$@"; token_file=$2; shift 2 ;;
    --authtoken-file=*) token_file=${1#*=}; shift ;;
    --prefix) need_value "$@"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --root) need_value "$@"; root=$2; shift 2 ;;
    --root=*) root=${1#*=}; shift ;;
    --no-systemd) with_systemd=false; shift ;;
    --start) start=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
done

# --- Arguments -------------------------------------------------------------------------------
if $token_given && [ -n "$token_file" ]; then
  usage_error "give --authtoken or --authtoken-file, not both"
fi
if $token_given && [ "$token" = "-" ]; then
  IFS= read -r token || [ -n "$token" ] || die "no authtoken on standard input"
fi
if [ -n "$token_file" ]; then
  [ -r "$token_file" ] || die "cannot read the authtoken file $token_file"
  IFS= read -r token <"$token_file" || [ -n "$token" ] || die "the authtoken file $token_file is empty"
  token_given=true
fi
if $token_given; then
  # The rule fdt's config editor applies, checked before anything is installed.
  [ -n "$token" ] || usage_error "the authtoken is empty"
  [[ ! $token =~ [[:space:][:cntrl:]] ]] || usage_error "the authtoken must be one word without spaces"
fi

case "$prefix" in /*) ;; *) usage_error "--prefix must be an absolute path, not '$prefix'" ;; esac
case "$root" in /*) ;; *) usage_error "--root must be an absolute path, not '$root'" ;; esac
root=${root%/}
# Paths as the running system sees them, and where this script writes them.
bin_path="$prefix/bin/fdt"
config_path=/etc/fdt/fdt.toml
unit_path=/etc/systemd/system/fdt-agent.service

[ -n "$binary" ] || binary="$here/fdt"
[ -f "$binary" ] || die "no fdt binary at $binary (pass --binary PATH)"
[ -x "$binary" ] || die "$binary is not executable"
version=$("$binary" --version 2>&1) || die "$binary --version failed: is it an fdt binary for this machine? ($version)"
case "$version" in fdt\ *) ;; *) die "$binary does not look like fdt: --version printed '${version%%$'\n'*}'" ;; esac
unit_template="$here/systemd/fdt-agent.service"
config_example="$here/systemd/fdt.toml.example"
[ -f "$config_example" ] || die "missing $config_example (keep this script inside installers/)"
if $with_systemd; then
  [ -f "$unit_template" ] || die "missing $unit_template (keep this script inside installers/)"
fi

is_root=false
[ "$(id -u)" -eq 0 ] && is_root=true
if [ -z "$root" ] && ! $is_root; then
  die "run as root to install into the system (or use --root DIR)"
fi

# Leaves no temporary file behind on failure.
tmp_files=()
cleanup() { [ ${#tmp_files[@]} -eq 0 ] || rm -f "${tmp_files[@]}"; }
trap cleanup EXIT

# Replaces $2 with $1's content atomically (temporary file in the same directory, then a
# rename): a running binary is never half-written. Returns 1 when nothing changed.
replace_file() {
  local src=$1 dest=$2 mode=$3 tmp
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    chmod "$mode" "$dest"
    return 1
  fi
  tmp=$(mktemp "$(dirname "$dest")/.$(basename "$dest").XXXXXX")
  tmp_files+=("$tmp")
  cp "$src" "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$dest"
  return 0
}

# --- Binary ----------------------------------------------------------------------------------
install -d -m 0755 "$root$prefix/bin"
if replace_file "$binary" "$root$bin_path" 0755; then
  binary_changed=true
  say "installed $bin_path (${version})"
else
  binary_changed=false
  say "$bin_path is up to date (${version})"
fi

# --- Config ----------------------------------------------------------------------------------
# It holds the authtoken: root-only directory and file. The service reads it through systemd's
# LoadCredential, so it never needs to be readable by the service user.
install -d -m 0700 "$root/etc/fdt"
chmod 0700 "$root/etc/fdt"
cfg="$root$config_path"
config_changed=false
if [ ! -e "$cfg" ]; then
  (umask 077 && cp "$config_example" "$cfg")
  config_changed=true
  $token_given || say "wrote $config_path from the example: add the authtoken and tunnels before starting the service"
fi
chmod 0600 "$cfg"
if $is_root; then
  chown root:root "$root/etc/fdt" "$cfg"
fi
if $token_given; then
  before=$(cksum <"$cfg")
  # fdt's own editor: it validates the token and the file, keeps comments, writes 0600
  # atomically. Its messages are masked in case a parse error quotes the token.
  if ! out=$("$binary" --config "$cfg" config add-authtoken "$token" 2>&1 </dev/null); then
    out=${out//"$token"/***}
    die "could not save the authtoken in $config_path: ${out#fdt: }"
  fi
  chmod 0600 "$cfg"
  if [ "$(cksum <"$cfg")" != "$before" ]; then
    config_changed=true
    say "saved the authtoken in $config_path (mode 0600)"
  else
    say "$config_path already holds this authtoken"
  fi
else
  say "$config_path kept (mode 0600)"
fi

# --- Service ---------------------------------------------------------------------------------
if ! $with_systemd; then
  say "service unit not installed (--no-systemd)"
  exit 0
fi
install -d -m 0755 "$root/etc/systemd/system"
unit_tmp=$(mktemp)
tmp_files+=("$unit_tmp")
sed "s#^ExecStart=/usr/bin/fdt #ExecStart=$bin_path #" "$unit_template" >"$unit_tmp"
grep -q "^ExecStart=$bin_path " "$unit_tmp" || die "could not point the unit's ExecStart at $bin_path"
if replace_file "$unit_tmp" "$root$unit_path" 0644; then
  unit_changed=true
  say "installed $unit_path"
else
  unit_changed=false
  say "$unit_path is up to date"
fi
if [ -e "$root/usr/lib/systemd/system/fdt-agent.service" ] || [ -e "$root/lib/systemd/system/fdt-agent.service" ]; then
  say "note: the fdt-agent package's unit is also installed; $unit_path takes precedence"
fi

if [ -n "$root" ]; then
  say "installed under $root: systemctl not run"
elif ! command -v systemctl >/dev/null || [ ! -d /run/systemd/system ]; then
  say "systemd is not running here: the unit is installed but not enabled"
  say "with systemd: systemctl enable --now fdt-agent"
else
  if $unit_changed; then
    systemctl daemon-reload
  fi
  systemctl enable --quiet fdt-agent.service
  if $start; then
    systemctl restart fdt-agent.service
    say "fdt-agent enabled and (re)started: journalctl -u fdt-agent"
  elif systemctl --quiet is-active fdt-agent.service; then
    if $binary_changed || $config_changed || $unit_changed; then
      systemctl restart fdt-agent.service
      say "fdt-agent restarted with the new files"
    else
      say "fdt-agent is running"
    fi
  else
    say "fdt-agent enabled (starts at boot); start it now: systemctl start fdt-agent"
  fi
fi
