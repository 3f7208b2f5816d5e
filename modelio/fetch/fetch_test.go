package fetch

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bltpipe/bltpipe/internal/hfhub/hubtest"
	"github.com/bltpipe/bltpipe/modelio"
	"github.com/bltpipe/bltpipe/transforms/testcorpus"
	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// smallModel writes the tests' tiny model and returns its directory and
// the sha256 modelio.LoadModel gives its weights.
func smallModel(t *testing.T, seed uint64) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "model")
	if err := testcorpus.WriteSmallModel(dir, seed); err != nil {
		t.Fatal(err)
	}
	w, err := modelio.LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, w.SHA256
}

func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// forget drops this process's memory of fetched models (a new worker
// process starts with none).
func forget() {
	mu.Lock()
	defer mu.Unlock()
	done = map[string]string{}
}

func hubEnv(t *testing.T) *hubtest.Hub {
	h := hubtest.New(t)
	t.Setenv("HF_ENDPOINT", h.URL)
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_HUB_CACHE", filepath.Join(t.TempDir(), "hub"))
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	return h
}

func TestLocalDirectoryAsIs(t *testing.T) {
	for _, d := range []string{"models/default", "/abs/dir", "relative"} {
		if got, err := Local(context.Background(), d); err != nil || got != d {
			t.Errorf("Local(%q) = %q, %v", d, got, err)
		}
	}
}

// hf://ORG/NAME is fetched into the Hugging Face cache once per process
// (files the model does not need stay behind), verified, and loads the
// same weights as the local directory it was made from.
func TestHFModel(t *testing.T) {
	h := hubEnv(t)
	ctx := context.Background()
	dir, want := smallModel(t, 11)
	files := readDir(t, dir)
	files["README.md"] = []byte("# tiny BLT entropy model\n")
	files["checkpoints/step100.safetensors"] = bytes.Repeat([]byte{1}, 100)
	files["optimizer.bin"] = bytes.Repeat([]byte{2}, 2<<20)
	commit := h.Put("model", "org/tiny-blt", "main", files)

	local, err := Local(ctx, "hf://org/tiny-blt")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(local, filepath.Join("models--org--tiny-blt", "snapshots", commit)) {
		t.Errorf("local dir %s is not the snapshot of %s", local, commit)
	}
	w, err := modelio.LoadModel(local)
	if err != nil {
		t.Fatal(err)
	}
	if w.SHA256 != want {
		t.Errorf("weights sha256 %s, want %s", w.SHA256, want)
	}
	for _, name := range []string{"optimizer.bin", "checkpoints/step100.safetensors"} {
		if h.Downloads(name) != 0 {
			t.Errorf("%s was downloaded", name)
		}
	}
	if _, err := os.Stat(filepath.Join(local, "README.md")); err != nil {
		t.Errorf("small file not fetched along: %v", err)
	}
	// Once per process: no request at all the second time.
	n := len(h.Requests())
	for range 3 {
		if again, err := Local(ctx, "hf://org/tiny-blt"); err != nil || again != local {
			t.Fatalf("second fetch: %s, %v", again, err)
		}
	}
	if len(h.Requests()) != n {
		t.Errorf("%d requests for an already fetched model", len(h.Requests())-n)
	}
	// A new process finds it in the cache: a listing, no transfer.
	forget()
	if again, err := Local(ctx, "hf://org/tiny-blt@main"); err != nil || again != local {
		t.Fatalf("fetch from cache: %s, %v", again, err)
	}
	if n := h.Downloads(modelio.WeightsFile); n != 1 {
		t.Errorf("model.safetensors transferred %d times, want 1", n)
	}
}

func TestHFModelErrors(t *testing.T) {
	h := hubEnv(t)
	ctx := context.Background()
	dir, _ := smallModel(t, 12)
	files := readDir(t, dir)
	h.Put("model", "org/corrupt", "main", files)
	h.Corrupt(modelio.WeightsFile)
	_, err := Local(ctx, "hf://org/corrupt")
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") || !strings.Contains(err.Error(), "hf://org/corrupt") {
		t.Errorf("corrupt weights: %v", err)
	}
	h.Put("model", "org/notamodel", "main", map[string][]byte{"README.md": []byte("hi")})
	if _, err := Local(ctx, "hf://org/notamodel"); err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Errorf("repository without weights: %v", err)
	}
	delete(files, modelio.ConfigFile)
	h.Put("model", "org/noconfig", "main", files)
	if _, err := Local(ctx, "hf://org/noconfig"); err == nil || !strings.Contains(err.Error(), "no config.json or params.json") {
		t.Errorf("repository without config: %v", err)
	}
	if _, err := Local(ctx, "hf://org/missing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing repository: %v", err)
	}
	h.Token = "hf_tok"
	if _, err := Local(ctx, "hf://org/private"); err == nil || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("private repository without a token: %v", err)
	}
}

// gs://BUCKET/DIR is fetched once, checked against GCS's CRC32C, and a
// replaced object makes a new cache directory.
func TestGCSModel(t *testing.T) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{Scheme: "http", Host: "127.0.0.1", PublicHost: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(srv.URL(), "http://"))
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: "models"})
	ctx := context.Background()
	dir, want := smallModel(t, 13)
	put := func(prefix string, files map[string][]byte) {
		for name, b := range files {
			srv.CreateObject(fakestorage.Object{ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "models", Name: prefix + name}, Content: b})
		}
	}
	files := readDir(t, dir)
	put("tiny/", files)
	put("tiny/", map[string][]byte{"runs/log.txt": []byte("not fetched")})

	local, err := Local(ctx, "gs://models/tiny")
	if err != nil {
		t.Fatal(err)
	}
	w, err := modelio.LoadModel(local)
	if err != nil {
		t.Fatal(err)
	}
	if w.SHA256 != want {
		t.Errorf("weights sha256 %s, want %s", w.SHA256, want)
	}
	if _, err := os.Stat(filepath.Join(local, "runs")); err == nil {
		t.Error("a subdirectory was fetched")
	}
	st1, _ := os.Stat(filepath.Join(local, modelio.WeightsFile))
	// A new process, objects unchanged: the files on disk are reused.
	forget()
	again, err := Local(ctx, "gs://models/tiny")
	if err != nil || again != local {
		t.Fatalf("unchanged objects: %s, %v; want %s", again, err, local)
	}
	st2, _ := os.Stat(filepath.Join(again, modelio.WeightsFile))
	if !os.SameFile(st1, st2) {
		t.Error("unchanged model downloaded again")
	}
	// The same process remembers it: no request (the weights could even be gone).
	if err := srv.Client().Bucket("models").Object("tiny/" + modelio.WeightsFile).Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if again, err := Local(ctx, "gs://models/tiny"); err != nil || again != local {
		t.Fatalf("remembered fetch: %s, %v", again, err)
	}

	// Replaced weights (a new generation) land in a new directory.
	dir2, want2 := smallModel(t, 14)
	put("tiny/", map[string][]byte{modelio.WeightsFile: readDir(t, dir2)[modelio.WeightsFile]})
	forget()
	fourth, err := Local(ctx, "gs://models/tiny")
	if err != nil {
		t.Fatal(err)
	}
	if fourth == local {
		t.Error("replaced weights reused the old directory")
	}
	if w, err := modelio.LoadModel(fourth); err != nil || w.SHA256 != want2 {
		t.Errorf("replaced weights: %v, %v", w, err)
	}

	// Bytes that do not match GCS's checksum are refused: a proxy in front
	// of the fake server flips a byte of the weights (and drops the
	// X-Goog-Hash header, so only the listing's CRC32C can tell).
	put("bad/", files)
	target, _ := url.Parse(srv.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	flipped := 0
	proxy.ModifyResponse = func(r *http.Response) error {
		if strings.HasPrefix(r.Request.URL.Path, "/storage/v1/") || !strings.HasSuffix(r.Request.URL.Path, "bad/"+modelio.WeightsFile) {
			return nil
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body.Close()
		b[len(b)/2] ^= 1
		flipped++
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.Header.Del("X-Goog-Hash")
		return nil
	}
	ps := httptest.NewServer(proxy)
	defer ps.Close()
	t.Setenv("STORAGE_EMULATOR_HOST", strings.TrimPrefix(ps.URL, "http://"))
	_, err = Local(ctx, "gs://models/bad")
	if err == nil || !strings.Contains(err.Error(), "CRC32C") || !strings.Contains(err.Error(), "not used") {
		t.Errorf("bad bytes: %v", err)
	}
	if flipped == 0 {
		t.Error("the proxy saw no download of the weights")
	}
	if ents, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "bltpipe", "models", "*", modelio.WeightsFile)); len(ents) != 2 {
		t.Errorf("weights files in the cache: %v; the bad download must not be among them", ents)
	}
	if _, err := Local(ctx, "gs://models/none"); err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Errorf("empty directory: %v", err)
	}
}
