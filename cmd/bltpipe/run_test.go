package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/bltpipe/bltpipe/schemas"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
)

// runCorpus writes a small JSONL + Parquet + text corpus and a small model,
// returning the input dir and model dir.
func runCorpus(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := testcorpus.JSONL(testcorpus.Records("r", 3, 12, 50), "zstd")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "a.jsonl.zst"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := testcorpus.WriteParquet(filepath.Join(dir, "in", "fw.parquet"), testcorpus.Rows(1, 9, 40), 4); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "note.txt"), []byte("a plain text note"), 0o644); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "model")
	if err := testcorpus.WriteSmallModel(model, 5); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "in"), model
}

// treeHashes returns the sha256 of every file under dir by relative path (but the wall-time file, the one that is not reproducible).
func treeHashes(t *testing.T, dir string) map[string]string {
	t.Helper()
	out, err := testcorpus.HashTree(dir, schemas.TimingFile)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := dispatch(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// The same pipeline submitted to a standalone prism job service (started
// here on 127.0.0.1) with --runner universal writes byte-identical output.
func TestRunPrismAndUniversalAgree(t *testing.T) {
	in, model := runCorpus(t)
	common := []string{"run", "--input", in, "--model", model, "--threshold", "5.52", "--blt-arrow", "corpus",
		"--keep-columns", "url", "--batch-tokens", "200", "--progress", "0"}

	outPrism := t.TempDir()
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	block := filepath.Join(t.TempDir(), "block.pprof")
	code, stdout, stderr := runCLI(t, append(common, "--output", outPrism, "--cpuprofile", prof, "--blockprofile", block)...)
	if code != 0 {
		t.Fatalf("prism run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// --cpuprofile and --blockprofile leave profiles (gzipped protobuf).
	for flag, path := range map[string]string{"--cpuprofile": prof, "--blockprofile": block} {
		if f, err := os.Open(path); err != nil {
			t.Errorf("%s: %v", flag, err)
		} else {
			zr, err := gzip.NewReader(f)
			n, _ := io.Copy(io.Discard, zr)
			if err != nil || n == 0 {
				t.Errorf("%s wrote no gzipped profile (%d bytes, %v)", flag, n, err)
			}
			f.Close()
		}
	}
	for _, want := range []string{"documents", "patches", "tokens", "_MANIFEST.json"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := prism.CreateJobServer(ctx, prism.Options{Port: port}); err != nil {
		t.Fatal(err)
	}
	outUniversal := t.TempDir()
	code, stdout, stderr = runCLI(t, append(common, "--output", outUniversal, "--runner", "universal",
		"--endpoint", fmt.Sprintf("127.0.0.1:%d", port), "--", "--environment_type=LOOPBACK")...)
	if code != 0 {
		t.Fatalf("universal run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "on universal") || !strings.Contains(stdout, "documents") {
		t.Errorf("universal summary:\n%s", stdout)
	}
	t.Log(stdout)
	a, b := treeHashes(t, outPrism), treeHashes(t, outUniversal)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("prism wrote %d files, universal %d", len(a), len(b))
	}
	for p, h := range a {
		if b[p] != h {
			t.Errorf("%s differs between prism and universal", p)
		}
	}
}

func TestRunUsageErrors(t *testing.T) {
	in, model := runCorpus(t)
	out := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown runner", []string{"--runner", "spark"}, "unknown runner"},
		{"universal without endpoint", []string{"--runner", "universal"}, "--endpoint"},
		{"bad embeddings", []string{"--embeddings", "token"}, "--embeddings"},
		{"bad patching", []string{"--patching", "words"}, "unknown mode"},
		{"missing model", []string{"--model", filepath.Join(out, "nope")}, "not a directory"},
		{"no input", []string{"--input", ""}, "no input"},
		{"no model, entropy patching", []string{"--model", "none"}, "--model none: entropy patching needs the model"},
		{"no model, embeddings", []string{"--model", "none", "--patching", "byte", "--embeddings", "patch"}, "--model none: patch embeddings"},
		{"no model, waterfill", []string{"--model", "none", "--patching", "byte", "--waterfill", "rank"}, "--model none: --waterfill rank"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"run", "--input", in, "--output", out, "--model", model, "--progress", "0"}
			args = append(args, tc.args...)
			if tc.name == "no input" {
				args = []string{"run", "--output", out, "--model", model}
			}
			code, _, stderr := runCLI(t, args...)
			if code != exitUsage || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tc.want)
			}
		})
	}
}

func TestResolveModelDefault(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := resolveModel(""); err == nil || !strings.Contains(err.Error(), "models/default not found") {
		t.Errorf("no default model: err = %v", err)
	}
	if err := testcorpus.WriteSmallModel(filepath.Join(dir, "models", "default"), 1); err != nil {
		t.Fatal(err)
	}
	got, err := resolveModel("")
	if err != nil || !strings.HasSuffix(got, filepath.Join("models", "default")) {
		t.Errorf("resolveModel = %q, %v", got, err)
	}
}

// bltpipe run --model none cuts documents without a model (no embeddings
// and no water-filling by default), and inspect and report read the run.
func TestRunWithoutModel(t *testing.T) {
	in, _ := runCorpus(t)
	out := t.TempDir()
	code, stdout, stderr := runCLI(t, "run", "--input", in, "--output", out, "--model", "none", "--patching", "static", "--patch-size", "3", "--progress", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "(ok)") {
		t.Errorf("no accounting line in %q", stdout)
	}
	code, stdout, stderr = runCLI(t, "inspect", out)
	if code != 0 || !strings.Contains(stdout, "none (no model pass") || !strings.Contains(stdout, "static, 3 tokens a patch") || strings.Contains(stdout, "entropy per token") {
		t.Errorf("inspect: exit %d, %s%s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, schemas.SphereDir)); !os.IsNotExist(err) {
		t.Errorf("sphere/ without a model: %v", err)
	}
	page := filepath.Join(t.TempDir(), "r.html")
	if code, _, stderr = runCLI(t, "report", out, "--out", page); code != 0 {
		t.Errorf("report: exit %d: %s", code, stderr)
	}
	if code, _, stderr = runCLI(t, "waterfill", "--input", out); code == 0 || !strings.Contains(stderr, "without prominence") {
		t.Errorf("waterfill on a run without a model: exit %d, %s", code, stderr)
	}
}
