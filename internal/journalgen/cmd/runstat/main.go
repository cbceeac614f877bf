// Command runstat runs commands RUNS times each, taking turns so that a
// change in the machine's load falls on all of them alike, and prints for
// each its median wall time, median CPU time (user + system) and peak RSS,
// from the process's own rusage:
//
//	runstat -runs 21 -- LABEL CMD ARGS... -- LABEL CMD ARGS...
//
// Each command's output is thrown away; a command that fails stops the run
// with its stderr.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"
)

type job struct {
	label     string
	argv      []string
	wall, cpu []time.Duration
	rss       int64 // KiB
}

func main() {
	runs := flag.Int("runs", 21, "how many `runs` of each command")
	flag.Parse()
	// flag.Parse takes the first "--" away.
	jobs := []*job{{}}
	for _, a := range flag.Args() {
		switch {
		case a == "--":
			jobs = append(jobs, &job{})
		case jobs[len(jobs)-1].label == "":
			jobs[len(jobs)-1].label = a
		default:
			jobs[len(jobs)-1].argv = append(jobs[len(jobs)-1].argv, a)
		}
	}
	for _, j := range jobs {
		if len(j.argv) == 0 {
			fmt.Fprintln(os.Stderr, "usage: runstat -runs N -- LABEL CMD ARGS... [-- LABEL CMD ARGS...]")
			os.Exit(64)
		}
	}
	for i := 0; i < *runs; i++ {
		for _, j := range jobs {
			if err := j.run(); err != nil {
				fmt.Fprintf(os.Stderr, "runstat: %s: %v\n", j.label, err)
				os.Exit(1)
			}
		}
	}
	for _, j := range jobs {
		fmt.Printf("%s %.1f %.1f %d\n", j.label, ms(median(j.wall)), ms(median(j.cpu)), j.rss)
	}
}

func (j *job) run() error {
	cmd := exec.Command(j.argv[0], j.argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return fmt.Errorf("%w: %s", err, stderr.Bytes())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	j.wall = append(j.wall, wall)
	j.cpu = append(j.cpu, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))
	j.rss = max(j.rss, ru.Maxrss)
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
