package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// procCPU is a process's CPU time so far, user plus system, from
// /proc/<pid>/stat (proc(5): fields 14 utime and 15 stime, in clock ticks).
func procCPU(pid int, tick time.Duration) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	utime, stime, err := parseStat(b)
	if err != nil {
		return 0, fmt.Errorf("cpu time of %d: %w", pid, err)
	}
	return time.Duration(utime+stime) * tick, nil
}

// parseStat returns utime and stime, in clock ticks, from the contents of
// /proc/<pid>/stat. The second field, the command name in parentheses, may
// hold spaces and parentheses itself, so fields are counted from the last
// ')'.
func parseStat(b []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("stat: no ')' after the command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): utime, field 14, is f[11]; stime is f[12].
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(f))
	}
	if utime, err = strconv.ParseUint(string(f[11]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stat: utime: %w", err)
	}
	if stime, err = strconv.ParseUint(string(f[12]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("stat: stime: %w", err)
	}
	return utime, stime, nil
}

// memStatus is what authbench reads of /proc/<pid>/status, in KiB.
type memStatus struct {
	VmRSS int64 // resident set size now
	VmHWM int64 // peak resident set size ("high water mark")
}

// procMem reads the resident and peak resident set sizes of a process.
func procMem(pid int) (memStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, fmt.Errorf("memory of %d: %w", pid, err)
	}
	m, err := parseStatus(b)
	if err != nil {
		return memStatus{}, fmt.Errorf("memory of %d: %w", pid, err)
	}
	return m, nil
}

// parseStatus reads VmRSS and VmHWM ("VmHWM:   123456 kB") from the
// contents of /proc/<pid>/status.
func parseStatus(b []byte) (memStatus, error) {
	var m memStatus
	var seen int
	for line := range bytes.Lines(b) {
		var dst *int64
		switch {
		case bytes.HasPrefix(line, []byte("VmRSS:")):
			dst = &m.VmRSS
		case bytes.HasPrefix(line, []byte("VmHWM:")):
			dst = &m.VmHWM
		default:
			continue
		}
		f := bytes.Fields(line)
		if len(f) != 3 || string(f[2]) != "kB" {
			return memStatus{}, fmt.Errorf("status: malformed line %q", bytes.TrimSpace(line))
		}
		n, err := strconv.ParseInt(string(f[1]), 10, 64)
		if err != nil {
			return memStatus{}, fmt.Errorf("status: %s: %w", f[0], err)
		}
		*dst = n
		seen++
	}
	if seen != 2 {
		return memStatus{}, errors.New("status: VmRSS or VmHWM missing")
	}
	return m, nil
}

// resetPeakRSS resets a process's VmHWM to its current RSS (proc(5),
// /proc/<pid>/clear_refs, value 5, Linux 4.0+), so that the peak of one
// scenario is not the peak of an earlier one. It needs the right to write
// the file (same user); callers fall back to sampling VmRSS.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// atClkTck is the auxiliary vector entry of the clock-tick rate
// (sysconf(_SC_CLK_TCK); getauxval(3)).
const atClkTck = 17

// clockTick returns the length of the clock tick /proc/<pid>/stat counts
// in, from this process's auxiliary vector; 10ms (USER_HZ 100, what every
// common Linux build uses) when it cannot be read.
func clockTick() time.Duration {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 10 * time.Millisecond
	}
	if hz := parseAuxvClkTck(b); hz > 0 {
		return time.Second / time.Duration(hz)
	}
	return 10 * time.Millisecond
}

// parseAuxvClkTck returns AT_CLKTCK from an auxiliary vector of 64-bit
// native-endian (type, value) pairs, or 0 when it has none.
func parseAuxvClkTck(b []byte) uint64 {
	for len(b) >= 16 {
		typ, val := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
		b = b[16:]
		switch typ {
		case 0: // AT_NULL ends the vector
			return 0
		case atClkTck:
			return val
		}
	}
	return 0
}

// machineBusy is the CPU time all processors spent on anything but idling
// and waiting for I/O, from the first line of /proc/stat (proc(5): user,
// nice, system, idle, iowait, irq, softirq, steal, … in clock ticks).
func machineBusy(tick time.Duration) (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("machine cpu time: %w", err)
	}
	ticks, err := parseProcStat(b)
	if err != nil {
		return 0, fmt.Errorf("machine cpu time: %w", err)
	}
	return time.Duration(ticks) * tick, nil
}

// parseProcStat returns the busy ticks of the aggregate "cpu" line of
// /proc/stat: user + nice + system + irq + softirq + steal (guest time is
// already counted in user).
func parseProcStat(b []byte) (uint64, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 9 || string(f[0]) != "cpu" {
		return 0, errors.New("stat: no aggregate cpu line")
	}
	var busy uint64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseUint(string(f[i]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: cpu field %d: %w", i, err)
		}
		busy += n
	}
	return busy, nil
}
