package metrics

import (
	"bytes"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of /proc/self/stat's CPU times. Linux
// exports it as 100 on every architecture Go supports (sysconf(_SC_CLK_TCK)
// reads it from the auxiliary vector, which always says 100).
const clockTicks = 100

// bootTime reads the boot time (seconds since the epoch) from /proc/stat.
func bootTime() (int64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// writeProcess writes the process_* metrics under the names Prometheus's
// client libraries use, so that the usual dashboards and alerts work:
// CPU time, memory, descriptors and start time, read from /proc/self
// (started, when the start time cannot be read there). A
// value that cannot be read is left out rather than reported as 0.
func writeProcess(e expo, started time.Time) {
	if stat, err := os.ReadFile("/proc/self/stat"); err == nil {
		// The fields after the command, which is in parentheses and may
		// contain spaces: field 3 (state) is f[0].
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 {
			f := bytes.Fields(stat[i+1:])
			if len(f) > 21 {
				vsize, _ := strconv.ParseUint(string(f[20]), 10, 64)
				rss, _ := strconv.ParseUint(string(f[21]), 10, 64)
				if t, err := strconv.ParseUint(string(f[19]), 10, 64); err == nil {
					if boot, ok := bootTime(); ok {
						started = time.Unix(boot, 0).Add(time.Duration(t) * time.Second / clockTicks)
					}
				}
				e.header("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.")
				e.sample("process_virtual_memory_bytes", "", float64(vsize))
				e.header("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.")
				e.sample("process_resident_memory_bytes", "", float64(rss*uint64(os.Getpagesize())))
			}
		}
	}
	// CPU time comes from getrusage, not from /proc/self/stat: the latter
	// counts in clock ticks (10 ms), so a process that has used less than
	// one tick would report 0 seconds.
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		e.header("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.")
		e.sample("process_cpu_seconds_total", "", cpuSeconds(ru))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		e.header("process_open_fds", "gauge", "Number of open file descriptors.")
		// ReadDir's own descriptor on the directory is in the listing.
		e.sample("process_open_fds", "", float64(len(fds)-1))
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &lim) == nil {
		e.header("process_max_fds", "gauge", "Maximum number of open file descriptors.")
		e.sample("process_max_fds", "", float64(lim.Cur))
	}
	e.header("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.")
	e.sample("process_start_time_seconds", "", float64(started.UnixNano())/1e9)
}

// cpuSeconds returns the user plus system time of ru in seconds.
func cpuSeconds(ru unix.Rusage) float64 {
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
