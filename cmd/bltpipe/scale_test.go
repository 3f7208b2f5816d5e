package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

// keepBeamFlags restores Beam's standard flag set (which --runner's "--"
// arguments and runners.Prepare write) and the logging setup (which
// --log-level writes) when the test ends, so tests do not leak
// --environment_type, --worker_binary, --async, … into each other.
func keepBeamFlags(t *testing.T) {
	t.Helper()
	saved := map[string]string{}
	flag.CommandLine.VisitAll(func(f *flag.Flag) { saved[f.Name] = f.Value.String() })
	logger, level := slog.Default(), beamlog.LogLevel
	t.Cleanup(func() {
		flag.CommandLine.VisitAll(func(f *flag.Flag) {
			if v, ok := saved[f.Name]; ok && f.Value.String() != v {
				if err := f.Value.Set(v); err != nil {
					t.Errorf("restoring -%s: %v", f.Name, err)
				}
			}
		})
		slog.SetDefault(logger)
		beamlog.LogLevel = level
	})
}

// lockedBuffer collects a subprocess's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// helperCLIEnv makes this test binary, re-executed with
// -test.run=^TestHelperCLIProcess$, run bltpipe with the arguments in the
// variable (space-separated) instead of the tests: a real second bltpipe
// process without a separate build.
const helperCLIEnv = "BLTPIPE_HELPER_CLI_ARGS"

func TestHelperCLIProcess(t *testing.T) {
	args := os.Getenv(helperCLIEnv)
	if args == "" {
		t.Skip("runs only as the bltpipe subprocess of another test")
	}
	os.Exit(dispatch(strings.Fields(args), os.Stdout, os.Stderr))
}

// startWorkerPool runs `bltpipe worker-pool --port 0` as a separate process
// and returns its address and its stderr (a line per worker). The process
// is stopped with SIGTERM at cleanup and must exit 0.
func startWorkerPool(t *testing.T) (string, *lockedBuffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCLIProcess$")
	cmd.Env = append(os.Environ(), helperCLIEnv+"=worker-pool --host 127.0.0.1 --port 0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var addr string
	select {
	case first := <-lines:
		var ok bool
		if addr, ok = strings.CutPrefix(first, "bltpipe worker-pool: listening on "); !ok || !strings.HasPrefix(addr, "127.0.0.1:") {
			cmd.Process.Kill()
			t.Fatalf("worker-pool's first line %q; stderr:\n%s", first, stderr)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("worker-pool printed no address in 60 s; stderr:\n%s", stderr)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() {
			for range lines {
			}
			done <- cmd.Wait()
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker-pool after SIGTERM: %v\n%s", err, stderr)
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("worker-pool did not stop within 30 s of SIGTERM")
		}
	})
	return addr, stderr
}

// --runner flink submits through the portable job service: here a prism
// job server on 127.0.0.1 (Beam's Flink job server speaks the same
// protocol). With LOOPBACK the SDK harness runs in the submitting process;
// with EXTERNAL it runs in a separate `bltpipe worker-pool` process, which
// is how a Flink cluster gets its workers without Docker. Both write the
// same bytes.
func TestRunFlinkLoopbackAndExternalWorkerPool(t *testing.T) {
	keepBeamFlags(t)
	in, model := runCorpus(t)
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := prism.CreateJobServer(ctx, prism.Options{Port: port}); err != nil {
		t.Fatal(err)
	}
	endpoint := fmt.Sprintf("127.0.0.1:%d", port)
	common := []string{"run", "--input", in, "--model", model, "--threshold", "5.52", "--blt-arrow", "corpus",
		"--batch-tokens", "200", "--progress", "0", "--runner", "flink", "--endpoint", endpoint}

	outLoopback := t.TempDir()
	code, stdout, stderr := runCLI(t, append(common, "--output", outLoopback, "--", "--environment_type=LOOPBACK")...)
	if code != 0 || !strings.Contains(stdout, "on flink") {
		t.Fatalf("flink LOOPBACK: exit %d\n%s\n%s", code, stdout, stderr)
	}

	pool, poolLog := startWorkerPool(t)
	outExternal := t.TempDir()
	code, stdout, stderr = runCLI(t, append(common, "--output", outExternal, "--",
		"--environment_type=EXTERNAL", "--environment_config="+pool)...)
	if code != 0 || !strings.Contains(stdout, "on flink") || !strings.Contains(stdout, "documents") {
		t.Fatalf("flink EXTERNAL: exit %d\n%s\n%s\npool:\n%s", code, stdout, stderr, poolLog)
	}
	// Beam stages a worker binary for non-loopback environments; bltpipe
	// names itself rather than letting Beam cross-compile its source.
	self, _ := os.Executable()
	if got := flag.Lookup("worker_binary").Value.String(); got != self {
		t.Errorf("worker binary %q, want this executable %s", got, self)
	}
	// The pool logs a worker's end from its own process, after the job
	// service has reported the job done: wait for the line (it lagged on a
	// loaded 2-core machine).
	ran := func() bool {
		log := poolLog.String()
		return strings.Contains(log, "started (control ") && strings.Contains(log, "finished")
	}
	for deadline := time.Now().Add(30 * time.Second); !ran() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if !ran() {
		t.Errorf("the worker pool process ran no SDK worker:\n%s", poolLog.String())
	}
	a, b := treeHashes(t, outLoopback), treeHashes(t, outExternal)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("LOOPBACK wrote %d files, EXTERNAL %d", len(a), len(b))
	}
	for p, h := range a {
		if b[p] != h {
			t.Errorf("%s differs between LOOPBACK and EXTERNAL", p)
		}
	}
}

func TestWorkerPoolUsage(t *testing.T) {
	for _, args := range [][]string{{"worker-pool", "--port", "70000"}, {"worker-pool", "extra"}, {"worker-pool", "--host", "256.0.0.1", "--port", "0"}} {
		if code, _, stderr := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
}

// Remote-runner flags that cannot work are usage errors before anything
// is built or submitted.
func TestRunRemoteUsageErrors(t *testing.T) {
	keepBeamFlags(t)
	in, model := runCorpus(t)
	out := t.TempDir()
	dataflow := []string{"--runner", "dataflow", "--", "--project=p", "--region=r", "--staging_location=gs://b/s"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"accelerator on flink", []string{"--runner", "flink", "--endpoint", "127.0.0.1:1", "--worker-accelerator", "nvidia-l4:1"}, "is for --runner dataflow"},
		{"accelerator without image", append([]string{"--worker-accelerator", "nvidia-l4:1"}, dataflow...), "--sdk_container_image"},
		{"bad accelerator type", append([]string{"--worker-accelerator", "l4:1"}, append(dataflow, "--sdk_container_image=i")...), "nvidia-l4"},
		{"bad accelerator count", append([]string{"--worker-accelerator", "nvidia-l4:0"}, append(dataflow, "--sdk_container_image=i")...), "≥ 1"},
		{"async loopback", []string{"--runner", "universal", "--endpoint", "127.0.0.1:1", "--", "--environment_type=LOOPBACK", "--async"}, "--async"},
		{"async prism", []string{"--", "--async"}, "--async"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keepBeamFlags(t)
			args := append([]string{"run", "--input", in, "--output", out, "--model", model, "--progress", "0"}, tc.args...)
			code, _, stderr := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tc.want)
			}
		})
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeCredentials writes an application-default-credentials file whose
// token endpoint is tokenURL, and points GOOGLE_APPLICATION_CREDENTIALS at
// it: Google's client libraries then need no real account.
func writeCredentials(t *testing.T, tokenURL string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "adc.json")
	js := fmt.Sprintf(`{"type":"authorized_user","client_id":"bltpipe-test","client_secret":"not-a-secret","refresh_token":"stand-in-refresh","token_uri":%q}`, tokenURL)
	if err := os.WriteFile(p, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", p)
}
