package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

// A FIFO or a device named directly as --input (not found by a glob) is a
// special_file reject; nothing opens it, so the run neither blocks on the
// FIFO nor reads /dev/zero forever.
func TestSpecialFilesAsDirectInputs(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	model := filepath.Join(dir, "model")
	if err := testcorpus.WriteSmallModel(model, 5); err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{fifo, "/dev/zero"} {
		if _, err := os.Stat(in); err != nil {
			continue
		}
		type result struct {
			code           int
			stdout, stderr string
		}
		done := make(chan result, 1)
		go func() {
			code, stdout, stderr := runCLI(t, "run", "--input", in, "--output", filepath.Join(dir, "out"+filepath.Base(in)),
				"--model", model, "--progress", "0", "--max-rejects", "1")
			done <- result{code, stdout, stderr}
		}()
		select {
		case r := <-done:
			if r.code != 0 || !strings.Contains(r.stdout, "0 documents + 1 rejected = 1 seen (ok)") {
				t.Errorf("%s: exit %d\n%s\n%s", in, r.code, r.stdout, r.stderr)
			}
		case <-time.After(90 * time.Second):
			t.Fatalf("run --input %s still running after 90 s (opened the file?)", in)
		}
	}
}
