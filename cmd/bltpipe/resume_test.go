package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

// resumeCLIEnv makes this test binary, re-executed with
// -test.run=^TestResumeCLIProcess$, be bltpipe with the arguments in the
// variable (a JSON array): a separate bltpipe process to kill, without
// building one.
const resumeCLIEnv = "BLTPIPE_RESUME_TEST_ARGS"

func TestResumeCLIProcess(t *testing.T) {
	var args []string
	if err := json.Unmarshal([]byte(os.Getenv(resumeCLIEnv)), &args); err != nil {
		t.Skip("runs only as the bltpipe process of TestKilledRunResumes")
	}
	os.Exit(dispatch(args, os.Stdout, os.Stderr))
}

// A `bltpipe run` killed (SIGKILL) after finishing some of its splits and
// rerun with the same arguments reads only the splits it had not
// finished, says how many it skipped, and ends with the bytes of a clean
// run.
func TestKilledRunResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs bltpipe three times")
	}
	dir := t.TempDir()
	// 16 files of 25 records: 400 documents in 16 splits.
	const files = 16
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < files; i++ {
		b, err := testcorpus.JSONL(testcorpus.Records(fmt.Sprintf("f%d", i), uint64(100+i), 25, 200), "")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("part-%02d.jsonl", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	model := filepath.Join(dir, "model")
	if err := testcorpus.WriteSmallModel(model, 7); err != nil {
		t.Fatal(err)
	}
	start := func(out string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
		args, _ := json.Marshal([]string{"run", "--input", in, "--output", out, "--model", model,
			"--patching", "static", "--batch-tokens", "1024", "--progress", "0"})
		cmd := exec.Command(os.Args[0], "-test.run=^TestResumeCLIProcess$")
		cmd.Env = append(os.Environ(), resumeCLIEnv+"="+string(args))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &stdout, &stderr
	}
	records := func(out string) int {
		m, _ := filepath.Glob(filepath.Join(out, schemas.SplitsDir, "*.json"))
		return len(m)
	}

	began := time.Now()
	clean := filepath.Join(dir, "clean")
	cmd, _, stderr := start(clean)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("clean run: %v\n%s", err, stderr)
	}
	t.Logf("clean run: %s", time.Since(began).Round(time.Millisecond))
	want := treeHashes(t, clean)
	if n := records(clean); n != files {
		t.Fatalf("clean run left %d completion records, want %d", n, files)
	}

	// Kill the run as soon as a few splits are finished.
	out := filepath.Join(dir, "out")
	cmd, _, stderr = start(out)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(2 * time.Minute)
poll:
	for records(out) < 3 {
		select {
		case err := <-exited:
			t.Fatalf("the run ended (%v) before 3 splits were finished; nothing to kill\n%s", err, stderr)
		case <-deadline:
			cmd.Process.Kill()
			t.Fatalf("no 3 finished splits after 2 minutes\n%s", stderr)
		case <-time.After(5 * time.Millisecond):
			continue poll
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	done := records(out)
	if _, err := os.Stat(filepath.Join(out, schemas.ManifestFile)); err == nil || done >= files {
		t.Fatalf("killed too late: %d of %d splits finished, manifest written: %v", done, files, err == nil)
	}
	t.Logf("killed with %d of %d splits finished", done, files)

	cmd, stdout, stderr := start(out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, stderr)
	}
	if !regexp.MustCompile(fmt.Sprintf(`resume: %d of %d splits already finished by an earlier run, skipped`, done, files)).Match(stderr.Bytes()) {
		t.Errorf("the rerun's log does not say %d of %d splits were skipped:\n%s", done, files, stderr)
	}
	// The rerun read only the splits that were not finished.
	read := regexp.MustCompile(`(?m)^  splits +([0-9,]+)$`).FindSubmatch(stdout.Bytes())
	if read == nil {
		t.Fatalf("no splits counter in the rerun's summary:\n%s", stdout)
	}
	if n, _ := strconv.Atoi(string(bytes.ReplaceAll(read[1], []byte(","), nil))); n != files-done {
		t.Errorf("the rerun read %d splits, want %d", n, files-done)
	}
	got := treeHashes(t, out)
	for p, h := range want {
		if got[p] != h {
			t.Errorf("%s differs from the clean run after a kill and a rerun", p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s left over after a kill and a rerun", p)
		}
	}
	t.Logf("whole test: %s", time.Since(began).Round(time.Millisecond))
}

// --resume is the default; --overwrite and --resume=false redo everything;
// asking for both is a usage error.
func TestResumeFlags(t *testing.T) {
	base := []string{"--input", "x", "--output", t.TempDir(), "--model", t.TempDir()}
	for _, tc := range []struct {
		args      []string
		overwrite bool
	}{
		{nil, false},
		{[]string{"--resume"}, false},
		{[]string{"--overwrite"}, true},
		{[]string{"--resume=false"}, true},
		{[]string{"--resume=false", "--overwrite"}, true},
	} {
		rf, err := parseRunFlags(append(base, tc.args...), io.Discard)
		if err != nil || rf.opts.Overwrite != tc.overwrite {
			t.Errorf("%v: overwrite %v, %v; want %v", tc.args, rf.opts.Overwrite, err, tc.overwrite)
		}
	}
	if _, err := parseRunFlags(append(base, "--resume", "--overwrite"), io.Discard); err == nil {
		t.Error("--resume --overwrite accepted")
	}
}
