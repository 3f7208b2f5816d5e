package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bltpipe/bltpipe/internal/hfhub/hubtest"
	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/pipelines/outputs"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// hubCorpus writes a small FineWeb-like corpus (two multi-row-group Parquet
// files, a zstd JSONL and a plain JSONL file) and a small model; it returns
// the corpus root and the model directory.
func hubCorpus(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "corpus")
	for i, seed := range []uint64{21, 22} {
		p := filepath.Join(root, "sample", "10BT", []string{"000_00000.parquet", "001_00000.parquet"}[i])
		if err := testcorpus.WriteParquet(p, testcorpus.Rows(seed, 9, 60), 3); err != nil {
			t.Fatal(err)
		}
	}
	zst, err := testcorpus.JSONL(testcorpus.Records("z", 23, 4, 50), "zstd")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := testcorpus.JSONL(testcorpus.Records("p", 24, 3, 40), "")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "extra"), 0o755)
	os.WriteFile(filepath.Join(root, "extra", "a.jsonl.zst"), zst, 0o644)
	os.WriteFile(filepath.Join(root, "extra", "b.jsonl"), plain, 0o644)
	os.WriteFile(filepath.Join(root, "README.md"), []byte("# dataset card\n"), 0o644)
	model := filepath.Join(dir, "model")
	if err := testcorpus.WriteSmallModel(model, 25); err != nil {
		t.Fatal(err)
	}
	return root, model
}

// hubEnv points the Hugging Face configuration at a fresh stand-in and
// empty cache, without a token.
func hubEnv(t *testing.T) (*hubtest.Hub, string) {
	t.Helper()
	h := hubtest.New(t)
	cache := filepath.Join(t.TempDir(), "hub")
	t.Setenv("HF_ENDPOINT", h.URL)
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_CACHE", cache)
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	return h, cache
}

// docsBySource reads a run's documents, keyed by source path relative to
// prefix and doc_id (the only columns that name where inputs were).
func docsBySource(t *testing.T, out, prefix string) map[string]outputs.Document {
	t.Helper()
	r, err := outputs.Open(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]outputs.Document{}
	err = r.Documents(context.Background(), outputs.DocColumns{Entropies: true, Prominence: true}, func(d outputs.Document) error {
		rel, ok := strings.CutPrefix(d.Source, prefix)
		if !ok {
			t.Errorf("source %q is not under %s", d.Source, prefix)
		}
		d.Source = strings.TrimPrefix(filepath.ToSlash(rel), "/")
		docs[d.Source+"#"+d.ID] = d
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func patchCount(t *testing.T, out string) int {
	t.Helper()
	r, err := outputs.Open(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := r.Patches(context.Background(), func(outputs.Patch) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func sameDocs(t *testing.T, what string, got, want map[string]outputs.Document) {
	t.Helper()
	if len(got) != len(want) || len(want) == 0 {
		t.Errorf("%s: %d documents, local run %d", what, len(got), len(want))
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no document %s", what, k)
			continue
		}
		if !reflect.DeepEqual(g, want[k]) {
			t.Errorf("%s: document %s differs from the local run", what, k)
		}
	}
}

func manifestModel(t *testing.T, out string) (string, string) {
	t.Helper()
	r, err := outputs.Open(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	return r.Manifest.Run.Model.Dir, r.Manifest.Run.Model.WeightsSHA256
}

// bltpipe run reads hf://datasets/… inputs (Parquet by row group, JSONL
// whole and by byte range) and an hf:// model through the Hub stand-in,
// and writes the same documents as a run over the same local files; the
// files land once in a huggingface_hub-layout cache; the manifest records
// the model URI with the local model's weights sha256.
func TestRunHuggingFaceInputsAndModel(t *testing.T) {
	root, model := hubCorpus(t)
	h, cache := hubEnv(t)
	commit := h.PutDir(t, "dataset", "org/fineweb-mini", "main", root)
	modelCommit := h.PutDir(t, "model", "org/tiny-blt", "main", model)
	common := []string{"run", "--threshold", "5.52", "--batch-tokens", "300", "--progress", "0", "--jsonl-split-mb", "1"}

	localOut := t.TempDir()
	code, stdout, stderr := runCLI(t, append(common, "--output", localOut, "--model", model,
		"--input", filepath.Join(root, "sample", "10BT", "*.parquet")+","+filepath.Join(root, "extra", "*"))...)
	if code != 0 {
		t.Fatalf("local run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	hfOut := t.TempDir()
	code, stdout, stderr = runCLI(t, append(common, "--output", hfOut, "--model", "hf://org/tiny-blt",
		"--input", "hf://datasets/org/fineweb-mini/sample/10BT/*.parquet,hf://datasets/org/fineweb-mini/extra/*")...)
	if code != 0 {
		t.Fatalf("hf run: exit %d\n%s\n%s", code, stdout, stderr)
	}

	sameDocs(t, "hf run", docsBySource(t, hfOut, "hf://datasets/org/fineweb-mini@"+commit+"/"), docsBySource(t, localOut, root))
	if a, b := patchCount(t, hfOut), patchCount(t, localOut); a != b || a == 0 {
		t.Errorf("hf run wrote %d patches, local run %d", a, b)
	}
	dir, sum := manifestModel(t, hfOut)
	_, localSum := manifestModel(t, localOut)
	if dir != "hf://org/tiny-blt" || sum != localSum {
		t.Errorf("manifest model %s %s, want hf://org/tiny-blt %s", dir, sum, localSum)
	}

	// Each file travelled once, though the launcher planned and workers
	// read several splits of it; the model once for launcher and workers.
	for _, f := range []string{"000_00000.parquet", "001_00000.parquet", "a.jsonl.zst", "b.jsonl", modelio.WeightsFile} {
		if n := h.Downloads(f); n != 1 {
			t.Errorf("%s transferred %d times, want 1", f, n)
		}
	}
	if n := h.Downloads("README.md"); n != 0 {
		t.Errorf("README.md (not an input) transferred %d times", n)
	}
	// huggingface_hub's layout: refs, blobs by hash, relative snapshot links.
	ds := filepath.Join(cache, "datasets--org--fineweb-mini")
	if b, err := os.ReadFile(filepath.Join(ds, "refs", "main")); err != nil || string(b) != commit {
		t.Errorf("refs/main = %q, %v; want %s", b, err, commit)
	}
	pq, _ := os.ReadFile(filepath.Join(root, "sample", "10BT", "000_00000.parquet"))
	link, err := os.Readlink(filepath.Join(ds, "snapshots", commit, "sample", "10BT", "000_00000.parquet"))
	if err != nil || link != "../../../../blobs/"+sha256hex(pq) {
		t.Errorf("snapshot link %q, %v", link, err)
	}
	md := filepath.Join(cache, "models--org--tiny-blt")
	if b, err := os.ReadFile(filepath.Join(md, "refs", "main")); err != nil || string(b) != modelCommit {
		t.Errorf("model refs/main = %q, %v", b, err)
	}
	w, _ := os.ReadFile(filepath.Join(model, modelio.WeightsFile))
	if _, err := os.Stat(filepath.Join(md, "blobs", sha256hex(w))); err != nil {
		t.Errorf("model blob: %v", err)
	}

	// bltpipe model info and score take the hf:// model as well, from the cache.
	code, stdout, stderr = runCLI(t, "model", "info", "--model", "hf://org/tiny-blt", "--json")
	if code != 0 || !strings.Contains(stdout, localSum) || !strings.Contains(stdout, `"model":"hf://org/tiny-blt"`) {
		t.Errorf("model info: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI(t, "score", "--model", "hf://org/tiny-blt", "--text", "hello hub", "--json")
	if code != 0 || !strings.Contains(stdout, "entropies") {
		t.Errorf("score: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if n := h.Downloads(modelio.WeightsFile); n != 1 {
		t.Errorf("model.safetensors transferred %d times after info and score, want 1", n)
	}
}

// Private data without HF_TOKEN and a model that is not there fail with
// errors that say what to do; a remote model cannot be calibrated in place.
func TestRunHuggingFaceErrors(t *testing.T) {
	root, model := hubCorpus(t)
	h, _ := hubEnv(t)
	h.PutDir(t, "dataset", "org/private", "main", root)
	h.PutDir(t, "model", "org/tiny-blt", "main", model)
	out := t.TempDir()

	code, _, stderr := runCLI(t, "run", "--input", "hf://datasets/org/private/sample/10BT/*.parquet", "--output", out, "--model", model, "--progress", "0")
	if code != 0 {
		t.Fatalf("public dataset: exit %d: %s", code, stderr)
	}
	h.Token = "hf_test_token"
	code, _, stderr = runCLI(t, "run", "--input", "hf://datasets/org/private/extra/*", "--output", t.TempDir(), "--model", model, "--progress", "0")
	if code == 0 || !strings.Contains(stderr, "HF_TOKEN") || !strings.Contains(stderr, "401") {
		t.Errorf("private dataset without a token: exit %d: %s", code, stderr)
	}
	t.Setenv("HF_TOKEN", h.Token)
	code, _, stderr = runCLI(t, "run", "--input", "hf://datasets/org/private/extra/*", "--output", t.TempDir(), "--model", model, "--progress", "0")
	if code != 0 {
		t.Errorf("private dataset with HF_TOKEN: exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, h.Token) {
		t.Error("the token was printed")
	}

	code, _, stderr = runCLI(t, "run", "--input", filepath.Join(root, "extra", "b.jsonl"), "--output", t.TempDir(), "--model", "hf://org/no-such-model", "--progress", "0")
	if code != exitUsage || !strings.Contains(stderr, "hf://org/no-such-model") || !strings.Contains(stderr, "404") {
		t.Errorf("missing model: exit %d: %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "calibrate", "--model", "hf://org/tiny-blt", "--input", filepath.Join(root, "extra", "b.jsonl"), "--write")
	if code != exitUsage || !strings.Contains(stderr, "remote") {
		t.Errorf("calibrate --write on a remote model: exit %d: %s", code, stderr)
	}
}

// --model gs://BUCKET/DIR (fake GCS on 127.0.0.1) gives the run the local
// model's weights, fetched once, and the manifest the gs:// URI.
func TestRunGCSModel(t *testing.T) {
	root, model := hubCorpus(t)
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "models"})
	for _, name := range []string{modelio.ConfigFile, modelio.WeightsFile} {
		b, err := os.ReadFile(filepath.Join(model, name))
		if err != nil {
			t.Fatal(err)
		}
		srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "models", Name: "blt/tiny/" + name}, Content: b})
	}
	// Count object downloads through a proxy in front of the fake server.
	target, _ := url.Parse(srv.URL())
	var weightReads atomic.Int64
	proxy := httputil.NewSingleHostReverseProxy(target)
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/storage/v1/") && strings.HasSuffix(r.URL.Path, modelio.WeightsFile) {
			weightReads.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	defer ps.Close()
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(ps.URL, "http://"))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())

	input := filepath.Join(root, "sample", "10BT", "000_00000.parquet")
	common := []string{"run", "--input", input, "--threshold", "5.52", "--progress", "0"}
	localOut, gsOut := t.TempDir(), t.TempDir()
	if code, stdout, stderr := runCLI(t, append(common, "--output", localOut, "--model", model)...); code != 0 {
		t.Fatalf("local run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if code, stdout, stderr := runCLI(t, append(common, "--output", gsOut, "--model", "gs://models/blt/tiny")...); code != 0 {
		t.Fatalf("gs model run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	sameDocs(t, "gs model run", docsBySource(t, gsOut, root), docsBySource(t, localOut, root))
	dir, sum := manifestModel(t, gsOut)
	_, localSum := manifestModel(t, localOut)
	if dir != "gs://models/blt/tiny" || sum != localSum {
		t.Errorf("manifest model %s %s, want gs://models/blt/tiny %s", dir, sum, localSum)
	}
	if n := weightReads.Load(); n != 1 {
		t.Errorf("model.safetensors read from GCS %d times, want 1", n)
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
