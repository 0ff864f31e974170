# rig's fact gathering: one POSIX sh script, one round trip, no Python on the target.
# Few processes (tests/lab_ssh/facts.rs counts them): files are read by two greps, the rest by
# one date, one ip and getent. No command substitution: dash forks even for builtins.
# Output: `::rig:NAME` starts a section; in `files` every line is `path:line` (grep -H); in the
# others the command's output as it is; `key=value` lines outside sections.
exec 2>/dev/null
echo ::rig:files
grep -aHs '' /etc/os-release /etc/debian_version /etc/lsb-release /etc/machine-id /etc/resolv.conf \
  /proc/sys/kernel/hostname /proc/sys/kernel/ostype /proc/sys/kernel/osrelease \
  /proc/sys/kernel/version /proc/sys/kernel/arch /proc/uptime /proc/loadavg /proc/1/comm \
  /proc/self/environ /proc/1/environ /proc/1/cgroup /run/systemd/container
grep -aHs -e '^\(processor\|vendor_id\|model name\|physical id\|cpu cores\|siblings\)[[:space:]]*:' \
  -e '^\(MemTotal\|MemFree\|Buffers\|Cached\|SwapTotal\|SwapFree\|SwapCached\|Uid\|Gid\|Cpus_allowed_list\):' \
  -e '\[stack\]$' /proc/cpuinfo /proc/meminfo /proc/self/status /proc/self/maps
echo ::rig:kv
[ -r /proc/sys/kernel/arch ] || printf 'machine=%s\n' "$(uname -m)"
[ -d /run/systemd/system ] && echo systemd_booted=1
[ -e /.dockerenv ] || [ -e /.dockerinit ] && echo dockerenv=1
[ -e /proc/vz ] && [ ! -e /proc/lve ] && echo openvz=1 && [ -e /proc/bc ] && echo openvz_host=1
for m in apt-get dnf yum zypper apk pacman; do
  if command -v "$m" >/dev/null; then echo "pkg_cmd=$m"; break; fi
done
# getpass.getuser(): the first of these set, else the passwd name of the uid.
u=${LOGNAME:-${USER:-${LNAME:-$USERNAME}}}
printf 'user_id=%s\n' "$u"
while read -r k v _; do [ "$k" = Uid: ] && break; done < /proc/self/status
printf 'passwd='
{ [ -n "$u" ] && getent passwd "$u"; } || getent passwd "$v" || echo
date '+date=%s %N%ntz=%Z %z%ndate_local=%Y %m %d %H %M %S %A %w %j %U %a %b %B'
h=
read -r h < /proc/sys/kernel/hostname
if [ -n "$h" ] && set -- $(getent hosts "$h") && [ -n "$1" ]; then
  printf 'fqdn_names='
  getent hosts "$1" || echo
fi
echo ::rig:ip
ip -o -force -batch - <<'EOF'
route get 8.8.8.8
addr show
link show
EOF
echo ::rig:interfaces
for i in /sys/class/net/*; do [ -e "$i" ] && echo "${i##*/}"; done
if command -v lsb_release >/dev/null; then echo ::rig:lsb; lsb_release -a; fi
exit 0
