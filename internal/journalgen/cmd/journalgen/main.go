// Command journalgen writes a generated journal (package journalgen) into
// a directory of real journal files, with systemd-journal-remote:
//
//	go run ./internal/journalgen/cmd/journalgen -entries 2500000 -dir DIR
//
// DIR/failed-run then holds the failed run's unit, invocation id, start and
// exit (RFC 3339), one a line.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/odoo-notify/odoo-notify/internal/journalgen"
)

const journalRemote = "/lib/systemd/systemd-journal-remote"

func main() {
	entries := flag.Int("entries", 2_500_000, "how many `entries` to write")
	dir := flag.String("dir", "", "write the journal files into this `dir` (emptied first)")
	flag.Parse()
	if *dir == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: journalgen -entries N -dir DIR")
		os.Exit(64)
	}
	if err := run(*entries, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "journalgen:", err)
		os.Exit(1)
	}
}

func run(entries int, dir string) error {
	if _, err := os.Stat(journalRemote); err != nil {
		return fmt.Errorf("%w: apt-get install systemd-journal-remote", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cmd := exec.Command(journalRemote, "-o", filepath.Join(dir, "system.journal"), "-")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	f, werr := journalgen.Write(in, entries)
	in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w", journalRemote, err)
	}
	if werr != nil {
		return werr
	}
	desc := fmt.Sprintf("%s\n%s\n%s\n%s\n", f.Unit, f.InvocationID, f.Started.Format(time.RFC3339Nano), f.Exited.Format(time.RFC3339Nano))
	return os.WriteFile(filepath.Join(dir, "failed-run"), []byte(desc), 0o644)
}
