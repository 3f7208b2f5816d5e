package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

// A `bltpipe run` killed (SIGKILL) at any moment leaves only complete files
// under their final names — readable Parquet, SQLite and Arrow files, a
// valid manifest or none — and a rerun into the same directory gives the
// bytes of a clean run.
func TestKilledRunLeavesNoPartialFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bltpipe and runs it a dozen times")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bltpipe")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	in := filepath.Join(dir, "in")
	for i := 0; i < 6; i++ {
		b, err := testcorpus.JSONL(testcorpus.Records(fmt.Sprintf("k%d", i), uint64(i), 40, 300), "")
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(in, 0o755)
		os.WriteFile(filepath.Join(in, fmt.Sprintf("part-%d.jsonl", i)), b, 0o644)
	}
	os.WriteFile(filepath.Join(in, "bad.jsonl"), []byte("not json\n{\"text\":\"ok\",\"id\":\"x\"}\n"), 0o644)
	model := filepath.Join(dir, "model")
	if err := testcorpus.WriteSmallModel(model, 5); err != nil {
		t.Fatal(err)
	}
	args := func(out string) []string {
		return []string{"run", "--input", in, "--output", out, "--model", model, "--jsonl-split-mb", "1",
			"--patching", "static", "--blt-arrow", "k", "--batch-tokens", "2048", "--progress", "0", "--max-rejects", "5"}
	}
	run := func(out string, kill time.Duration) (time.Duration, bool) {
		cmd := exec.Command(bin, args(out)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		if kill > 0 {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("run failed before the kill: %v\n%s", err, stderr.String())
				}
				return time.Since(start), false
			case <-time.After(kill):
				cmd.Process.Signal(syscall.SIGKILL)
				<-done
				return time.Since(start), true
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
		return time.Since(start), false
	}

	clean := filepath.Join(dir, "clean")
	took, _ := run(clean, 0)
	want := treeHashes(t, clean)
	t.Logf("clean run: %s, %d files", took.Round(time.Millisecond), len(want))

	out := filepath.Join(dir, "killed")
	partial := 0 // kills that left some shards but no manifest
	for i := 1; i <= 9; i++ {
		at := took * time.Duration(i) / 10
		if _, killed := run(out, at); !killed {
			continue
		}
		st := checkVisible(t, out)
		if st.shards > 0 && !st.manifest {
			partial++
		}
		t.Logf("killed at %s: %d shards visible, manifest %v", at.Round(time.Millisecond), st.shards, st.manifest)
	}
	if partial == 0 {
		t.Errorf("no kill landed between the first shard and the manifest; the test exercised nothing")
	}
	run(out, 0)
	got := treeHashes(t, out)
	for p, h := range want {
		if got[p] != h {
			t.Errorf("%s differs from the clean run after kills and a rerun", p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s left over after kills and a rerun", p)
		}
	}
}

type visible struct {
	shards   int
	manifest bool
}

// checkVisible opens every file under its final name (hidden temporaries
// are skipped) and checks it is complete.
func checkVisible(t *testing.T, out string) visible {
	t.Helper()
	var v visible
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(p, schemas.ParquetExt):
			v.shards++
			pr, err := file.NewParquetReader(bytes.NewReader(b))
			if err != nil {
				t.Errorf("%s: unreadable Parquet: %v", p, err)
				return nil
			}
			fr, err := pqarrow.NewFileReader(pr, pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
			if err == nil {
				var tbl interface{ Release() }
				tbl, err = fr.ReadTable(context.Background())
				if err == nil {
					tbl.Release()
				}
			}
			if err != nil {
				t.Errorf("%s: unreadable Parquet: %v", p, err)
			}
		case strings.HasSuffix(p, schemas.HypergraphExt):
			if !bytes.HasPrefix(b, []byte("SQLite format 3\x00")) {
				t.Errorf("%s: not a complete SQLite file (%d bytes)", p, len(b))
			}
		case strings.HasSuffix(p, ".arrow"):
			if !bytes.HasPrefix(b, []byte("ARROW1")) || !bytes.HasSuffix(b, []byte("ARROW1")) {
				t.Errorf("%s: not a complete Arrow IPC file (%d bytes)", p, len(b))
			}
		case strings.HasSuffix(p, ".json"):
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Errorf("%s: invalid JSON: %v", p, err)
			}
			if filepath.Base(p) == schemas.ManifestFile {
				v.manifest = true
			}
		}
		return nil
	})
	return v
}
