package analysis

import (
	"fmt"
	"strconv"
	"strings"
)

// What systemd wrote about the run in its own words, for the versions that
// wrote no structured fields (CentOS 7's 219, Ubuntu 16.04's 229), for a
// paste of journalctl output, and for runs whose "Failed with result" line
// is missing. See systemd.exec(5), "Process Exit Codes", for 200-243.

// unitFacts is what systemd's messages (and a shell's, in Odoo's log file)
// say about how the run ended.
type unitFacts struct {
	result, exitCode, exitStatus string
	// step is the exec step that failed ("EXEC", "CHDIR"), spawning the
	// program named in target, with systemd's error.
	step, target, stepErr string
	startLimit            bool
	restarts              int
	watchdog              bool
	// timedOut is "start", "start-pre", "stop-sigterm", ...
	timedOut string
	// oomd is systemd's own line that the OOM killer (or systemd-oomd)
	// killed a process of the unit.
	oomd string
	// shell is a shell's or supervisor's report of the program's end:
	// "Segmentation fault (core dumped)", "Killed", "Aborted".
	shell string
}

// execSteps are systemd's exit statuses for a unit it could not start, by
// number, with the step's name and the setting to check.
var execSteps = map[int][2]string{
	200: {"CHDIR", "WorkingDirectory= names a directory that does not exist or that User= cannot enter"},
	201: {"NICE", "Nice= could not be applied"},
	202: {"FDS", "systemd could not set up the file descriptors (Sockets=, StandardInput=)"},
	203: {"EXEC", "ExecStart= names a program that does not exist, is not executable, or whose #! interpreter is missing (a virtualenv that moved)"},
	204: {"MEMORY", "systemd ran out of memory while starting the unit"},
	205: {"LIMITS", "a Limit*= setting (LimitNOFILE=, LimitNPROC=) could not be applied"},
	206: {"OOM_ADJUST", "OOMScoreAdjust= could not be applied"},
	207: {"SIGNAL_MASK", "the signal mask could not be set"},
	208: {"STDIN", "StandardInput= could not be set up"},
	209: {"STDOUT", "StandardOutput= could not be set up (a file: path the unit cannot write)"},
	210: {"CHROOT", "RootDirectory= (or WorkingDirectory=~ for a user without a home) could not be entered"},
	211: {"IOPRIO", "IOSchedulingClass=/IOSchedulingPriority= could not be applied"},
	212: {"TIMERSLACK", "TimerSlackNSec= could not be applied"},
	213: {"SECUREBITS", "SecureBits= could not be applied"},
	214: {"SETSCHEDULER", "CPUSchedulingPolicy= could not be applied"},
	215: {"CPUAFFINITY", "CPUAffinity= could not be applied"},
	216: {"GROUP", "Group= or SupplementaryGroups= names a group that does not exist"},
	217: {"USER", "User= names a user that does not exist (or that NSS cannot look up when the unit starts)"},
	218: {"CAPABILITIES", "CapabilityBoundingSet=/AmbientCapabilities= could not be applied"},
	219: {"CGROUP", "the unit's cgroup could not be set up"},
	220: {"SETSID", "the session could not be created"},
	221: {"CONFIRM", "the start was not confirmed (systemd.confirm_spawn)"},
	222: {"STDERR", "StandardError= could not be set up"},
	224: {"PAM", "PAMName= failed"},
	225: {"NETWORK", "PrivateNetwork= could not be set up"},
	226: {"NAMESPACE", "a path in ReadWritePaths=, ReadOnlyPaths=, BindPaths= or InaccessiblePaths=, or ProtectSystem=/PrivateTmp=, could not be mounted: create the path or drop the setting"},
	227: {"NO_NEW_PRIVILEGES", "NoNewPrivileges= could not be applied"},
	228: {"SECCOMP", "SystemCallFilter= could not be applied"},
	229: {"SELINUX_CONTEXT", "SELinuxContext= could not be applied"},
	230: {"PERSONALITY", "Personality= could not be applied"},
	231: {"APPARMOR_PROFILE", "AppArmorProfile= could not be applied"},
	232: {"ADDRESS_FAMILIES", "RestrictAddressFamilies= could not be applied"},
	233: {"RUNTIME_DIRECTORY", "RuntimeDirectory= could not be created"},
	235: {"CHOWN", "the unit's socket or directories could not be chowned to User="},
	236: {"SMACK_PROCESS_LABEL", "SmackProcessLabel= could not be applied"},
	237: {"KEYRING", "KeyringMode= could not be applied"},
	238: {"STATE_DIRECTORY", "StateDirectory= could not be created"},
	239: {"CACHE_DIRECTORY", "CacheDirectory= could not be created"},
	240: {"LOGS_DIRECTORY", "LogsDirectory= could not be created"},
	241: {"CONFIGURATION_DIRECTORY", "ConfigurationDirectory= could not be created"},
	242: {"NUMA_POLICY", "NUMAPolicy= could not be applied"},
	243: {"CREDENTIALS", "LoadCredential=/SetCredential= could not be applied"},
}

// stepStatus maps a step's name back to its exit status.
var stepStatus = func() map[string]int {
	m := map[string]int{}
	for n, s := range execSteps {
		m[s[0]] = n
	}
	return m
}()

// setupStatus returns the exit status when it is one of systemd's own
// (200-243): the unit could not start its program at all.
func setupStatus(in Input) (int, bool) {
	if in.ExitCode != "" && in.ExitCode != "exited" {
		return 0, false
	}
	n, err := strconv.Atoi(in.ExitStatus)
	if err != nil {
		return 0, false
	}
	_, ok := execSteps[n]
	return n, ok
}

// about says a systemd message is about unit: it names it, or it names no
// unit at all (a bare debug line). Messages about other units are not.
func about(text, unit string) (string, bool) {
	if unit != "" {
		if i := strings.Index(text, unit); i >= 0 {
			return text, true
		}
	}
	// "Unit x.service entered failed state." and "x.service: ..." name a unit.
	head := text
	if i := strings.Index(head, ": "); i >= 0 {
		head = head[:i]
	}
	for _, u := range unitSuffixes {
		if strings.HasSuffix(head, u) || strings.Contains(text, u) && strings.Contains(text, u+" ") {
			return text, false
		}
	}
	return text, true
}

var unitSuffixes = []string{".service", ".socket", ".timer", ".scope", ".mount"}

// systemdFacts reads systemd's and a shell's lines among the run's entries.
func systemdFacts(es []entry, unit string) unitFacts {
	var f unitFacts
	for _, e := range es {
		t := e.text
		if e.record || len(t) < 6 {
			continue
		}
		if sh := shellStatus(t); sh != "" {
			f.shell = sh
			continue
		}
		if !strings.Contains(t, " ") {
			continue
		}
		t, ok := about(t, unit)
		if !ok {
			continue
		}
		lt := strings.ToLower(t)
		switch {
		case strings.Contains(lt, "process exited, code=") || strings.Contains(t, " died (code="):
			code, status := exitFields(t)
			if code != "" {
				f.exitCode, f.exitStatus = code, status
			}
		case strings.Contains(t, "Failed with result '"):
			if i := strings.Index(t, "Failed with result '"); i >= 0 {
				r := t[i+len("Failed with result '"):]
				if j := strings.IndexByte(r, '\''); j > 0 {
					f.result = r[:j]
				}
			}
		case strings.Contains(lt, "start request repeated"):
			// "too quickly" may be on the next line of a wrapped paste.
			f.startLimit = true
		case strings.Contains(t, "Scheduled restart job, restart counter is at "):
			n, _ := strconv.Atoi(strings.TrimRight(t[strings.LastIndex(t, " ")+1:], "."))
			f.restarts = n
		case strings.Contains(t, "Watchdog timeout"):
			f.watchdog = true
		case strings.Contains(t, "operation timed out") || strings.Contains(t, "' timed out."):
			f.timedOut = timedOut(t)
		case strings.Contains(t, "Failed at step "):
			step := t[strings.Index(t, "Failed at step ")+len("Failed at step "):]
			name, rest, _ := strings.Cut(step, " ")
			f.step = name
			if target, ok := strings.CutPrefix(rest, "spawning "); ok {
				if i := strings.LastIndex(target, ": "); i >= 0 {
					target, f.stepErr = target[:i], target[i+2:]
				}
				f.target = target
			}
		case strings.Contains(t, "Changing to the requested working directory failed"):
			if f.step == "" {
				f.step = "CHDIR"
			}
		case strings.Contains(t, "systemd-oomd killed") || strings.Contains(t, "killed by the OOM killer"):
			f.oomd = oneLine(t, 300)
		}
	}
	return f
}

// exitFields reads "code=killed, status=11/SEGV" (and systemd 219's
// "code=exited status=1"): how the process ended, the status the way
// systemd's structured fields give it ("SEGV", "203").
func exitFields(t string) (code, status string) {
	i := strings.Index(t, "code=")
	if i < 0 {
		return "", ""
	}
	rest := t[i+len("code="):]
	code, rest, _ = strings.Cut(rest, ",")
	code, after, found := strings.Cut(code, " ")
	if found {
		rest = after
	}
	code = strings.TrimSpace(code)
	j := strings.Index(rest, "status=")
	if j < 0 {
		return code, ""
	}
	s := rest[j+len("status="):]
	if k := strings.IndexAny(s, " )"); k >= 0 {
		s = s[:k]
	}
	num, name, _ := strings.Cut(s, "/")
	if code != "exited" && name != "" {
		return code, name
	}
	return code, num
}

func timedOut(t string) string {
	switch {
	case strings.Contains(t, "State '"):
		s := t[strings.Index(t, "State '")+len("State '"):]
		s, _, _ = strings.Cut(s, "'")
		return s
	default:
		i := strings.Index(t, " operation timed out")
		j := strings.LastIndex(t[:i], " ")
		return strings.TrimSuffix(t[j+1:i], ":")
	}
}

// shellStatus recognises what a shell or a supervisor wrote when the
// program died of a signal: bash's "Segmentation fault (core dumped)",
// "Killed", "Aborted (core dumped)", alone on the line or as a job report
// ("line 13: 27241 Killed   python -u ..."; bash pads the pid to five
// columns: "line 28:     7 Killed").
func shellStatus(t string) string {
	s := strings.TrimSpace(t)
	if i := strings.Index(s, ": line "); i >= 0 {
		// "/usr/local/bin/x: line 13: 27241 Killed   python ..."
		rest := s[i+len(": line "):]
		if _, r, ok := strings.Cut(rest, ": "); ok {
			r = strings.TrimLeft(r, " ")
			if j := strings.IndexFunc(r, func(c rune) bool { return c < '0' || c > '9' }); j > 0 && r[j] == ' ' {
				r = strings.TrimLeft(r[j:], " ")
			}
			s = r
		}
	}
	for _, w := range shellWords {
		rest, ok := strings.CutPrefix(s, w)
		if !ok {
			continue
		}
		if rest == "" || rest == " (core dumped)" || strings.HasPrefix(rest, "  ") || strings.HasPrefix(rest, " (core dumped)  ") {
			if strings.Contains(s, "(core dumped)") {
				return w + " (core dumped)"
			}
			return w
		}
	}
	return ""
}

var shellWords = []string{"Segmentation fault", "Killed", "Aborted", "Bus error", "Illegal instruction"}

// shellSignal maps a shell's words to systemd's code and status.
func shellSignal(sh string) (code, status string) {
	code = "killed"
	if strings.HasSuffix(sh, "(core dumped)") {
		code = "dumped"
	}
	switch strings.TrimSuffix(sh, " (core dumped)") {
	case "Segmentation fault":
		status = "SEGV"
	case "Killed":
		status = "KILL"
	case "Aborted":
		status = "ABRT"
	case "Bus error":
		status = "BUS"
	case "Illegal instruction":
		status = "ILL"
	}
	return code, status
}

// withFacts fills what systemd's structured state left unknown from its
// messages and a shell's; what the caller knew stays.
func withFacts(in Input, f unitFacts) Input {
	if in.ExitCode == "" && in.ExitStatus == "" {
		switch {
		case f.exitCode != "":
			in.ExitCode, in.ExitStatus = f.exitCode, f.exitStatus
		case f.step != "":
			if n, ok := stepStatus[f.step]; ok {
				in.ExitCode, in.ExitStatus = "exited", strconv.Itoa(n)
			}
		case f.shell != "":
			in.ExitCode, in.ExitStatus = shellSignal(f.shell)
		}
	}
	if f.watchdog && (in.Result == "" || in.Result == "core-dump" || in.Result == "signal") {
		// A watchdog kill is SIGABRT: systemd says core-dump or signal,
		// the watchdog is why.
		in.Result = "watchdog"
	}
	if in.Result == "" {
		switch {
		case f.result != "":
			in.Result = f.result
		case f.timedOut != "":
			in.Result = "timeout"
		case in.ExitCode == "dumped":
			in.Result = "core-dump"
		case in.ExitCode == "killed":
			in.Result = "signal"
		case in.ExitCode == "exited" && in.ExitStatus != "" && in.ExitStatus != "0":
			in.Result = "exit-code"
		}
	}
	if f.startLimit {
		in.StartLimitHit = true
	}
	if in.NRestarts == 0 {
		in.NRestarts = f.restarts
	}
	return in
}

// setupSummary says which step systemd could not get past.
func setupSummary(unit string, n int, f unitFacts) string {
	s := fmt.Sprintf("systemd could not start %s's program: it failed at step %s (exit status %d/%s)", unit, execSteps[n][0], n, execSteps[n][0])
	if f.target != "" {
		s += " spawning " + f.target
		if f.stepErr != "" {
			s += ": " + f.stepErr
		}
	}
	return s + "."
}
