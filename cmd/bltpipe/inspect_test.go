package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bltpipe/bltpipe/pipelines/outputs"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/write"
)

// finishedRun runs bltpipe run (so _TIMING.json is written as users get it)
// over runCorpus and returns the output directory.
func finishedRun(t *testing.T) string {
	t.Helper()
	in, model := runCorpus(t)
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := runCLI(t, "run", "--input", in, "--model", model, "--output", out, "--threshold", "5.5542",
		"--blt-arrow", "corpus", "--batch-tokens", "300", "--progress", "0")
	if code != 0 {
		t.Fatalf("bltpipe run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	return out
}

// writeRejects adds a rejects/ shard with the given stages, one row each.
func writeRejects(t *testing.T, out string, stages ...string) {
	t.Helper()
	sc := arrow.NewSchema([]arrow.Field{{Name: "stage", Type: arrow.BinaryTypes.String}, {Name: "message", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for _, s := range stages {
		b.Field(0).(*array.StringBuilder).Append(s)
		b.Field(1).(*array.StringBuilder).Append("synthetic")
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	if err := os.MkdirAll(filepath.Join(out, "rejects"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(out, "rejects", "part-00000-00000000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := pqarrow.NewFileWriter(sc, f, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestInspect(t *testing.T) {
	out := finishedRun(t)
	var m write.Manifest
	b, err := os.ReadFile(filepath.Join(out, schemas.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var timing write.Timing
	if b, err = os.ReadFile(filepath.Join(out, schemas.TimingFile)); err != nil {
		t.Fatalf("bltpipe run wrote no %s: %v", schemas.TimingFile, err)
	}
	if err := json.Unmarshal(b, &timing); err != nil || timing.WallSeconds <= 0 || timing.Documents != m.Counts.Documents || timing.Tokens != m.Counts.Tokens || timing.TokensPerSec <= 0 {
		t.Errorf("_TIMING.json %+v (%v); manifest counts %+v", timing, err, m.Counts)
	}

	code, stdout, stderr := runCLI(t, "inspect", out)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, stderr)
	}
	t.Log("\n" + stdout)
	for _, want := range []string{
		"documents        " + num(m.Counts.Documents) + " (",
		"patches          " + num(m.Counts.Patches),
		"tokens           " + num(m.Counts.Tokens),
		"threshold 5.5542 nats", "dim 32, 2 layers", "wall time", "tokens/s",
		"no rejects/ table", "entropy per token (nats, " + num(m.Counts.Tokens) + " tokens)", "█", "patch length (tokens):",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("inspect output lacks %q", want)
		}
	}

	// --json agrees with the manifest and with a direct read of documents/.
	writeRejects(t, out, "read", "read", "limits")
	code, stdout, stderr = runCLI(t, "inspect", "--json", out)
	if code != 0 {
		t.Fatalf("inspect --json: exit %d: %s", code, stderr)
	}
	var s outputs.Summary
	if err := json.Unmarshal([]byte(stdout), &s); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	var bytes int64
	r, err := outputs.Open(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Documents(context.Background(), outputs.DocColumns{}, func(d outputs.Document) error { bytes += d.NumBytes; return nil }); err != nil {
		t.Fatal(err)
	}
	if s.Documents != m.Counts.Documents || s.Patches != m.Counts.Patches || s.Tokens != m.Counts.Tokens || s.Bytes != bytes ||
		s.Entropy.N != s.Tokens || s.Timing == nil || s.RejectsByStage["read"] != 2 || s.RejectsByStage["limits"] != 1 {
		t.Errorf("inspect --json: %+v", s)
	}
	if _, stdout, _ = runCLI(t, "inspect", out); !strings.Contains(stdout, "rejects          3 (limits 1, read 2)") {
		t.Errorf("rejects by stage missing:\n%s", stdout)
	}

	code, stdout, _ = runCLI(t, "inspect", out, "--ids")
	ids := strings.Fields(stdout)
	if code != 0 || int64(len(ids)) != m.Counts.Documents || !strings.Contains(stdout, "r-0\n") {
		t.Errorf("--ids: exit %d, %d ids, want %d:\n%s", code, len(ids), m.Counts.Documents, stdout)
	}
}

func TestInspectUsageErrors(t *testing.T) {
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"inspect"}, "output DIR"},
		{[]string{"inspect", empty}, "not a finished bltpipe run"},
		{[]string{"inspect", empty, "--nope"}, "flag provided but not defined"},
		{[]string{"plot", empty, "--doc", "x"}, "not a finished bltpipe run"},
		{[]string{"report", empty}, "not a finished bltpipe run"},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
}
