#!/bin/sh
# Captures the lines the real Odoo 18 logs when it hits its limits, for
# degraded's tests: boots a Debian 12 root with systemd-nspawn (as the
# end-to-end test does), installs Odoo and PostgreSQL 15 there with
# ../shared/odoo/setup.sh, adds the probe addon beside this script, runs
# odoo.service in prefork mode (workers = 2) and in threaded mode
# (workers = 0), makes requests that cross limit_time_real, limit_time_cpu,
# limit_memory_soft and limit_memory_hard, and writes the unit's journal
# (journalctl -o json) to OUT. A worker is put in a memory cgroup of its own
# from the host and made to use more than it allows, so the kernel's OOM
# killer kills it while the unit lives on; the kernel's lines are in
# OUT/oom-kernel.txt and the unit's processes as the host sees them in
# OUT/oom-pids.txt.
#
# usage (as root): capture.sh ROOT OUT [PHASE...]
#   ROOT: a Debian 12 root with systemd, dbus and python3, e.g. made by
#         debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,ca-certificates,python3 bookworm ROOT
#   OUT:  where the captures go
#   PHASE: prefork (worker and cron timeouts, MemoryError, failed requests
#          and the OOM kills), limits (limit_time_cpu and limit_memory_soft,
#          with limit_time_real out of their way), threaded-time,
#          threaded-memory; all of them when none is given
# ODOO_SRC (default /work/shared/odoo) holds setup.sh and the Odoo tarball.
# The OOM part of the prefork phase uses the host's cgroup v1 memory
# controller (/sys/fs/cgroup/memory), as the machine the captures were made
# on has; on a cgroup v2 host, make the cgroup under /sys/fs/cgroup with
# memory.max instead.
set -eu
root=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
shift 2
phases=${*:-prefork limits threaded-time threaded-memory}
want() { case " $phases " in *" $1 "*) return 0 ;; esac; return 1; }
here=$(cd "$(dirname "$0")" && pwd)
src=${ODOO_SRC:-/work/shared/odoo}

mkdir -p "$root/root/odoo-src" "$root/opt/probe-addons"
cp "$src/setup.sh" "$src/odoo-18.0-min.tar.gz" "$root/root/odoo-src/"
rm -rf "$root/opt/probe-addons/probe"
cp -r "$here/probe" "$root/opt/probe-addons/probe"
cp "$here/rpc.py" "$root/usr/local/bin/rpc.py"
chmod 0755 "$root/usr/local/bin/rpc.py"
cat >"$root/etc/systemd/system/odoo.service" <<'UNIT'
[Unit]
Description=Odoo
After=postgresql.service

[Service]
User=odoo
ExecStart=/usr/bin/python3 /opt/odoo/odoo-bin -c /etc/odoo/odoo.conf
KillMode=mixed
UNIT

name=degraded-capture-$$
systemd-nspawn -D "$root" --boot --pipe -q --register=no --keep-unit -M "$name" >"$out/console.log" 2>&1 &
nspawn=$!
trap 'nsenter -t "$leader" -a -- /bin/systemctl poweroff --no-block >/dev/null 2>&1 || true; wait $nspawn || true' EXIT
leader=""
for i in $(seq 1 300); do
	leader=$(cut -d' ' -f1 "/proc/$nspawn/task/$nspawn/children" 2>/dev/null || true)
	[ -n "$leader" ] && break
	sleep 0.2
done
[ -n "$leader" ] || { echo "capture: the container did not start" >&2; exit 1; }

inside() {
	nsenter -t "$leader" -a -- /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LANG=C.UTF-8 HOME=/root DEBIAN_FRONTEND=noninteractive SYSTEMD_PAGER= /bin/sh -c "$1"
}
for i in $(seq 1 300); do
	s=$(inside "systemctl is-system-running" 2>/dev/null || true)
	[ "$s" = running ] || [ "$s" = degraded ] && break
	sleep 0.5
done

inside "sh /root/odoo-src/setup.sh"

# conf WORKERS EXTRA: writes odoo.conf
conf() {
	inside "cat >/etc/odoo/odoo.conf <<CONF
[options]
db_host = False
db_port = False
db_user = odoo
db_password = False
db_name = prod
dbfilter = ^prod\\\$
list_db = False
http_port = 8069
addons_path = /opt/odoo/odoo/addons,/opt/odoo/addons,/opt/probe-addons
workers = $1
max_cron_threads = 1
$2
CONF"
}
# run NAME: restarts odoo.service and waits for it to answer
start() {
	inside "systemctl restart odoo.service"
	for i in $(seq 1 120); do
		inside "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8069/web/health', timeout=2)\"" 2>/dev/null && return 0
		sleep 1
	done
	echo "capture: odoo did not answer" >&2
	inside "journalctl -u odoo.service -n 50 --no-pager" >&2
	return 1
}
# save NAME SINCE: the unit's journal since SINCE (epoch seconds)
save() {
	inside "journalctl -u odoo.service -o json --output-fields=MESSAGE,_TRANSPORT,_PID,PRIORITY --since=@$2 --no-pager" >"$out/$1.json"
	echo "capture: $out/$1.json: $(wc -l <"$out/$1.json") entries"
}
rpc() { inside "rpc.py $*" || true; }
ordinary() {
	# what a user's browsing looks like in the log between the events
	for i in 1 2 3; do
		inside "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8069/web/login', timeout=30).read()\"" >/dev/null || true
		rpc res.partner search_read "'[[], [\"name\"]]'" >/dev/null
	done
}

conf 0 ""
inside "su odoo -s /bin/sh -c 'python3 /opt/odoo/odoo-bin -c /etc/odoo/odoo.conf -d prod -i probe --stop-after-init --log-level=warn'"

# Build the web assets once, under Odoo's default limits, so that ordinary
# requests stay far below the small limits below.
conf 2 ""
start
ordinary

soft=$((1536 << 20))
hard=$((3 << 30))
cron() {
	inside "su postgres -c \"psql -q prod -c \\\"UPDATE ir_cron SET active = $1, nextcall = now() at time zone 'UTC' WHERE id = (SELECT res_id FROM ir_model_data WHERE module = 'probe' AND name = 'probe_cron_sleep')\\\"\""
}

# --- prefork: workers = 2, small limits -----------------------------------
if want prefork; then
conf 2 "limit_time_real = 20
limit_time_cpu = 10
limit_memory_soft = $soft
limit_memory_hard = $hard"
cron true
since=$(date +%s)
start
ordinary
for i in 1 2 3; do rpc res.partner action_probe_sleep "'[[], 40]'"; ordinary; done
rpc res.partner action_probe_spin "'[[], 25]'"
ordinary
rpc res.partner action_probe_hold "'[[], 1600]'"
ordinary
rpc res.partner action_probe_hog "'[[], 8192]'"
ordinary
for i in 1 2 3 4 5 6 7; do rpc res.partner action_probe_fail; done
ordinary
# the cron worker runs the probe's cron past limit_time_real once a minute
sleep 90
ordinary

# --- the kernel's OOM killer kills a worker; the unit lives on -------------
# Every process of the unit, as the host sees it (the kernel's lines name
# host pids), and the HTTP workers moved into a memory cgroup of 700 MiB.
ns=$(readlink "/proc/$leader/ns/pid")
unitpids=$(inside 'cg=$(systemctl show -p ControlGroup --value odoo.service); cat /sys/fs/cgroup/systemd$cg/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup/unified$cg/cgroup.procs 2>/dev/null || cat /sys/fs/cgroup$cg/cgroup.procs')
hostpids=""
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
	inner=$(awk '/^NSpid:/ {print $NF}' "$p/status" 2>/dev/null || true)
	for u in $unitpids; do [ "$u" = "$inner" ] && hostpids="$hostpids ${p#/proc/}"; done
done
echo $hostpids | tr ' ' '\n' >"$out/oom-pids.txt"
mainpid=$(inside "systemctl show -p MainPID --value odoo.service")
cg=/sys/fs/cgroup/memory/degraded-capture
mkdir -p $cg
echo $((700 << 20)) >$cg/memory.limit_in_bytes
for p in $hostpids; do
	inner=$(awk '/^NSpid:/ {print $NF}' "/proc/$p/status")
	[ "$inner" = "$mainpid" ] && continue
	echo "$p" >$cg/cgroup.procs
done
dmesg --time-format=iso >"$out/dmesg-before.txt"
rpc res.partner action_probe_touch "'[[], 1024]'"
rpc res.partner action_probe_touch "'[[], 1024]'"
sleep 2
dmesg --time-format=iso >"$out/dmesg-after.txt"
# the kernel's lines of the kills, with the kernel's wall-clock times
diff "$out/dmesg-before.txt" "$out/dmesg-after.txt" | sed -n 's/^> //p' >"$out/oom-kernel.txt"
inside "systemctl is-active odoo.service" >"$out/oom-unit-state.txt" || true
ordinary
# workers respawned by the master are back in the unit's cgroup
for p in $(cat $cg/cgroup.procs); do echo "$p" >/sys/fs/cgroup/memory/cgroup.procs; done
rmdir $cg
rm -f "$out/dmesg-before.txt" "$out/dmesg-after.txt"
save prefork "$since"
cron false
fi

# --- prefork: limit_time_cpu and limit_memory_soft -------------------------
# limit_time_real is set far away: on a loaded machine a request takes long
# in wall time to use its CPU seconds.
if want limits; then
cron false
conf 2 "limit_time_real = 900
limit_time_cpu = 3
limit_memory_soft = $soft
limit_memory_hard = $hard"
since=$(date +%s)
start
ordinary
rpc res.partner action_probe_spin "'[[], 10]'"
ordinary
rpc res.partner action_probe_map "'[[], 1600]'"
ordinary
save limits "$since"
fi

# --- threaded: workers = 0 -------------------------------------------------
if want threaded-time; then
cron false
conf 0 "limit_time_real = 20
limit_memory_soft = $((3 << 30))
limit_memory_hard = $((4 << 30))"
since=$(date +%s)
start
ordinary
# the threaded server checks its limits once a minute
rpc res.partner action_probe_sleep "'[[], 100]'"
sleep 20
start
ordinary
save threaded-time "$since"
fi

if want threaded-memory; then
cron false
conf 0 "limit_time_real = 600
limit_memory_soft = $soft
limit_memory_hard = $((4 << 30))"
since=$(date +%s)
start
ordinary
rpc res.partner action_probe_map "'[[], 1600]'"
ordinary
sleep 80
start
ordinary
save threaded-memory "$since"
fi
