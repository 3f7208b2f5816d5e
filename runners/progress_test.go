package runners

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bltpipe/bltpipe/transforms/progress"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Not a terminal: periodic log lines with the run's own counts, no bar, no
// carriage returns.
func TestProgressLinesWhenNotATerminal(t *testing.T) {
	progress.Bytes.Add(5000) // an earlier run in this process
	var log syncBuffer
	stop := startProgress(Config{Log: &log, ProgressEvery: 20 * time.Millisecond})
	progress.Bytes.Add(3000)
	progress.Tokens.Add(3000)
	progress.Documents.Add(7)
	time.Sleep(120 * time.Millisecond)
	stop()
	out := log.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || strings.ContainsAny(out, "\r█") {
		t.Fatalf("want several plain lines, got %q", out)
	}
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "bltpipe: [") || !strings.Contains(last, "read 7 docs (2.9 KiB)") || !strings.Contains(last, "tokens/s") {
		t.Errorf("progress line %q", last)
	}
	if n := len(strings.Split(strings.TrimSpace(log.String()), "\n")); n != len(lines) {
		t.Errorf("lines after stop: %d, then %d", len(lines), n)
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) || isTerminal(&bytes.Buffer{}) {
		t.Error("a file or a buffer taken for a terminal")
	}
}
