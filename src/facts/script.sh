# rig's fact gathering: one POSIX sh script, one round trip, no Python on the target.
# Prints `key=value` lines; values that may hold newlines are base64 (`key:b64=...`).
exec 2>/dev/null
b64() { base64 | tr -d '\n'; }
kv() { printf '%s=%s\n' "$1" "$2"; }
kv nodename "$(uname -n)"
h=$(uname -n)
ip=$(getent hosts "$h" | awk '{print $1; exit}')
if [ -n "$ip" ]; then kv fqdn_names "$(getent hosts "$ip" | head -n 1 | cut -d' ' -f2- | tr -s ' \t' '  ')"; fi
kv system "$(uname -s)"
kv kernel "$(uname -r)"
kv kernel_version "$(uname -v)"
kv machine "$(uname -m)"
kv userspace_bits "$(getconf LONG_BIT)"
[ -r /etc/os-release ] && printf 'os_release:b64=%s\n' "$(b64 < /etc/os-release)"
[ -r /etc/debian_version ] && kv debian_version "$(cat /etc/debian_version)"
command -v lsb_release >/dev/null && printf 'lsb:b64=%s\n' "$(lsb_release -a | b64)"
printf 'cpuinfo:b64=%s\n' "$(grep -E '^(processor|vendor_id|model name|physical id|cpu cores|siblings)' /proc/cpuinfo | b64)"
kv nproc "$(nproc)"
printf 'meminfo:b64=%s\n' "$(grep -E '^(MemTotal|MemFree|Buffers|Cached|SwapTotal|SwapFree|SwapCached):' /proc/meminfo | b64)"
kv pid1 "$(cat /proc/1/comm)"
[ -d /run/systemd/system ] && kv systemd_booted 1
for m in apt-get dnf yum zypper apk pacman; do
  if command -v "$m" >/dev/null; then kv pkg_cmd "$m"; break; fi
done
kv user_id "$(id -un)"; kv user_uid "$(id -u)"; kv user_gid "$(id -g)"
kv passwd "$(getent passwd "$(id -un)")"
kv effective_gid "$(id -g)"
printf 'env:b64=%s\n' "$(env | b64)"
r=$(ip -4 route get 8.8.8.8 | head -n 1); kv route4 "$r"
dev=$(printf '%s\n' "$r" | sed -n 's/.* dev \([^ ]*\).*/\1/p')
[ -n "$dev" ] && printf 'addr4:b64=%s\n' "$(ip -4 -o addr show dev "$dev" | b64)" && printf 'link4:b64=%s\n' "$(ip -o link show dev "$dev" | b64)"
printf 'alladdr:b64=%s\n' "$(ip -o addr show | b64)"
kv interfaces "$(ls /sys/class/net | tr '\n' ' ')"
kv machine_id "$(cat /etc/machine-id)"
kv uptime "$(cut -d' ' -f1 /proc/uptime)"
kv loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
[ -r /etc/resolv.conf ] && printf 'resolv:b64=%s\n' "$(b64 < /etc/resolv.conf)"
kv date "$(date -u '+%s %N')"
kv tz "$(date '+%Z %z')"
kv date_local "$(date '+%Y %m %d %H %M %S %A %w %j %U %a %b %B')"
kv virt "$(systemd-detect-virt -c || true)"
exit 0
